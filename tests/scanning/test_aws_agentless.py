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

import shutil
from pathlib import Path

import pytest
from tests.scanning.fleetkit import ACCOUNT, coverage_of, scan_now
from tests.support.moto import REGION, aws_client, moto, moto_server, snapshot_images

from vigil.demo import build_demo_image
from vigil.fleet.model import SCAN_TAG
from vigil.scanning import tasks
from vigil.scanning.operations import FleetOperations

CURL_FIXED_BY_DSA = "CVE-2022-32221"
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

    instance_id = _fleet(world, moto, snapshot_images, demo_disk, tmp_path)
    real = EBSBackend.get_snapshot_block

    def failing(backend, snapshot_id, block_index):
        block = real(backend, snapshot_id, block_index)
        if block_index > 2:  # the partition table reads, the filesystems do not
            block.checksum = "AAAA" + block.checksum[4:]  # a damaged block, every time it is asked for
        return block

    monkeypatch.setattr(EBSBackend, "get_snapshot_block", failing)
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
