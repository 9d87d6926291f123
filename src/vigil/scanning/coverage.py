"""Coverage: for each instance, whether it is scanned, how, and if not, why (DESIGN §3.4, §3.6).

Pure rules over an instance's record, its agent (if one registered), its account's scan mode and deep
inspection, whether a scan of it is running, and the time. Each reason is given when and only when its rule
holds:

- an agent whose last inventory is fresh (under 7 days) makes the instance agent-based in either mode
  (`EC2_SSM_AGENT_BASED`), its deep inspection's state the reason (DEEP_INSPECTION_*) when it is activated;
- in `EC2_SSM_AGENT_BASED` mode any other instance is INACTIVE: no agent (UNMANAGED_EC2_INSTANCE), no
  inventory ever (NO_INVENTORY), none for 7 days (STALE_INVENTORY);
- in `EC2_HYBRID` mode they fall back to agentless scans where eligible; a managed instance agentless scans
  cannot cover keeps its agent's reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from vigil.findings.model import epoch
from vigil.fleet.agents import STALE_AFTER, AgentState
from vigil.fleet.instances import SUCCEEDED, InstanceRecord
from vigil.fleet.model import Instance, InstanceState, Platform

HYBRID = "EC2_HYBRID"
AGENT_BASED = "EC2_SSM_AGENT_BASED"
AGENTLESS = "EC2_AGENTLESS"  # a covered resource's scanMode when agentless scans cover it
ACTIVE, INACTIVE = "ACTIVE", "INACTIVE"
EC2_INSTANCE = "AWS_EC2_INSTANCE"
PACKAGE = "PACKAGE"
NETWORK = "NETWORK"

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
DEEP_TIME_LIMIT_EXCEEDED = "DEEP_INSPECTION_COLLECTION_TIME_LIMIT_EXCEEDED"
DEEP_INSPECTION_NO_INVENTORY = "DEEP_INSPECTION_NO_INVENTORY"
NO_INVENTORY = "NO_INVENTORY"
STALE_INVENTORY = "STALE_INVENTORY"
INTERNAL_ERROR = "INTERNAL_ERROR"

# reasons for which the instance's findings are closed (and purged after 3 days); a stopped instance, a scan
# that failed for a passing reason (a key, the time limit, an error of Vigil's) keep theirs
CLOSING_REASONS = frozenset(
    {RESOURCE_TERMINATED, EXCLUDED_BY_TAG, UNSUPPORTED_OS, STORAGE_LIMIT_EXCEEDED, UNMANAGED_EC2_INSTANCE}
)
_ACTIVE_REASONS = frozenset(
    {
        PENDING_INITIAL_SCAN,
        SUCCESSFUL,
        SCAN_IN_PROGRESS,
        PACKAGE_LIMIT_EXCEEDED,
        DEEP_TIME_LIMIT_EXCEEDED,
        DEEP_INSPECTION_NO_INVENTORY,
    }
)
_DEEP_LIMITS = {"package_count": PACKAGE_LIMIT_EXCEEDED, "collection_time": DEEP_TIME_LIMIT_EXCEEDED}


def agentless_ineligibility(instance: Instance) -> str | None:
    """Why the instance's description rules out agentless scanning (None: it is eligible), before any
    scan: the exclusion tag, a platform other than Linux, no disk or a root disk that is not EBS-backed (an
    instance store has no snapshot), or the storage limit."""
    if instance.excluded:
        return EXCLUDED_BY_TAG
    if instance.platform is not Platform.LINUX or not instance.volumes or instance.root_device_type != "ebs":
        return UNSUPPORTED_OS
    too_many = len(instance.volumes) > MAX_VOLUMES
    if too_many or sum(v.size_gib for v in instance.volumes) > MAX_TOTAL_GIB:
        return STORAGE_LIMIT_EXCEEDED
    return None


@dataclass(frozen=True, slots=True)
class Coverage:
    """One covered resource (`CoveredResource`): an instance, for scan type PACKAGE or NETWORK (where its
    network is described: `network_coverage`)."""

    record: InstanceRecord
    status_code: str
    reason: str
    scan_mode: str | None  # None for NETWORK: no mode scans a network
    scan_type: str = PACKAGE
    scanned_at: dt.datetime | None = None  # NETWORK: the last analysis

    @property
    def instance(self) -> Instance:
        return self.record.instance

    @property
    def last_scanned_at(self) -> dt.datetime | None:
        return self.scanned_at if self.scan_type == NETWORK else self.record.last_scanned_at

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
            "scanType": self.scan_type,
            "scanStatus": {"statusCode": self.status_code, "reason": self.reason},
            "resourceMetadata": {"ec2": ec2},
        }
        if self.scan_mode is not None:
            data["scanMode"] = self.scan_mode
        if self.last_scanned_at is not None:
            data["lastScannedAt"] = epoch(self.last_scanned_at)
        return data


def coverage_of(
    record: InstanceRecord,
    account_mode: str,
    *,
    scanning: bool,
    agent: AgentState | None = None,
    deep_inspection: bool = False,
    now: dt.datetime | None = None,
) -> Coverage:
    """The instance's coverage, given its account's scan mode and deep inspection, its agent, whether an
    agentless scan of it runs, and the time (`now`, which makes an agent's inventory fresh or stale)."""
    mode, reason = _reason(record, account_mode, scanning, agent, deep_inspection, now)
    status = ACTIVE if reason in _ACTIVE_REASONS else INACTIVE
    return Coverage(record, status, reason, mode)


def network_coverage(record: InstanceRecord, analyzed_at: dt.datetime | None) -> Coverage:
    """The instance's NETWORK coverage, where its provider describes its network: ACTIVE once analysed while
    it runs (`analyzed_at`: the analysis that covered it), INACTIVE when terminated, excluded or stopped."""
    instance = record.instance
    if instance.state is InstanceState.TERMINATED:
        reason = RESOURCE_TERMINATED
    elif instance.excluded:
        reason = EXCLUDED_BY_TAG
    elif instance.state is InstanceState.STOPPED:
        reason = EC2_INSTANCE_STOPPED
    else:
        reason = SUCCESSFUL if analyzed_at is not None else PENDING_INITIAL_SCAN
    status = ACTIVE if reason in _ACTIVE_REASONS else INACTIVE
    return Coverage(record, status, reason, None, NETWORK, analyzed_at)


def agent_based(agent: AgentState | None, now: dt.datetime | None) -> bool:
    """Whether the instance's agent keeps it scanned: its last inventory is under 7 days old."""
    return agent is not None and now is not None and agent.fresh(now)


def _reason(
    record: InstanceRecord,
    account_mode: str,
    scanning: bool,
    agent: AgentState | None,
    deep_inspection: bool,
    now: dt.datetime | None,
) -> tuple[str, str]:
    instance = record.instance
    managed_mode = AGENT_BASED if agent is not None or account_mode == AGENT_BASED else AGENTLESS
    if instance.state is InstanceState.TERMINATED:
        return managed_mode, RESOURCE_TERMINATED
    if instance.excluded:
        return managed_mode, EXCLUDED_BY_TAG
    if instance.state is InstanceState.STOPPED:
        return managed_mode, EC2_INSTANCE_STOPPED
    if agent is not None and agent_based(agent, now):
        return AGENT_BASED, _deep_inspection_reason(agent, deep_inspection)
    agent_reason = (
        UNMANAGED_EC2_INSTANCE
        if agent is None
        else NO_INVENTORY
        if agent.inventory_at is None
        else STALE_INVENTORY
    )
    if account_mode == AGENT_BASED:
        return AGENT_BASED, agent_reason
    ineligible = agentless_ineligibility(instance)
    if ineligible is not None:
        return (AGENT_BASED, agent_reason) if agent is not None else (AGENTLESS, ineligible)
    if scanning:
        return AGENTLESS, SCAN_IN_PROGRESS
    if record.scan_reason is None:
        return AGENTLESS, PENDING_INITIAL_SCAN
    return AGENTLESS, record.scan_reason


def _deep_inspection_reason(agent: AgentState, deep_inspection: bool) -> str:
    if not deep_inspection:
        return SUCCESSFUL
    if agent.full_at is None:
        return DEEP_INSPECTION_NO_INVENTORY
    for limit in agent.full_limits:
        if limit in _DEEP_LIMITS:
            return _DEEP_LIMITS[limit]
    return SUCCESSFUL


def fallback_due(agent: AgentState | None, record: InstanceRecord, now: dt.datetime) -> bool:
    """Whether an instance whose agent went silent has not been scanned agentlessly since (hybrid mode
    falls back to agentless scans then, without waiting for the 24-hour round)."""
    if agent is None or agent.inventory_at is None:
        return False
    stale_since = agent.inventory_at + STALE_AFTER
    started = record.scan_started_at
    return now >= stale_since and (started is None or started < stale_since)


def is_due(record: InstanceRecord, now: dt.datetime, *, every: dt.timedelta, retry: dt.timedelta) -> bool:
    """Whether the instance's next agentless scan is due: never scanned, changed since its last scan, its
    last scan older than `every` (24 h), or a scan that failed for a reason of Vigil's older than `retry`."""
    started = record.scan_started_at
    if started is None or record.changed_at > started:
        return True
    if record.scan_outcome != SUCCEEDED and record.scan_reason == INTERNAL_ERROR:
        return now - started >= retry
    return now - started >= every
