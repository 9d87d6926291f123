"""The scheduler's cadences, with an injected clock: discovery every hour, every eligible instance scanned
every 24 h and new ones at once, a scan that failed for a reason of Vigil's again an hour later, purge and
sweep on their periods, remembered across restarts."""

from __future__ import annotations

import datetime as dt

from tests.scanning.fleetkit import ACCOUNT, OTHER, attach, coverage_of, instance, volume, write_fleet

from vigil.scanning.executor import InlineExecutor
from vigil.scanning.scans import ScanLog
from vigil.scanning.scheduler import Scheduler

WEB, VPN, NEW = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"


def _scans(submitted):
    return sorted(s.split(":", 1)[1] for s in submitted if s.startswith("scan_instance:"))


def _two(fleet_dir, *more):
    return write_fleet(fleet_dir / "fleet.yaml", [
        instance(WEB, [volume("images/web.qcow2", "vol-01")]),
        instance(VPN, [volume("images/vpn.qcow2", "vol-02")]),
        *more,
    ])  # fmt: skip


def test_new_instances_are_scanned_at_once_then_every_24_hours(world, fleet_dir):
    attach(world, _two(fleet_dir))
    assert _scans(world.scheduler.tick()) == [WEB, VPN]
    assert world.findings.evaluated() == [WEB, VPN] and world.executor.failures == deque_empty()
    world.clock.advance(hours=23, minutes=59)
    assert _scans(world.scheduler.tick()) == []
    world.clock.advance(minutes=1)
    assert _scans(world.scheduler.tick()) == [WEB, VPN]


def test_discovery_runs_every_hour_and_a_new_instance_is_scanned_when_it_is_found(world, fleet_dir):
    attach(world, _two(fleet_dir))
    world.scheduler.tick()
    _two(fleet_dir, instance(NEW, [volume("images/vpn.qcow2", "vol-03")]))
    world.clock.advance(minutes=59)
    submitted = world.scheduler.tick()
    assert not any(s.startswith("discover") for s in submitted) and _scans(submitted) == []
    world.clock.advance(minutes=1)
    submitted = world.scheduler.tick()
    assert f"discover:{ACCOUNT}" in submitted and _scans(submitted) == [NEW]
    assert coverage_of(world, NEW) == ("ACTIVE", "SUCCESSFUL")


def test_a_changed_instance_is_scanned_again_at_the_next_check(world, fleet_dir):
    attach(world, _two(fleet_dir))
    world.scheduler.tick()
    write_fleet(fleet_dir / "fleet.yaml", [
        instance(WEB, [volume("images/vpn.qcow2", "vol-01")]),
        instance(VPN, [volume("images/vpn.qcow2", "vol-02")]),
    ])  # fmt: skip
    world.clock.advance(hours=1)
    assert _scans(world.scheduler.tick()) == [WEB]
    assert world.findings.vulnerabilities(WEB) == {"CVE-2023-23009"}


def test_an_error_of_vigils_is_retried_an_hour_later_by_itself(world, fleet_dir):
    (fleet_dir / "images/damaged.qcow2").write_bytes(b"QFI\xfb" + bytes(60))
    attach(
        world, write_fleet(fleet_dir / "fleet.yaml", [instance(WEB, [volume("images/damaged.qcow2", "v")])])
    )
    assert _scans(world.scheduler.tick()) == [WEB]
    assert coverage_of(world, WEB) == ("INACTIVE", "INTERNAL_ERROR")
    world.clock.advance(minutes=30)
    assert _scans(world.scheduler.tick()) == []
    (fleet_dir / "images/web.qcow2").rename(fleet_dir / "images/damaged.qcow2")
    world.clock.advance(minutes=30)
    assert _scans(world.scheduler.tick()) == [WEB]
    assert coverage_of(world, WEB) == ("ACTIVE", "SUCCESSFUL")


def test_only_enabled_accounts_in_hybrid_mode_get_agentless_scans(world, fleet_dir):
    attach(world, _two(fleet_dir))
    attach(world, _two(fleet_dir), OTHER)
    world.accounts.modes[ACCOUNT] = "EC2_SSM_AGENT_BASED"
    world.accounts.enabled = {ACCOUNT}
    assert _scans(world.scheduler.tick()) == []
    assert coverage_of(world, WEB) == ("INACTIVE", "UNMANAGED_EC2_INSTANCE")
    assert world.services.coverage.covered([OTHER]) == []
    world.accounts.enabled = {ACCOUNT, OTHER}
    world.clock.advance(seconds=30)
    submitted = world.scheduler.tick()
    assert _scans(submitted) == [WEB, VPN] and world.findings.evaluations[-1][0].account_id == OTHER


def test_switching_to_agent_based_closes_the_findings_of_the_instances_without_an_agent(world, fleet_dir):
    attach(world, _two(fleet_dir))
    world.scheduler.tick()
    world.accounts.modes[ACCOUNT] = "EC2_SSM_AGENT_BASED"
    world.clock.advance(hours=1)
    world.scheduler.tick()
    assert sorted(world.findings.closed) == [
        (ACCOUNT, WEB, "UNMANAGED_EC2_INSTANCE"), (ACCOUNT, VPN, "UNMANAGED_EC2_INSTANCE"),
    ]  # fmt: skip
    world.clock.advance(hours=1)
    world.scheduler.tick()
    assert len(world.findings.closed) == 2  # once


def test_terminated_excluded_and_vanished_instances_have_their_findings_closed_stopped_ones_keep_them(
    world, fleet_dir
):
    more = [instance(NEW, [volume("images/vpn.qcow2", "vol-03")]),
            instance("i-0a1b2c3d4e5f60004", [volume("images/vpn.qcow2", "vol-04")])]  # fmt: skip
    attach(world, _two(fleet_dir, *more))
    world.scheduler.tick()
    write_fleet(fleet_dir / "fleet.yaml", [
        instance(WEB, [volume("images/web.qcow2", "vol-01")], state="terminated"),
        instance(VPN, [volume("images/vpn.qcow2", "vol-02")], tags={"InspectorEc2Exclusion": ""}),
        instance(NEW, [volume("images/vpn.qcow2", "vol-03")], state="stopped"),
    ])  # fmt: skip
    world.clock.advance(hours=1)
    world.scheduler.tick()
    assert sorted(world.findings.closed) == [
        (ACCOUNT, WEB, "RESOURCE_TERMINATED"), (ACCOUNT, VPN, "EXCLUDED_BY_TAG"),
        (ACCOUNT, "i-0a1b2c3d4e5f60004", "RESOURCE_TERMINATED"),
    ]  # fmt: skip
    assert coverage_of(world, NEW) == ("INACTIVE", "EC2_INSTANCE_STOPPED")


def test_purge_forgets_vanished_instances_three_days_after_they_were_terminated(world, fleet_dir):
    attach(world, _two(fleet_dir))
    world.scheduler.tick()
    write_fleet(fleet_dir / "fleet.yaml", [instance(WEB, [volume("images/web.qcow2", "vol-01")])])
    world.clock.advance(hours=1)
    world.scheduler.tick()
    assert coverage_of(world, VPN) == ("INACTIVE", "RESOURCE_TERMINATED")
    world.clock.advance(days=2, hours=23)
    world.scheduler.tick()
    assert len(world.services.coverage.covered([ACCOUNT])) == 2
    world.clock.advance(hours=1, minutes=1)
    world.scheduler.tick()
    assert [c.instance.instance_id for c in world.services.coverage.covered([ACCOUNT])] == [WEB]
    assert world.findings.purged[-1] == world.clock.now
    assert len(world.services.inventories.stored()) == 1  # the vpn's inventory: nothing points at it


def test_jobs_keep_their_cadence_across_restarts(world, fleet_dir):
    attach(world, _two(fleet_dir))
    assert {"sweep", "purge"} <= set(world.scheduler.tick())
    world.clock.advance(minutes=30)
    restarted = Scheduler(world.services, InlineExecutor(world.services))
    submitted = restarted.tick()
    assert "purge" not in submitted and "sweep" not in submitted and _scans(submitted) == []
    world.clock.advance(minutes=30)
    assert {"purge", "sweep", f"discover:{ACCOUNT}"} <= set(restarted.tick())


def test_a_restart_ends_the_scans_of_the_process_that_died_and_deletes_their_snapshots(world, fleet_dir):
    attach(world, _two(fleet_dir))
    dead = ScanLog(world.services.sessions, runner="a-server-killed-mid-scan")
    scan = dead.queue(ACCOUNT, WEB, "schedule", world.clock())
    dead.start(scan.scan_id, world.clock())
    world.services.snapshots.take(scan.scan_id, [])
    (world.snapshots / "no-tag-written-yet").mkdir()
    assert sorted(p.name for p in world.snapshots.iterdir()) == sorted([scan.scan_id, "no-tag-written-yet"])
    world.scheduler.start()
    world.scheduler.stop()
    assert list(world.snapshots.iterdir()) == []
    ended = world.services.scans.get(scan.scan_id)
    assert (ended.status, ended.reason, ended.detail) == (
        "FAILED", "INTERNAL_ERROR", "interrupted: the server stopped before the scan ended",
    )  # fmt: skip
    assert coverage_of(world, WEB) == ("INACTIVE", "INTERNAL_ERROR")
    world.clock.advance(hours=1)
    assert WEB in _scans(world.scheduler.tick())


def deque_empty():
    from collections import deque

    return deque(maxlen=1000)


def test_a_task_that_fails_is_kept_and_the_others_go_on(world, fleet_dir):
    attach(world, _two(fleet_dir))
    world.scheduler.tick()
    world.executor.submit("discover", account_id=OTHER, kind="local")
    (failure,) = world.executor.failures
    assert failure.task == "discover" and "has no local provider" in failure.error
    world.clock.advance(days=1)
    assert _scans(world.scheduler.tick()) == [WEB, VPN]


def test_tasks_take_only_registered_names_and_json_arguments(world):
    import pytest

    with pytest.raises(KeyError, match="no task 'scan'"):
        world.executor.submit("scan", scan_id="x")
    with pytest.raises(TypeError, match="JSON values"):
        world.executor.submit("discover", account_id=ACCOUNT, kind=dt.datetime.now())
