"""Agentless scans of AWS instances, against moto's server on loopback (real boto3 calls): the instance's
volumes snapshotted with `CreateSnapshots` tagged `InspectorScan=<scanId>`, read block by block through the
EBS direct APIs (moto's EC2 snapshots are given a real disk image's blocks: `tests.support.moto`), the
findings recorded, and every snapshot deleted after success, after a read failure, after a snapshot that
never completes, and by the sweeper after a server killed mid-scan. A volume whose KMS key is excluded is
never read.

The disk: the demo instance's image (GPT, root and /var partitions, ext4; a Debian 11 web server behind on
its updates), scanned against Debian's real DSA list.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.scanning.fleetkit import ACCOUNT, coverage_of, scan_now
from tests.support.moto import REGION, aws_client, moto, moto_server, snapshot_images

from vigil.demo import build_demo_image
from vigil.fleet.model import SCAN_TAG
from vigil.scanning import tasks
from vigil.scanning.operations import FleetOperations

CURL_FIXED_BY_DSA = "CVE-2022-32221"
REPO = Path(__file__).resolve().parents[2]
AMAZON_LINUX = "ami-760aaa0f"  # one of moto's images: Linux, root /dev/xvda (its disk here: the demo's)
__all__ = [
    "moto",
    "moto_server",
    "snapshot_images",
]  # the fixtures this module uses  # curl 7.74.0-1.3+deb11u3 on the demo disk; DSA-5330 fixes it


@pytest.fixture(scope="session")
def demo_disk(tmp_path_factory) -> Path:
    return build_demo_image(tmp_path_factory.mktemp("aws-demo-disk"))


def _fleet(world, moto, snapshot_images, demo_disk, tmp_path, *, kms_excluded: bool = False) -> str:
    """One running instance with the demo disk as its root volume (and, with `kms_excluded`, a second
    volume encrypted with a KMS key tagged InspectorEc2Exclusion), attached as the account's aws fleet."""
    ec2 = aws_client("ec2", moto)
    instance = ec2.run_instances(ImageId=AMAZON_LINUX, MinCount=1, MaxCount=1, InstanceType="t3.small")[
        "Instances"
    ][0]
    instance_id = instance["InstanceId"]
    root = next(m for m in instance["BlockDeviceMappings"])
    snapshot_images.volume_images[root["Ebs"]["VolumeId"]] = demo_disk
    if kms_excluded:
        kms = aws_client("kms", moto)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": "InspectorEc2Exclusion", "TagValue": ""}])
        secret = ec2.create_volume(
            AvailabilityZone=instance["Placement"]["AvailabilityZone"], Size=8, Encrypted=True, KmsKeyId=key
        )["VolumeId"]
        ec2.attach_volume(VolumeId=secret, InstanceId=instance_id, Device="/dev/sdf")
        copy = tmp_path / "secret.img"
        shutil.copyfile(demo_disk, copy)
        snapshot_images.volume_images[secret] = copy
    report = FleetOperations(world.services, world.executor).attach_aws(ACCOUNT, [REGION], endpoint_url=moto)
    assert instance_id in report.new
    return instance_id


def _tagged_snapshots(moto: str) -> list[dict]:
    ec2 = aws_client("ec2", moto)
    return ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": [SCAN_TAG]}])[
        "Snapshots"
    ]


def test_an_agentless_scan_reads_the_snapshots_blocks_and_deletes_them(
    world, moto, snapshot_images, demo_disk, tmp_path
):
    instance_id = _fleet(world, moto, snapshot_images, demo_disk, tmp_path)
    scan = scan_now(world, instance_id)
    assert (scan.status, scan.reason) == ("SUCCEEDED", "SUCCESSFUL"), scan.detail
    assert CURL_FIXED_BY_DSA in world.findings.vulnerabilities(instance_id)
    assert coverage_of(world, instance_id) == ("ACTIVE", "SUCCESSFUL")
    (taken,) = scan.snapshots
    assert taken["method"] == "ebs-snapshot" and taken["reads"]["requests"] > 0
    assert taken["reads"]["blocks_fetched"] <= taken["reads"]["blocks_listed"]  # only blocks holding data
    assert snapshot_images.linked and _tagged_snapshots(moto) == []  # every snapshot deleted


def test_a_block_that_cannot_be_read_fails_the_scan_and_its_snapshots_go(
    world, moto, snapshot_images, demo_disk, tmp_path, monkeypatch
):
    from moto.ebs.models import EBSBackend

    from vigil.fleet.providers.aws import blocks

    instance_id = _fleet(world, moto, snapshot_images, demo_disk, tmp_path)
    real = EBSBackend.get_snapshot_block

    def failing(backend, snapshot_id, block_index):
        block = real(backend, snapshot_id, block_index)
        if block_index > 2:  # the partition table reads, the filesystems do not
            block.checksum = "AAAA" + block.checksum[4:]  # a damaged block, every time it is asked for
        return block

    monkeypatch.setattr(EBSBackend, "get_snapshot_block", failing)
    # every retry still made, without its backoff (about 20 s of waiting, which is not under test here)
    monkeypatch.setattr(blocks, "_backoff", lambda attempt: 0.0)
    scan = scan_now(world, instance_id)
    assert (scan.status, scan.reason) == ("FAILED", "INTERNAL_ERROR")
    assert world.findings.evaluations == []  # never a partial inventory taken for the whole disk
    assert _tagged_snapshots(moto) == []


def test_a_volume_whose_kms_key_is_excluded_is_never_read(world, moto, snapshot_images, demo_disk, tmp_path):
    instance_id = _fleet(world, moto, snapshot_images, demo_disk, tmp_path, kms_excluded=True)
    scan = scan_now(world, instance_id)
    assert scan.status == "SUCCEEDED", scan.detail
    assert [s.get("method") for s in scan.snapshots] == ["ebs-snapshot", "left out"]
    assert _tagged_snapshots(moto) == []


def test_the_sweeper_deletes_snapshots_whose_scan_is_not_running(
    world, moto, snapshot_images, demo_disk, tmp_path
):
    instance_id = _fleet(world, moto, snapshot_images, demo_disk, tmp_path)
    ec2 = aws_client("ec2", moto)
    volume = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"
    ][0]["Ebs"]["VolumeId"]
    # what a server killed mid-scan leaves: snapshots tagged with a scan nobody runs, and one of its own
    for scan_id in ("scan-of-a-dead-server", "scan-running-now"):
        ec2.create_snapshot(
            VolumeId=volume,
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": SCAN_TAG, "Value": scan_id}]}],
        )
    backup = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]  # somebody else's backup
    world.services.scanner._running["scan-running-now"] = None  # type: ignore[assignment]
    try:
        swept = tasks.sweep(world.services)
    finally:
        del world.services.scanner._running["scan-running-now"]
    assert "scan-of-a-dead-server" in swept["snapshots"]
    assert [t["Value"] for s in _tagged_snapshots(moto) for t in s["Tags"] if t["Key"] == SCAN_TAG] == [
        "scan-running-now"
    ]
    assert ec2.describe_snapshots(SnapshotIds=[backup])["Snapshots"]  # not Vigil's: kept


@pytest.fixture(scope="session")
def debian_layouts(tmp_path_factory) -> dict[str, tuple[Path, ...]]:
    """A Debian 11 tree (libreswan behind on its updates) in three real layouts: GPT + ext4, LVM (root on
    vg0), and two disks with /var (and its dpkg database) on the second."""
    from tests.scanning.fleetkit import VPN_PACKAGES, debian_tree
    from tests.support import catalog

    work = tmp_path_factory.mktemp("aws-layouts")
    tree = debian_tree(work / "tree", VPN_PACKAGES)
    built = {}
    for name in ("gpt-debian", "lvm", "var-xvdb1"):
        (work / name).mkdir()
        built[name] = catalog.LAYOUTS[name](tree, work / name).sources
    return built


@pytest.mark.parametrize("layout", ["gpt-debian", "lvm", "var-xvdb1"])
def test_each_layout_of_volumes_is_read_from_its_snapshots(
    world, moto, snapshot_images, debian_layouts, layout
):
    disks = debian_layouts[layout]
    ec2 = aws_client("ec2", moto)
    instance = ec2.run_instances(ImageId=AMAZON_LINUX, MinCount=1, MaxCount=1)["Instances"][0]
    snapshot_images.volume_images[instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]] = disks[0]
    for index, disk in enumerate(disks[1:], start=1):  # /var's volume, attached second
        volume = ec2.create_volume(AvailabilityZone=instance["Placement"]["AvailabilityZone"], Size=1)[
            "VolumeId"
        ]
        ec2.attach_volume(
            VolumeId=volume, InstanceId=instance["InstanceId"], Device=f"/dev/xvd{'abcdef'[index]}"
        )
        snapshot_images.volume_images[volume] = disk
    FleetOperations(world.services, world.executor).attach_aws(ACCOUNT, [REGION], endpoint_url=moto)
    scan = scan_now(world, instance["InstanceId"])
    assert scan.status == "SUCCEEDED", scan.detail
    assert world.findings.vulnerabilities(instance["InstanceId"]) >= {
        "CVE-2023-23009"
    }  # libreswan, /var's dpkg
    assert len(scan.snapshots) == len(disks) and _tagged_snapshots(moto) == []


def test_a_snapshot_that_never_completes_fails_the_scan_and_is_deleted(
    world, moto, snapshot_images, demo_disk, tmp_path, monkeypatch
):
    from moto.ec2.models import EC2Backend

    instance_id = _fleet(world, moto, snapshot_images, demo_disk, tmp_path)
    linked_create = EC2Backend.create_snapshot

    def pending(backend, *args, **kwargs):
        snapshot = linked_create(backend, *args, **kwargs)
        snapshot.status = "pending"  # EBS never finishes it
        return snapshot

    monkeypatch.setattr(EC2Backend, "create_snapshot", pending)
    world.services.snapshot_stores.aws_wait = (0.0, lambda seconds: None)  # no waiting: the bound is hit
    scan = scan_now(world, instance_id)
    assert (scan.status, scan.reason) == ("FAILED", "INTERNAL_ERROR") and "not completed" in scan.detail
    assert _tagged_snapshots(moto) == []


# a fleet service in another process, whose scan stops once its EBS snapshots are completed, until killed
HELD_CHILD = textwrap.dedent(
    """
    import sys
    from tests.scanning.fleetkit import FakeAccounts, FakeClock, RecordingFindings
    from vigil.advisories.store import AdvisoryDB
    from vigil.fleet.providers.aws.snapshots import AwsSnapshots
    from vigil.scanning.services import FleetServices
    from vigil.store.engine import make_engine, session_factory

    waited = AwsSnapshots._wait

    def held(self, ec2, snapshot_ids):
        waited(self, ec2, snapshot_ids)
        print("snapshotted", flush=True)
        sys.stdin.readline()  # until killed

    AwsSnapshots._wait = held
    url, advisories, snapshots, scan_id = sys.argv[1:]
    services = FleetServices(session_factory(make_engine(url)), FakeClock(), FakeAccounts(), RecordingFindings(),
                             AdvisoryDB(advisories, readonly=True), snapshots_dir=snapshots, region="us-east-1")
    services.scanner.run(scan_id)
    """
)


def test_a_server_killed_mid_scan_leaves_snapshots_the_sweeper_deletes(
    world, fleet_engine, moto, snapshot_images, demo_disk, tmp_path
):
    instance_id = _fleet(world, moto, snapshot_images, demo_disk, tmp_path)
    scan = world.services.scans.queue(ACCOUNT, instance_id, "schedule", world.clock())
    url = fleet_engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    child = subprocess.Popen(
        [sys.executable, "-c", HELD_CHILD, url, str(world.advisories.path), str(world.snapshots), scan.scan_id],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready, "the child never took its snapshots"
        assert child.stdout.readline() == b"snapshotted\n", child.stderr.read().decode()
        assert len(_tagged_snapshots(moto)) == 1  # its root volume's, tagged with its scan
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert len(_tagged_snapshots(moto)) == 1  # what a crash leaves in the account

    world.scheduler.start()  # the server runs again: sweep at start
    world.scheduler.stop()
    assert _tagged_snapshots(moto) == []
    ended = world.services.scans.get(scan.scan_id)
    assert (ended.status, ended.reason) == ("FAILED", "INTERNAL_ERROR") and "interrupted" in ended.detail
