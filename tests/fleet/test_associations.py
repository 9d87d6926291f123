"""Associations (DESIGN §3.2), in the store, on SQLite and PostgreSQL, with an injected clock: Inspector's six
created when EC2 scanning is enabled, re-created when deleted, deleted when it is disabled; an account's own
inventory association used instead of Inspector's; what the agents collect, and how often."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.fleet.clock import START

from vigil.agent.protocol import (
    INVENTORY_ASSOCIATION,
    INVENTORY_DOCUMENT,
    LINUX_DISTRIBUTOR,
    LINUX_PLUGIN,
    PLUGIN_DOCUMENT,
    SYNC_ASSOCIATION,
    WINDOWS_DISTRIBUTOR,
    WINDOWS_PLUGIN,
)
from vigil.fleet.associations import (
    ALL_INSTANCES,
    INSPECTOR,
    USER,
    AssociationsService,
    InvalidAssociation,
    NoSuchAssociation,
)
from vigil.store.engine import session_factory

ACCOUNT, OTHER = "111111111111", "222222222222"
SIX = [
    INVENTORY_ASSOCIATION,
    SYNC_ASSOCIATION,
    LINUX_DISTRIBUTOR,
    LINUX_PLUGIN,
    WINDOWS_DISTRIBUTOR,
    WINDOWS_PLUGIN,
]
LINUX = [{"Key": "PlatformTypes", "Values": ["Linux"]}]


@pytest.fixture
def associations(store_engine, clock):
    return AssociationsService(session_factory(store_engine), clock)


def _of(associations, account=ACCOUNT):
    return {a.name: a for a in associations.associations([account])}


def _own_inventory(associations, account=ACCOUNT, schedule="rate(2 hours)", name="MyInventory"):
    return associations.put(
        account, name, document=INVENTORY_DOCUMENT, targets=ALL_INSTANCES, schedule_expression=schedule
    )


def test_ensure_creates_inspectors_six_associations_with_their_schedules_and_targets(associations):
    assert associations.ensure(ACCOUNT) == SIX
    made = _of(associations)
    assert sorted(made) == sorted(SIX) and {a.owner for a in made.values()} == {INSPECTOR}
    inventory, plugin = made[INVENTORY_ASSOCIATION], made[LINUX_PLUGIN]
    assert (inventory.document, inventory.schedule_expression, inventory.targets) == (
        INVENTORY_DOCUMENT, "rate(30 minutes)", [{"Key": "InstanceIds", "Values": ["*"]}],
    )  # fmt: skip
    assert (plugin.document, plugin.schedule_expression, plugin.targets) == (
        PLUGIN_DOCUMENT, "rate(6 hours)", LINUX,
    )  # fmt: skip
    assert made[SYNC_ASSOCIATION].schedule_expression is None
    assert made[LINUX_DISTRIBUTOR].targets == LINUX
    assert made[WINDOWS_PLUGIN].targets == [{"Key": "PlatformTypes", "Values": ["Windows"]}]
    listed = inventory.to_json()
    assert listed["status"] == "Success" and listed["createdAt"] == START.isoformat()
    assert set(listed) == {"accountId", "name", "document", "scheduleExpression", "targets", "parameters",
                           "status", "owner", "createdAt", "updatedAt"}  # fmt: skip
    assert _of(associations, OTHER) == {}


def test_ensure_again_creates_nothing(associations):
    associations.ensure(ACCOUNT)
    assert associations.ensure(ACCOUNT) == []
    assert len(associations.associations([ACCOUNT])) == 6


def test_a_deleted_association_comes_back_at_the_next_reconcile_and_only_it(associations, clock):
    associations.reconcile([ACCOUNT, OTHER])
    associations.delete(ACCOUNT, LINUX_PLUGIN)
    assert LINUX_PLUGIN not in _of(associations)
    clock.now = START + dt.timedelta(minutes=5)
    assert associations.reconcile([ACCOUNT, OTHER]) == {ACCOUNT: [LINUX_PLUGIN]}
    assert _of(associations)[LINUX_PLUGIN].created_at == clock.now
    assert associations.reconcile([ACCOUNT, OTHER]) == {}


def test_disabling_deletes_inspectors_associations_and_keeps_the_accounts_own(associations):
    associations.ensure(ACCOUNT)
    associations.put(ACCOUNT, "Patching", document="AWS-RunPatchBaseline", targets=LINUX)
    assert associations.remove(ACCOUNT) == sorted(SIX)
    assert list(_of(associations)) == ["Patching"] and _of(associations)["Patching"].owner == USER


def test_reconcile_removes_inspectors_associations_of_accounts_no_longer_enabled(associations):
    associations.reconcile([ACCOUNT, OTHER])
    associations.put(OTHER, "Patching", document="AWS-RunPatchBaseline", targets=LINUX)
    assert associations.reconcile([ACCOUNT]) == {}
    assert list(_of(associations, OTHER)) == ["Patching"] and len(_of(associations)) == 6


def test_an_own_inventory_association_of_all_instances_replaces_inspectors(associations):
    _own_inventory(associations)
    assert associations.ensure(ACCOUNT) == [n for n in SIX if n != INVENTORY_ASSOCIATION]
    collect = associations.collection(ACCOUNT, deep_inspection=False, custom_paths=())
    assert collect == {"os": {"every": 7200}, "full": None}


def test_making_an_own_inventory_association_of_all_instances_deletes_inspectors(associations):
    associations.ensure(ACCOUNT)
    _own_inventory(associations)
    assert INVENTORY_ASSOCIATION not in _of(associations)
    assert associations.reconcile([ACCOUNT]) == {}
    associations.delete(ACCOUNT, "MyInventory")
    assert associations.reconcile([ACCOUNT]) == {ACCOUNT: [INVENTORY_ASSOCIATION]}


def test_an_own_inventory_association_of_some_instances_replaces_nothing(associations):
    associations.put(
        ACCOUNT, "Some", document=INVENTORY_DOCUMENT, targets=LINUX, schedule_expression="rate(1 hour)"
    )
    assert associations.ensure(ACCOUNT) == SIX
    assert associations.collection(ACCOUNT, deep_inspection=False)["os"] == {"every": 1800}


def test_the_agents_collect_on_the_associations_schedules_with_deep_inspection_activated(associations):
    associations.ensure(ACCOUNT)
    collect = associations.collection(ACCOUNT, deep_inspection=True, custom_paths=("/opt/app",))
    assert collect == {"os": {"every": 1800}, "full": {"every": 6 * 3600, "paths": ["/opt/app"]}}


def test_with_deep_inspection_deactivated_the_linux_plugin_association_is_not_invoked(associations):
    associations.ensure(ACCOUNT)
    assert associations.collection(ACCOUNT, deep_inspection=False)["full"] is None


@pytest.mark.parametrize("deleted", [LINUX_PLUGIN, LINUX_DISTRIBUTOR])
def test_without_the_plugin_or_its_distributor_deep_inspection_is_not_invoked(associations, deleted):
    associations.ensure(ACCOUNT)
    associations.delete(ACCOUNT, deleted)
    assert associations.collection(ACCOUNT, deep_inspection=True)["full"] is None


def test_without_an_inventory_association_nothing_collects_the_os_inventory(associations):
    associations.ensure(ACCOUNT)
    associations.delete(ACCOUNT, INVENTORY_ASSOCIATION)
    assert associations.collection(ACCOUNT, deep_inspection=False) == {"os": None, "full": None}
    assert associations.collection(OTHER, deep_inspection=True) == {"os": None, "full": None}


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("cron(0 */6 * * ? *)", "a schedule is rate("),
        ("rate(29 minutes)", "at most every 30 minutes"),
        ("rate(1 minute)", "at most every 30 minutes"),
        ("rate(2 hour)", "rate(N hours)"),
    ],
)
def test_a_schedule_that_is_not_a_rate_of_30_minutes_or_more_is_refused(associations, expression, problem):
    associations.ensure(ACCOUNT)
    with pytest.raises(InvalidAssociation) as refused:
        associations.put(ACCOUNT, LINUX_PLUGIN, schedule_expression=expression)
    assert refused.value.field == "scheduleExpression" and problem in refused.value.message
    assert _of(associations)[LINUX_PLUGIN].schedule_expression == "rate(6 hours)"


def test_a_new_schedule_is_what_the_agents_follow(associations, clock):
    associations.ensure(ACCOUNT)
    clock.now = START + dt.timedelta(hours=1)
    updated = associations.put(ACCOUNT, LINUX_PLUGIN, schedule_expression="rate(1 hour)")
    assert (updated.schedule_expression, updated.created_at, updated.updated_at) == (
        "rate(1 hour)", START, clock.now,
    )  # fmt: skip
    associations.put(ACCOUNT, INVENTORY_ASSOCIATION, schedule_expression="rate(30 minutes)")
    collect = associations.collection(ACCOUNT, deep_inspection=True)
    assert collect == {"os": {"every": 1800}, "full": {"every": 3600, "paths": []}}


def test_parameters_change_and_inspectors_targets_and_documents_do_not(associations):
    associations.ensure(ACCOUNT)
    changed = associations.put(ACCOUNT, INVENTORY_ASSOCIATION, parameters={"applications": "Disabled"})
    assert changed.parameters == {"applications": "Disabled"}
    for change, field in [
        ({"targets": LINUX}, "targets"),
        ({"document": "AWS-RunShellScript", "schedule_expression": "rate(1 hour)"}, "document"),
        ({"schedule_expression": "rate(1 hour)"}, "scheduleExpression"),  # the delivery has no schedule
        ({"parameters": {"a b": "c"}}, "parameters"),
        ({"parameters": {"a": 1}}, "parameters"),
        ({}, "scheduleExpression"),
    ]:
        name = SYNC_ASSOCIATION if field == "scheduleExpression" else INVENTORY_ASSOCIATION
        with pytest.raises(InvalidAssociation) as refused:
            associations.put(ACCOUNT, name, **change)
        assert refused.value.field == field


def test_an_inspector_association_that_was_deleted_is_not_found_until_it_is_re_created(associations):
    associations.ensure(ACCOUNT)
    associations.delete(ACCOUNT, LINUX_PLUGIN)
    with pytest.raises(NoSuchAssociation):
        associations.put(ACCOUNT, LINUX_PLUGIN, schedule_expression="rate(1 hour)")
    with pytest.raises(NoSuchAssociation):
        associations.put(ACCOUNT, LINUX_PLUGIN, document=PLUGIN_DOCUMENT, targets=LINUX)
    with pytest.raises(NoSuchAssociation):
        associations.delete(ACCOUNT, LINUX_PLUGIN)
    with pytest.raises(NoSuchAssociation):
        associations.put(ACCOUNT, "Mine", schedule_expression="rate(1 hour)")  # no document, no targets


def test_an_own_association_is_checked_when_it_is_made(associations):
    for change, field in [
        ({"name": "x", "document": "AWS-RunPatchBaseline", "targets": LINUX}, "name"),
        ({"document": "no spaces", "targets": LINUX}, "document"),
        ({"document": INVENTORY_DOCUMENT, "targets": ALL_INSTANCES}, "scheduleExpression"),
        ({"document": "AWS-RunPatchBaseline", "targets": []}, "targets"),
        ({"document": "AWS-RunPatchBaseline", "targets": [{"Key": "InstanceIds"}]}, "targets"),
        ({"document": "AWS-RunPatchBaseline", "targets": [{"Key": "k", "Values": ["v"], "x": 1}]}, "targets"),
    ]:
        name = str(change.pop("name", "Mine"))
        with pytest.raises(InvalidAssociation) as refused:
            associations.put(ACCOUNT, name, **change)
        assert refused.value.field == field
    assert _of(associations) == {}


def test_the_heartbeat_lists_the_associations_that_target_the_instance(associations):
    associations.ensure(ACCOUNT)
    associations.put(ACCOUNT, "One", document="AWS-RunPatchBaseline",
                     targets=[{"Key": "InstanceIds", "Values": ["mi-0123456789abcdef0"]}])  # fmt: skip
    associations.put(ACCOUNT, "Tagged", document="AWS-RunPatchBaseline",
                     targets=[{"Key": "tag:team", "Values": ["web"]}])  # fmt: skip
    delivered = associations.delivered(ACCOUNT, instance_id="mi-0123456789abcdef0", platform="Linux")
    assert [d["name"] for d in delivered] == sorted(
        [INVENTORY_ASSOCIATION, SYNC_ASSOCIATION, LINUX_DISTRIBUTOR, LINUX_PLUGIN, "One"]
    )
    assert next(d for d in delivered if d["name"] == LINUX_PLUGIN) == {
        "name": LINUX_PLUGIN,
        "document": PLUGIN_DOCUMENT,
        "scheduleExpression": "rate(6 hours)",
        "parameters": {},
    }
    windows = associations.delivered(ACCOUNT, instance_id="i-0a1b2c3d4e5f60001", platform="Windows")
    assert [d["name"] for d in windows] == sorted(
        [INVENTORY_ASSOCIATION, SYNC_ASSOCIATION, WINDOWS_DISTRIBUTOR, WINDOWS_PLUGIN]
    )
