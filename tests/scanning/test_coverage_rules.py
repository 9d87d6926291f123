"""Every coverage reason that applies without an agent, each given when and only when its rule holds."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from tests.scanning.fleetkit import ACCOUNT, T0

from vigil.fleet.instances import FAILED, SUCCEEDED, InstanceRecord
from vigil.fleet.model import Instance, InstanceState, Platform, Volume
from vigil.scanning import coverage as cov

HOUR = dt.timedelta(hours=1)


def _record(*, state=InstanceState.RUNNING, tags=None, platform=Platform.LINUX, volumes=None, **scan):
    instance = Instance(
        ACCOUNT, "i-0a1b2c3d4e5f60001", state, platform, tags=tags or {},
        volumes=tuple(volumes if volumes is not None else [Volume("vol-01", "/dev/xvda", 8)]),
    )  # fmt: skip
    fields = {"scan_started_at": None, "scan_outcome": None, "scan_reason": None, **scan}
    return InstanceRecord(instance, T0, T0, None, False, last_scanned_at=None, inventory_hash=None,
                          closed_reason=None, **fields)  # fmt: skip


def _coverage(record, mode=cov.HYBRID, scanning=False):
    found = cov.coverage_of(record, mode, scanning=scanning)
    return found.status_code, found.reason


def _volumes(count, size):
    return [Volume(f"vol-{i}", f"/dev/xvd{chr(97 + i)}", size) for i in range(count)]


def _ended(outcome, reason):
    """An instance whose last scan ended so."""
    return _record(scan_started_at=T0, scan_outcome=outcome, scan_reason=reason)


SCANNED = {"scan_started_at": T0, "scan_outcome": SUCCEEDED, "scan_reason": cov.SUCCESSFUL}


@pytest.mark.parametrize(
    ("record", "mode", "scanning", "expected"),
    [
        (_record(), cov.HYBRID, False, ("ACTIVE", "PENDING_INITIAL_SCAN")),
        (_record(state=InstanceState.PENDING), cov.HYBRID, False, ("ACTIVE", "PENDING_INITIAL_SCAN")),
        (_record(**SCANNED), cov.HYBRID, False, ("ACTIVE", "SUCCESSFUL")),
        (_record(**SCANNED), cov.HYBRID, True, ("ACTIVE", "SCAN_IN_PROGRESS")),
        (_record(), cov.AGENT_BASED, False, ("INACTIVE", "UNMANAGED_EC2_INSTANCE")),
        (_record(tags={"InspectorEc2Exclusion": ""}), cov.HYBRID, True, ("INACTIVE", "EXCLUDED_BY_TAG")),
        (_record(platform=Platform.WINDOWS), cov.HYBRID, False, ("INACTIVE", "UNSUPPORTED_OS")),
        (_record(volumes=[]), cov.HYBRID, False, ("INACTIVE", "UNSUPPORTED_OS")),
        (
            _record(state=InstanceState.STOPPED, **SCANNED),
            cov.HYBRID,
            False,
            ("INACTIVE", "EC2_INSTANCE_STOPPED"),
        ),
        (
            _record(state=InstanceState.TERMINATED, tags={"InspectorEc2Exclusion": ""}),
            cov.HYBRID,
            False,
            ("INACTIVE", "RESOURCE_TERMINATED"),
        ),
        (
            _record(volumes=_volumes(8, 1)),
            cov.HYBRID,
            False,
            ("INACTIVE", "AGENTLESS_INSTANCE_STORAGE_LIMIT_EXCEEDED"),
        ),
        (
            _record(volumes=_volumes(7, 172)),
            cov.HYBRID,
            False,
            ("INACTIVE", "AGENTLESS_INSTANCE_STORAGE_LIMIT_EXCEEDED"),
        ),
        (_record(volumes=_volumes(7, 1)), cov.HYBRID, False, ("ACTIVE", "PENDING_INITIAL_SCAN")),
        (_record(volumes=_volumes(4, 300)), cov.HYBRID, False, ("ACTIVE", "PENDING_INITIAL_SCAN")),
        (
            _ended(FAILED, cov.TIME_LIMIT_EXCEEDED),
            cov.HYBRID,
            False,
            ("INACTIVE", "AGENTLESS_INSTANCE_COLLECTION_TIME_LIMIT_EXCEEDED"),
        ),
        (
            _ended(FAILED, cov.ACCESS_DENIED_TO_ENCRYPTION_KEY),
            cov.HYBRID,
            False,
            ("INACTIVE", "ACCESS_DENIED_TO_ENCRYPTION_KEY"),
        ),
        (_ended(FAILED, cov.INTERNAL_ERROR), cov.HYBRID, False, ("INACTIVE", "INTERNAL_ERROR")),
        (
            _ended(SUCCEEDED, cov.PACKAGE_LIMIT_EXCEEDED),
            cov.HYBRID,
            False,
            ("ACTIVE", "DEEP_INSPECTION_PACKAGE_COLLECTION_LIMIT_EXCEEDED"),
        ),
    ],
)
def test_each_reason_when_and_only_when_its_rule_holds(record, mode, scanning, expected):
    assert _coverage(record, mode, scanning) == expected


def test_the_scan_mode_of_a_covered_instance_follows_its_accounts_configuration():
    assert cov.coverage_of(_record(), cov.HYBRID, scanning=False).scan_mode == "EC2_AGENTLESS"
    assert cov.coverage_of(_record(), cov.AGENT_BASED, scanning=False).scan_mode == "EC2_SSM_AGENT_BASED"


def test_a_scan_is_due_when_new_changed_a_day_old_or_an_hour_after_an_error_of_vigils():
    every, retry = 24 * HOUR, HOUR
    assert cov.is_due(_record(), T0, every=every, retry=retry)
    scanned = _record(**SCANNED)
    assert not cov.is_due(scanned, T0 + 23 * HOUR, every=every, retry=retry)
    assert cov.is_due(scanned, T0 + 24 * HOUR, every=every, retry=retry)
    assert cov.is_due(dataclasses.replace(scanned, changed_at=T0 + HOUR), T0 + HOUR, every=every, retry=retry)
    failed = _ended(FAILED, cov.INTERNAL_ERROR)
    assert not cov.is_due(failed, T0 + 59 * dt.timedelta(minutes=1), every=every, retry=retry)
    assert cov.is_due(failed, T0 + HOUR, every=every, retry=retry)
    denied = _ended(FAILED, cov.ACCESS_DENIED_TO_ENCRYPTION_KEY)
    assert not cov.is_due(denied, T0 + 2 * HOUR, every=every, retry=retry)
