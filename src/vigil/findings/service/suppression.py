"""Suppression: an open finding is SUPPRESSED while a SUPPRESS filter that applies to it matches it, else
ACTIVE. Worked out in the database, with the same compiled criteria `ListFindings` uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import ColumnElement, case, false, or_, select, update
from sqlalchemy.orm import Session

from vigil.findings.service.criteria import parse_criteria, where
from vigil.store.filters import FilterRow
from vigil.store.findings import FindingRow

ACTIVE, SUPPRESSED, CLOSED = "ACTIVE", "SUPPRESSED", "CLOSED"
SUPPRESS = "SUPPRESS"


def suppressing(session: Session, owners: Collection[str]) -> ColumnElement[bool]:
    """The condition that any SUPPRESS filter of these owners matches a finding."""
    documents = session.scalars(
        select(FilterRow.criteria)
        .where(FilterRow.owner_id.in_(sorted(owners)), FilterRow.action == SUPPRESS)
        .order_by(FilterRow.arn)
    ).all()
    return or_(*(where(parse_criteria(d)) for d in documents)) if documents else false()


def suppress(
    session: Session,
    account_id: str,
    owners: Collection[str],
    now: dt.datetime,
    *,
    resource_id: str | None = None,
    resource_ids: Collection[str] | None = None,
    arns: Collection[str] | None = None,
) -> None:
    """Give the account's open findings (or one instance's, some instances', these) the status the owners'
    filters say; a finding whose status changes is updated now."""
    status = case((suppressing(session, owners), SUPPRESSED), else_=ACTIVE)
    scope = [FindingRow.account_id == account_id, FindingRow.status != CLOSED, FindingRow.status != status]
    if resource_id is not None:
        scope.append(FindingRow.resource_id == resource_id)
    if resource_ids is not None:
        scope.append(FindingRow.resource_id.in_(sorted(resource_ids)))
    if arns is not None:
        scope.append(FindingRow.arn.in_(sorted(arns)))
    session.execute(update(FindingRow).where(*scope).values(status=status, updated_at=now))
