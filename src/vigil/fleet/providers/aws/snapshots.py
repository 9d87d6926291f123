"""EBS snapshots for agentless scans (DESIGN §3.4): `CreateSnapshots` of an instance's volumes, tagged
`InspectorScan=<scanId>` in the same call, waited for (bounded), read block by block through the EBS direct
APIs (`blocks.SnapshotBlocks`: no volume created, nothing mounted), and deleted by their tag however the scan
ends. The sweeper deletes every snapshot tagged `InspectorScan` whose scan is not running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from vigil.fleet.model import SCAN_TAG, Volume

log = logging.getLogger("vigil.scanning")
WAIT_LIMIT = 30 * 60.0  # a snapshot not completed by then fails the scan (retried later)
POLL_EVERY = 5.0
EBS_SNAPSHOT = "ebs-snapshot"


class SnapshotError(Exception):
    """Snapshots could not be taken or did not complete in time; the scan fails and is retried."""


@dataclass(frozen=True, slots=True)
class TakenSnapshot:
    volume_id: str
    device: str
    snapshot_id: str
    region: str


class Clients(Protocol):
    """What the snapshot code asks of the provider's access (`access.AwsAccess`)."""

    def client(self, service: str, region: str) -> Any: ...


class AwsSnapshots:
    """The EBS snapshots of one account's instances (one `AwsAccess`: its credentials and regions)."""

    def __init__(
        self,
        access: Clients,
        regions: Sequence[str],
        *,
        wait_limit: float = WAIT_LIMIT,
        poll_every: float = POLL_EVERY,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access = access
        self.regions = tuple(regions)
        self.wait_limit = wait_limit
        self.poll_every = poll_every
        self.sleep = sleep
        self.monotonic = monotonic

    def take(
        self,
        scan_id: str,
        instance_id: str,
        region: str,
        volumes: Sequence[Volume],
        excluded: Collection[str],
    ) -> list[TakenSnapshot]:
        """Snapshot the instance's volumes but the `excluded` ones (their KMS key is excluded), all in one
        crash-consistent `CreateSnapshots` tagged with the scan, and wait until they are completed."""
        ec2 = self.access.client("ec2", region)
        wanted = {v.volume_id: v for v in volumes if v.volume_id not in excluded}
        root_excluded = bool(volumes) and volumes[0].volume_id in excluded
        data_excluded = [v.volume_id for v in volumes[1:] if v.volume_id in excluded]
        specification: dict[str, Any] = {"InstanceId": instance_id, "ExcludeBootVolume": root_excluded}
        if data_excluded:
            specification["ExcludeDataVolumeIds"] = data_excluded
        try:
            made = ec2.create_snapshots(
                InstanceSpecification=specification,
                Description=f"Vigil agentless scan {scan_id}",
                TagSpecifications=[
                    {"ResourceType": "snapshot", "Tags": [{"Key": SCAN_TAG, "Value": scan_id}]}
                ],
            )["Snapshots"]
        except (ClientError, BotoCoreError) as exc:
            raise SnapshotError(f"CreateSnapshots of {instance_id}: {_said(exc)}") from exc
        taken, stray = [], []
        for snapshot in made:
            volume = wanted.get(snapshot.get("VolumeId", ""))
            if volume is None:  # a volume left out that the call snapshotted anyway: never read
                stray.append(snapshot["SnapshotId"])
            else:
                taken.append(TakenSnapshot(volume.volume_id, volume.device, snapshot["SnapshotId"], region))
        for snapshot_id in stray:
            self._delete(ec2, snapshot_id)
        missing = sorted(set(wanted) - {t.volume_id for t in taken})
        if missing:
            raise SnapshotError(f"CreateSnapshots of {instance_id} made no snapshot of {', '.join(missing)}")
        self._wait(ec2, [t.snapshot_id for t in taken])
        order = {v.volume_id: i for i, v in enumerate(volumes)}
        return sorted(taken, key=lambda t: order[t.volume_id])

    def _wait(self, ec2: Any, snapshot_ids: list[str]) -> None:
        deadline = self.monotonic() + self.wait_limit
        while True:
            try:
                states = {
                    s["SnapshotId"]: (s.get("State", ""), s.get("StateMessage", ""))
                    for s in ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]
                }
            except (ClientError, BotoCoreError) as exc:
                raise SnapshotError(f"DescribeSnapshots: {_said(exc)}") from exc
            failed = [
                f"{i} ({message or 'error'})" for i, (state, message) in states.items() if state == "error"
            ]
            if failed:
                raise SnapshotError(f"snapshots failed: {', '.join(failed)}")
            if all(states.get(i, ("",))[0] == "completed" for i in snapshot_ids):
                return
            if self.monotonic() >= deadline:
                raise SnapshotError(f"snapshots not completed within {self.wait_limit:g} s")
            self.sleep(self.poll_every)

    def delete(self, scan_id: str) -> list[str]:
        """Delete every snapshot tagged with this scan, in every region of the account."""
        return self._delete_tagged(lambda value: value == scan_id, [scan_id])

    def sweep(self, running: Collection[str]) -> list[str]:
        """Delete every snapshot tagged `InspectorScan` whose scan is not running; returns their scan ids."""
        return self._delete_tagged(lambda value: value not in running, None)

    def _delete_tagged(self, doomed: Callable[[str], bool], values: list[str] | None) -> list[str]:
        swept: set[str] = set()
        for region in self.regions:
            ec2 = self.access.client("ec2", region)
            tag_filter = (
                {"Name": f"tag:{SCAN_TAG}", "Values": values}
                if values
                else {"Name": "tag-key", "Values": [SCAN_TAG]}
            )
            try:
                pages = ec2.get_paginator("describe_snapshots").paginate(
                    OwnerIds=["self"], Filters=[tag_filter]
                )
                found = [s for page in pages for s in page["Snapshots"]]
            except (ClientError, BotoCoreError) as exc:
                log.warning("listing the snapshots tagged %s in %s failed: %s", SCAN_TAG, region, _said(exc))
                continue
            for snapshot in found:
                value = next((t["Value"] for t in snapshot.get("Tags", []) if t["Key"] == SCAN_TAG), "")
                if doomed(value) and self._delete(ec2, snapshot["SnapshotId"]):
                    swept.add(value)
        return sorted(swept)

    @staticmethod
    def _delete(ec2: Any, snapshot_id: str) -> bool:
        try:
            ec2.delete_snapshot(SnapshotId=snapshot_id)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidSnapshot.NotFound":
                return True
            log.warning("deleting snapshot %s failed (the sweeper tries again): %s", snapshot_id, _said(exc))
            return False
        except BotoCoreError as exc:
            log.warning("deleting snapshot %s failed (the sweeper tries again): %s", snapshot_id, _said(exc))
            return False


def _said(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return str(exc)
