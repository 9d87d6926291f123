"""Coverage: for each instance, whether it is scanned, how, and if not, why (DESIGN §3.4, §3.6).

Pure rules over an instance's record, its account's scan mode and whether a scan of it is running. Every
reason that applies without an agent is here, each given when and only when its rule holds; the agent-based
ones (NO_INVENTORY, STALE_INVENTORY, DEEP_INSPECTION_NO_INVENTORY) come with the agent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from vigil.findings.model import epoch
from vigil.fleet.instances import SUCCEEDED, InstanceRecord
from vigil.fleet.model import Instance, InstanceState, Platform

HYBRID = "EC2_HYBRID"
AGENT_BASED = "EC2_SSM_AGENT_BASED"
AGENTLESS = "EC2_AGENTLESS"  # a covered resource's scanMode when agentless scans cover it
ACTIVE, INACTIVE = "ACTIVE", "INACTIVE"
EC2_INSTANCE = "AWS_EC2_INSTANCE"
PACKAGE = "PACKAGE"

MAX_VOLUMES = 7  # fewer than 8 attached volumes
MAX_TOTAL_GIB = 1200

PENDING_INITIAL_SCAN = "PENDING_INITIAL_SCAN"
SUCCESSFUL = "SUCCESSFUL"
SCAN_IN_PROGRESS = "SCAN_IN_PROGRESS"
UNMANAGED_EC2_INSTANCE = "UNMANAGED_EC2_INSTANCE"
EXCLUDED_BY_TAG = "EXCLUDED_BY_TAG"
UNSUPPORTED_OS = "UNSUPPORTED_OS"
EC2_INSTANCE_STOPPED = "EC2_INSTANCE_STOPPED"
RESOURCE_TERMINATED = "RESOURCE_TERMINATED"
STORAGE_LIMIT_EXCEEDED = "AGENTLESS_INSTANCE_STORAGE_LIMIT_EXCEEDED"
TIME_LIMIT_EXCEEDED = "AGENTLESS_INSTANCE_COLLECTION_TIME_LIMIT_EXCEEDED"
ACCESS_DENIED_TO_ENCRYPTION_KEY = "ACCESS_DENIED_TO_ENCRYPTION_KEY"
PACKAGE_LIMIT_EXCEEDED = "DEEP_INSPECTION_PACKAGE_COLLECTION_LIMIT_EXCEEDED"
INTERNAL_ERROR = "INTERNAL_ERROR"

# reasons for which the instance's findings are closed (and purged after 3 days); a stopped instance, a scan
# that failed for a passing reason (a key, the time limit, an error of Vigil's) keep theirs
CLOSING_REASONS = frozenset(
    {RESOURCE_TERMINATED, EXCLUDED_BY_TAG, UNSUPPORTED_OS, STORAGE_LIMIT_EXCEEDED, UNMANAGED_EC2_INSTANCE}
)
_ACTIVE_REASONS = frozenset({PENDING_INITIAL_SCAN, SUCCESSFUL, SCAN_IN_PROGRESS, PACKAGE_LIMIT_EXCEEDED})


def agentless_ineligibility(instance: Instance) -> str | None:
    """Why the instance's description rules out agentless scanning (None: it is eligible), before any
    scan: the exclusion tag, a platform other than Linux, no disk, or the storage limit."""
    if instance.excluded:
        return EXCLUDED_BY_TAG
    if instance.platform is not Platform.LINUX or not instance.volumes:
        return UNSUPPORTED_OS
    too_many = len(instance.volumes) > MAX_VOLUMES
    if too_many or sum(v.size_gib for v in instance.volumes) > MAX_TOTAL_GIB:
        return STORAGE_LIMIT_EXCEEDED
    return None


def scan_mode_of(account_mode: str) -> str:
    """The covered resource's scanMode under the account's configuration (no agents exist yet)."""
    return AGENT_BASED if account_mode == AGENT_BASED else AGENTLESS


@dataclass(frozen=True, slots=True)
class Coverage:
    """One covered resource (`CoveredResource`): an instance, for scan type PACKAGE."""

    record: InstanceRecord
    status_code: str
    reason: str
    scan_mode: str

    @property
    def instance(self) -> Instance:
        return self.record.instance

    @property
    def last_scanned_at(self) -> dt.datetime | None:
        return self.record.last_scanned_at

    def to_json(self) -> dict[str, Any]:
        """Inspector's `CoveredResource`, timestamps as epoch seconds (rest-json's form)."""
        instance = self.instance
        ec2: dict[str, Any] = {"tags": dict(instance.tags), "platform": instance.platform.value}
        if instance.image_id:
            ec2["amiId"] = instance.image_id
        data: dict[str, Any] = {
            "resourceType": EC2_INSTANCE,
            "resourceId": instance.instance_id,
            "accountId": instance.account_id,
            "scanType": PACKAGE,
            "scanStatus": {"statusCode": self.status_code, "reason": self.reason},
            "resourceMetadata": {"ec2": ec2},
            "scanMode": self.scan_mode,
        }
        if self.last_scanned_at is not None:
            data["lastScannedAt"] = epoch(self.last_scanned_at)
        return data


def coverage_of(record: InstanceRecord, account_mode: str, *, scanning: bool) -> Coverage:
    """The instance's coverage, given its account's scan mode and whether an agentless scan of it runs."""
    reason = _reason(record, account_mode, scanning)
    status = ACTIVE if reason in _ACTIVE_REASONS else INACTIVE
    return Coverage(record, status, reason, scan_mode_of(account_mode))


def _reason(record: InstanceRecord, account_mode: str, scanning: bool) -> str:
    instance = record.instance
    if instance.state is InstanceState.TERMINATED:
        return RESOURCE_TERMINATED
    if instance.excluded:
        return EXCLUDED_BY_TAG
    if instance.state is InstanceState.STOPPED:
        return EC2_INSTANCE_STOPPED
    if account_mode == AGENT_BASED:
        return UNMANAGED_EC2_INSTANCE  # agent-based scanning needs an agent, and no instance has one yet
    ineligible = agentless_ineligibility(instance)
    if ineligible is not None:
        return ineligible
    if scanning:
        return SCAN_IN_PROGRESS
    if record.scan_reason is None:
        return PENDING_INITIAL_SCAN
    return record.scan_reason


def is_due(record: InstanceRecord, now: dt.datetime, *, every: dt.timedelta, retry: dt.timedelta) -> bool:
    """Whether the instance's next agentless scan is due: never scanned, changed since its last scan, its
    last scan older than `every` (24 h), or a scan that failed for a reason of Vigil's older than `retry`."""
    started = record.scan_started_at
    if started is None or record.changed_at > started:
        return True
    if record.scan_outcome != SUCCEEDED and record.scan_reason == INTERNAL_ERROR:
        return now - started >= retry
    return now - started >= every
