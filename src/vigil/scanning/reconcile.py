"""After discovery or a scan: what an instance's coverage now means for its findings and its usage.

An instance that became terminated or excluded by tag has its findings closed once, one that became
ineligible or unmanaged its package findings (the findings service purges them after 3 days); a stopped one
keeps them. Usage is metered from the same
coverage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy.orm import Session, sessionmaker

from vigil.fleet.ports import FindingsRecorder
from vigil.scanning.coverage import CLOSING_REASONS, EXCLUDED_BY_TAG, RESOURCE_TERMINATED
from vigil.scanning.coverage_service import CoverageService
from vigil.scanning.usage import meter
from vigil.store.engine import transaction
from vigil.store.fleet import InstanceRow


def reconcile(
    sessions: sessionmaker[Session],
    coverage: CoverageService,
    findings: FindingsRecorder,
    account_id: str,
    now: dt.datetime,
    *,
    instance_ids: Collection[str] | None = None,
) -> list[tuple[str, str]]:
    """Bring the account's instances (or only these) in line with their coverage; returns the
    (instance id, reason) of those whose findings were closed now."""
    covered = coverage.covered([account_id], instance_ids=instance_ids)
    closing = [
        (c.instance.instance_id, c.reason)
        for c in covered
        if c.reason in CLOSING_REASONS and c.record.closed_reason != c.reason
    ]
    for instance_id, reason in closing:
        # gone or excluded: every finding; not scannable for packages (OS, storage, agent): those alone
        packages_only = reason not in (RESOURCE_TERMINATED, EXCLUDED_BY_TAG)
        findings.close_instance(account_id, instance_id, now, reason=reason, packages_only=packages_only)
    with transaction(sessions) as session:
        for instance_id, reason in closing:
            row = session.get(InstanceRow, (account_id, instance_id))
            if row is not None:
                row.closed_reason = reason
        meter(session, covered, now, whole_accounts=[account_id] if instance_ids is None else [])
    return closing
