"""Agentless scans of local instances made of real disk images: snapshots, collection, storage, findings,
and every way a scan can end, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.scanning.fleetkit import (
    ACCOUNT,
    attach,
    coverage_of,
    instance,
    scan_now,
    volume,
    write_fleet,
)

from vigil.scanning.agentless import AgentlessLimits, AgentlessScanner
from vigil.scanning.snapshots import SnapshotStore
from vigil.store.inventories import InventoryPackageRow, InventoryRow

WEB, VPN, TWIN = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"


def _fleet(world, fleet_dir, *instances, keys=()):
    attach(world, write_fleet(fleet_dir / "fleet.yaml", list(instances), kms_keys=list(keys)))


def _snapshot_folders(world):
    return sorted(p.name for p in world.snapshots.iterdir()) if world.snapshots.exists() else []


def test_a_scan_finds_the_packages_records_the_findings_and_leaves_no_snapshot(world, fleet_dir):
    _fleet(world, fleet_dir, instance(VPN, [volume("images/vpn.qcow2", "vol-02")]))
    scan = scan_now(world, VPN)
    assert (scan.status, scan.reason, scan.packages, scan.findings) == ("SUCCEEDED", "SUCCESSFUL", 4, 1)
    assert world.findings.vulnerabilities(VPN) == {"CVE-2023-23009"}
    (recorded, evaluation, at) = world.findings.evaluations[-1]
    assert recorded.instance_id == VPN and at == world.clock.now
    assert {f.resource_id for f in evaluation.findings} == {VPN}
    assert {f.account_id for f in evaluation.findings} == {ACCOUNT}
    (snapshot,) = scan.snapshots
    assert (snapshot["volumeId"], snapshot["device"], snapshot["method"]) == (
        "vol-02",
        "/dev/xvda",
        "in-place",
    )
    assert "cannot share extents" in snapshot["note"]  # this machine's ext4 has no reflink
    assert _snapshot_folders(world) == []
    assert coverage_of(world, VPN) == ("ACTIVE", "SUCCESSFUL")
    (covered,) = world.services.coverage.covered([ACCOUNT])
    assert covered.last_scanned_at == world.clock.now and covered.record.inventory_hash == scan.inventory_hash


def test_identical_machines_share_one_stored_inventory_indexed_by_its_packages(world, fleet_dir):
    _fleet(world, fleet_dir, instance(VPN, [volume("images/vpn.qcow2", "vol-02")]),
           instance(TWIN, [volume("images/vpn.qcow2", "vol-03")]))  # fmt: skip
    first, second = scan_now(world, VPN), scan_now(world, TWIN)
    assert first.inventory_hash == second.inventory_hash
    with world.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InventoryRow)) == 1
        keys = set(session.execute(select(InventoryPackageRow.namespace, InventoryPackageRow.package)))
    assert keys == {
        ("debian:11", "libreswan"),
        ("debian:11", "base-files"),
        ("pypi", "requests"),
        ("pypi", "urllib3"),
    }
    assert world.services.inventories.holders([("debian:11", "libreswan")]) == {first.inventory_hash}
    inventory = world.services.inventories.get(first.inventory_hash)
    assert inventory.target.paths == ("/dev/xvda",)
    assert [p.name for p in inventory.packages] == ["base-files", "libreswan", "requests", "urllib3"]


def test_a_volume_whose_key_is_excluded_is_left_out_and_the_rest_is_scanned(world, fleet_dir):
    volumes = [volume("images/vpn.qcow2", "vol-02"),
               volume("images/web.qcow2", "vol-09", device="/dev/xvdb", encrypted=True, kmsKeyId="key-x")]  # fmt: skip
    _fleet(
        world,
        fleet_dir,
        instance(VPN, volumes),
        keys=[{"keyId": "key-x", "tags": {"InspectorEc2Exclusion": ""}}],
    )
    scan = scan_now(world, VPN)
    assert scan.status == "SUCCEEDED" and world.findings.vulnerabilities(VPN) == {"CVE-2023-23009"}
    assert [s["volumeId"] for s in scan.snapshots] == ["vol-02", "vol-09"]
    assert scan.snapshots[1] == {
        "volumeId": "vol-09",
        "method": "left out",
        "note": "its KMS key is excluded",
    }


def test_a_key_that_cannot_be_used_denies_the_scan_before_anything_is_snapshotted(world, fleet_dir):
    volumes = [volume("images/vpn.qcow2", "vol-02", encrypted=True, kmsKeyId="key-1")]
    _fleet(world, fleet_dir, instance(VPN, volumes), keys=[{"keyId": "key-1", "usable": False}])
    scan = scan_now(world, VPN)
    assert (scan.status, scan.reason) == ("FAILED", "ACCESS_DENIED_TO_ENCRYPTION_KEY")
    assert "KMS key key-1 cannot be used" in scan.detail and scan.snapshots == ()
    assert world.findings.evaluations == [] and world.findings.closed == []
    assert coverage_of(world, VPN) == ("INACTIVE", "ACCESS_DENIED_TO_ENCRYPTION_KEY")
    assert not world.snapshots.exists() or _snapshot_folders(world) == []


def test_a_scan_past_its_time_limit_records_no_findings(world, fleet_dir):
    _fleet(world, fleet_dir, instance(VPN, [volume("images/vpn.qcow2", "vol-02")]))
    world.services.scanner.limits = AgentlessLimits(time_limit_s=1e-9)
    scan = scan_now(world, VPN)
    assert (scan.status, scan.reason) == ("FAILED", "AGENTLESS_INSTANCE_COLLECTION_TIME_LIMIT_EXCEEDED")
    assert "time limit" in scan.detail
    assert world.findings.evaluations == [] and world.findings.closed == [] and _snapshot_folders(world) == []
    assert coverage_of(world, VPN) == ("INACTIVE", "AGENTLESS_INSTANCE_COLLECTION_TIME_LIMIT_EXCEEDED")


def test_too_many_language_packages_keeps_the_first_ones_and_stays_active(world, fleet_dir):
    _fleet(world, fleet_dir, instance(VPN, [volume("images/vpn.qcow2", "vol-02")]))
    world.services.scanner.limits = AgentlessLimits(max_language_packages=1)
    scan = scan_now(world, VPN)
    assert (scan.status, scan.reason, scan.packages) == (
        "SUCCEEDED", "DEEP_INSPECTION_PACKAGE_COLLECTION_LIMIT_EXCEEDED", 3,
    )  # fmt: skip
    assert world.findings.vulnerabilities(VPN) == {"CVE-2023-23009"}
    assert coverage_of(world, VPN) == ("ACTIVE", "DEEP_INSPECTION_PACKAGE_COLLECTION_LIMIT_EXCEEDED")


def test_an_unsupported_os_or_filesystem_is_said_and_the_instances_findings_are_closed(world, fleet_dir):
    _fleet(world, fleet_dir, instance(VPN, [volume("images/unknown-os.qcow2", "vol-02")]),
           instance(TWIN, [volume("images/btrfs.qcow2", "vol-03")]))  # fmt: skip
    unknown, btrfs = scan_now(world, VPN), scan_now(world, TWIN)
    assert (unknown.status, unknown.reason) == ("FAILED", "UNSUPPORTED_OS")
    assert "Vigil Contract: not a supported operating system" in unknown.detail
    assert (btrfs.status, btrfs.reason) == (
        "FAILED",
        "UNSUPPORTED_OS",
    ) and "unsupported filesystem btrfs" in btrfs.detail
    assert world.findings.closed == [(ACCOUNT, VPN, "UNSUPPORTED_OS"), (ACCOUNT, TWIN, "UNSUPPORTED_OS")]
    assert coverage_of(world, VPN) == ("INACTIVE", "UNSUPPORTED_OS")


def test_a_damaged_image_is_an_internal_error_kept_with_its_reason(world, fleet_dir):
    (fleet_dir / "images/damaged.qcow2").write_bytes(b"QFI\xfb" + bytes(60))
    _fleet(world, fleet_dir, instance(VPN, [volume("images/damaged.qcow2", "vol-02")]))
    scan = scan_now(world, VPN)
    assert (scan.status, scan.reason) == ("FAILED", "INTERNAL_ERROR") and "damaged.qcow2" in scan.detail
    assert world.findings.closed == [] and _snapshot_folders(world) == []


class _CancellingSnapshots(SnapshotStore):
    """Snapshots as usual; the scan is cancelled as soon as they are taken."""

    scanner: AgentlessScanner

    def take(self, scan_id, volumes):
        taken = super().take(scan_id, volumes)
        assert (self.root / scan_id / "tags.json").read_text() == f'{{"InspectorScan": "{scan_id}"}}'
        self.scanner.cancel(scan_id)
        return taken


def test_a_cancelled_scan_ends_cancelled_with_its_snapshots_deleted(world, fleet_dir):
    _fleet(world, fleet_dir, instance(VPN, [volume("images/vpn.qcow2", "vol-02")]))
    snapshots = _CancellingSnapshots(world.snapshots)
    snapshots.scanner = world.services.scanner
    world.services.snapshot_stores.local.store = snapshots
    scan = scan_now(world, VPN)
    assert scan.status == "CANCELLED" and world.findings.evaluations == [] and _snapshot_folders(world) == []
    assert coverage_of(world, VPN) == ("ACTIVE", "PENDING_INITIAL_SCAN")


def test_a_queued_scan_of_an_instance_that_stopped_meanwhile_is_cancelled(world, fleet_dir):
    _fleet(world, fleet_dir, instance(VPN, [volume("images/vpn.qcow2", "vol-02")]))
    queued = world.services.scans.queue(ACCOUNT, VPN, "request", world.clock())
    _fleet(world, fleet_dir, instance(VPN, [volume("images/vpn.qcow2", "vol-02")], state="stopped"))
    scan = world.services.scanner.run(queued.scan_id)
    assert (scan.status, scan.detail) == ("CANCELLED", "the instance is stopped")
    assert world.services.scanner.run(queued.scan_id) is None  # not queued any more
