"""Continuous re-evaluation: a new advisory database version re-evaluates only the stored inventories that
hold a changed package, within 30 s, whoever wrote the version (the server, or `vigil db import`)."""

from __future__ import annotations

import dataclasses

from tests.scanning.fleetkit import (
    ACCOUNT,
    CURL_ADVISORY,
    DSA_LIST,
    OTHER,
    add_curl_fix,
    attach,
    coverage_of,
    instance,
    volume,
    write_fleet,
)
from tests.support.cli import vigil

from vigil.findings import evaluate
from vigil.fleet.instances import get_instance
from vigil.scanning.reevaluation import evaluate_instances

WEB, VPN, TWIN = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"
CURL_CVE = "CVE-2023-23916"


def _scanned(world, fleet_dir, *more):
    attach(world, write_fleet(fleet_dir / "fleet.yaml", [
        instance(WEB, [volume("images/web.qcow2", "vol-01")]),
        instance(VPN, [volume("images/vpn.qcow2", "vol-02")]),
        *more,
    ]))  # fmt: skip
    world.scheduler.tick()
    assert world.findings.evaluated() == [WEB, VPN, *(m["instanceId"] for m in more)]
    world.findings.evaluations.clear()


def _last_scanned(world, instance_id):
    with world.services.sessions() as session:
        return get_instance(session, ACCOUNT, instance_id).last_scanned_at


def test_a_new_version_reevaluates_only_the_inventories_holding_a_changed_package_within_30_s(
    world, fleet_dir
):
    _scanned(world, fleet_dir)
    assert CURL_CVE not in {f.vulnerability_id for f in evaluate(
        world.services.inventories.get(next(iter(world.services.inventories.stored()))), world.advisories,
        now=world.clock.now).findings}  # fmt: skip
    scanned_at = world.clock.now
    world.clock.advance(seconds=1)
    add_curl_fix(world.advisories, world.listing)
    world.clock.advance(seconds=28)
    assert "reevaluate" not in world.scheduler.tick()
    world.clock.advance(seconds=1)
    assert "reevaluate" in world.scheduler.tick()
    assert world.findings.evaluated() == [WEB]
    assert world.findings.vulnerabilities(WEB) == {CURL_CVE}
    assert _last_scanned(world, WEB) == world.clock.now and _last_scanned(world, VPN) == scanned_at
    assert coverage_of(world, WEB) == ("ACTIVE", "SUCCESSFUL")
    world.clock.advance(seconds=30)
    assert "reevaluate" not in world.scheduler.tick() and world.findings.evaluated() == [WEB]


def test_a_version_that_vigil_db_import_wrote_is_noticed(world, fleet_dir, tmp_path):
    _scanned(world, fleet_dir)
    text = DSA_LIST.read_text()
    start = text.index(CURL_ADVISORY)
    only_curl = tmp_path / "dsa-5365" / "DSA-list"
    only_curl.parent.mkdir()
    only_curl.write_text(text[start : text.index("\n[", start) + 1])
    vigil("db", "import", str(only_curl), "--db", str(world.advisories.path))
    world.clock.advance(seconds=30)
    assert "reevaluate" in world.scheduler.tick()
    assert CURL_CVE in world.findings.vulnerabilities(WEB) and VPN not in world.findings.evaluated()


def test_instances_that_are_stopped_excluded_or_of_a_disabled_account_are_not_reevaluated(world, fleet_dir):
    _scanned(world, fleet_dir, instance(TWIN, [volume("images/web.qcow2", "vol-03")]))
    attach(world, write_fleet(fleet_dir / "fleet.yaml", [
        instance(WEB, [volume("images/web.qcow2", "vol-01")], state="stopped"),
        instance(TWIN, [volume("images/web.qcow2", "vol-03")], tags={"InspectorEc2Exclusion": ""}),
    ]))  # fmt: skip
    scanned_at = {i: _last_scanned(world, i) for i in (WEB, TWIN)}
    add_curl_fix(world.advisories, world.listing)
    world.clock.advance(seconds=30)
    world.scheduler.tick()
    assert world.findings.evaluated() == []
    assert {i: _last_scanned(world, i) for i in (WEB, TWIN)} == scanned_at  # passed over: not scanned now


def test_one_match_gives_each_instance_the_findings_evaluate_gives_it_alone(world, fleet_dir):
    _scanned(world, fleet_dir, instance(TWIN, [volume("images/web.qcow2", "vol-03")]))
    add_curl_fix(world.advisories, world.listing)
    with world.services.sessions() as session:
        web, twin = (get_instance(session, ACCOUNT, i) for i in (WEB, TWIN))
    inventory = world.services.inventories.get(web.inventory_hash)
    other = dataclasses.replace(twin.instance, account_id=OTHER)
    instances = [web.instance, twin.instance, other]
    together = list(evaluate_instances(inventory, world.advisories, world.clock.now, instances, "eu-west-3"))
    assert [i for i, _ in together] == instances
    for each, evaluation in together:
        alone = evaluate(inventory, world.advisories, now=world.clock.now, account_id=each.account_id,
                         resource_id=each.instance_id, region="eu-west-3")  # fmt: skip
        assert [f.to_json() for f in evaluation.findings] == [f.to_json() for f in alone.findings]
        assert evaluation.findings, "the curl fix gives the web image a finding"


def test_a_database_whose_version_went_back_reevaluates_everything(world, fleet_dir):
    from vigil.scanning.reevaluation import STATE_KEY
    from vigil.scanning.state import write_state

    _scanned(world, fleet_dir)
    write_state(world.services.sessions, STATE_KEY, {"version": world.advisories.version + 5})
    world.clock.advance(seconds=30)
    assert "reevaluate" in world.scheduler.tick()
    assert sorted(world.findings.evaluated()) == [WEB, VPN]


def test_the_servers_own_feed_update_runs_on_its_schedule_and_is_reevaluated_at_once(world, fleet_dir):
    updates = []

    def update_feeds():  # nothing new the first time, the curl fix the second
        updates.append(world.clock.now)
        if len(updates) == 2:
            add_curl_fix(world.advisories, world.listing)

    world.services.update_feeds = update_feeds
    _scanned(world, fleet_dir)
    assert updates == [world.clock.now]  # a server that never updated its feeds does so at once
    assert world.findings.evaluated() == []  # the first version is only noted
    world.clock.advance(hours=5, minutes=59)
    world.scheduler.tick()
    assert len(updates) == 1
    world.clock.advance(minutes=1)
    assert "update_feeds" in world.scheduler.tick()
    assert len(updates) == 2 and world.findings.evaluated() == [WEB]


def test_the_latest_inventories_are_there_for_sbom_exports(world, fleet_dir):
    _scanned(world, fleet_dir, instance(TWIN, [volume("images/web.qcow2", "vol-03")]))
    latest = list(world.services.inventories.latest([ACCOUNT]))
    assert [(i.instance_id, [p.name for p in inv.packages][:2]) for i, inv in latest] == [
        (WEB, ["curl", "libcurl4"]), (VPN, ["base-files", "libreswan"]), (TWIN, ["curl", "libcurl4"]),
    ]  # fmt: skip
    assert latest[0][1] is latest[2][1]  # one stored inventory, read once
    assert [i.instance_id for i, _ in world.services.inventories.latest([ACCOUNT], [VPN])] == [VPN]
    assert list(world.services.inventories.latest([OTHER])) == []
