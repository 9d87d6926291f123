"""Discovery: what the provider says now against what the store knew, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.scanning.fleetkit import ACCOUNT, OTHER, T0, FakeClock, instance, volume, write_fleet

from vigil.fleet import discovery
from vigil.fleet.instances import get_instance, instances_of
from vigil.fleet.model import InstanceState
from vigil.fleet.providers import ProviderError
from vigil.fleet.providers.local import LocalProvider
from vigil.store.engine import session_factory
from vigil.store.fleet import KmsKeyRow

WEB, VPN, DB = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"


@pytest.fixture
def sessions(fleet_engine):
    return session_factory(fleet_engine)


def _fleet(fleet_dir, *instances, keys=()):
    return write_fleet(fleet_dir / "fleet.yaml", list(instances), kms_keys=list(keys))


def _web(**options):
    return instance(WEB, [volume("images/web.qcow2", "vol-01")], **options)


def _vpn(**options):
    return instance(VPN, [volume("images/vpn.qcow2", "vol-02")], **options)


def test_attaching_discovers_every_instance_as_new(sessions, fleet_dir):
    path = _fleet(fleet_dir, _web(), _vpn(state="stopped"), keys=[{"keyId": "key-1", "usable": False}])
    report = discovery.attach(sessions, ACCOUNT, LocalProvider(path), T0)
    assert report.new == (WEB, VPN) and report.vanished == () and report.error is None
    with sessions() as session:
        stored = list(instances_of(session, [ACCOUNT]))
        key = session.scalars(select(KmsKeyRow)).one()
    assert [r.instance.instance_id for r in stored] == [WEB, VPN]
    assert stored[1].instance.state is InstanceState.STOPPED and stored[0].first_seen_at == T0
    assert (key.key_id, key.usable) == ("key-1", False)
    (attached,) = discovery.providers(sessions, [ACCOUNT])
    assert attached.config == {"path": str(path)} and attached.discovered_at == T0


def test_each_kind_of_change_is_noticed_at_the_next_discovery(sessions, fleet_dir):
    clock = FakeClock()
    db = instance(DB, [volume("images/web.qcow2", "vol-03")])
    path = _fleet(fleet_dir, _web(), _vpn(), db)
    discovery.attach(sessions, ACCOUNT, LocalProvider(path), clock())
    _fleet(
        fleet_dir,
        _web(tags={"Name": "web-01"}),
        _vpn(state="stopped"),
        instance("i-0a1b2c3d4e5f60004", [volume("images/vpn.qcow2", "vol-04")]),
    )
    report = discovery.discover(sessions, ACCOUNT, "local", clock.advance(hours=1))
    assert (report.new, report.changed, report.stopped, report.vanished) == (
        ("i-0a1b2c3d4e5f60004",), (WEB,), (VPN,), (DB,),
    )  # fmt: skip
    with sessions() as session:
        web, vpn, gone = (get_instance(session, ACCOUNT, i) for i in (WEB, VPN, DB))
    assert web.instance.tags == {"Name": "web-01"} and web.changed_at == clock.now and web.first_seen_at == T0
    assert vpn.instance.state is InstanceState.STOPPED
    assert (
        gone.vanished and gone.instance.state is InstanceState.TERMINATED and gone.terminated_at == clock.now
    )
    _fleet(fleet_dir, _web(tags={"Name": "web-01"}), _vpn(state="terminated"), db)
    report = discovery.discover(sessions, ACCOUNT, "local", clock.advance(hours=1))
    assert (report.terminated, report.changed, report.vanished, report.unchanged) == (
        (VPN,), (DB,), ("i-0a1b2c3d4e5f60004",), 1,
    )  # fmt: skip
    with sessions() as session:
        back = get_instance(session, ACCOUNT, DB)
    assert not back.vanished and back.instance.state is InstanceState.RUNNING and back.terminated_at is None


def test_a_fleet_file_that_breaks_changes_nothing_and_says_why(sessions, fleet_dir):
    path = _fleet(fleet_dir, _web(), _vpn())
    discovery.attach(sessions, ACCOUNT, LocalProvider(path), T0)
    path.write_text("instances: [")
    report = discovery.discover(sessions, ACCOUNT, "local", T0)
    assert "not valid YAML" in report.error and report.vanished == ()
    (attached,) = discovery.providers(sessions, [ACCOUNT])
    assert "not valid YAML" in attached.error
    with sessions() as session:
        assert not any(r.vanished for r in instances_of(session, [ACCOUNT]))
    _fleet(fleet_dir, _web(), _vpn())
    assert discovery.discover(sessions, ACCOUNT, "local", T0).error is None
    assert discovery.providers(sessions, [ACCOUNT])[0].error is None


def test_an_unusable_fleet_file_is_refused_at_attachment_and_the_previous_one_stays(sessions, fleet_dir):
    path = _fleet(fleet_dir, _web())
    discovery.attach(sessions, ACCOUNT, LocalProvider(path), T0)
    broken = fleet_dir / "broken.yaml"
    broken.write_text("instances: [{instanceId: nope}]")
    with pytest.raises(ProviderError, match="instanceId"):
        discovery.attach(sessions, ACCOUNT, LocalProvider(broken), T0)
    assert discovery.providers(sessions, [ACCOUNT])[0].config == {"path": str(path)}


def test_accounts_are_apart_and_detaching_makes_the_instances_vanish(sessions, fleet_dir):
    path = _fleet(fleet_dir, _web())
    discovery.attach(sessions, ACCOUNT, LocalProvider(path), T0)
    discovery.attach(sessions, OTHER, LocalProvider(path), T0)
    report = discovery.detach(sessions, ACCOUNT, "local", T0)
    assert report.vanished == (WEB,)
    with sessions() as session:
        assert get_instance(session, ACCOUNT, WEB).vanished
        assert not get_instance(session, OTHER, WEB).vanished
    assert [p.account_id for p in discovery.providers(sessions)] == [OTHER]
    with pytest.raises(LookupError):
        discovery.detach(sessions, ACCOUNT, "local", T0)
    with pytest.raises(LookupError):
        discovery.discover(sessions, ACCOUNT, "local", T0)
