"""Usage: the hours each instance was actively covered, by usage type, over the last 30 days
(`ListUsageTotals`). An excluded, stopped, terminated or otherwise inactive instance is not counted
(DESIGN §3.5). Self-hosted scanning costs nothing: the estimated monthly cost is 0 USD."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import Clock
from vigil.scanning.coverage import ACTIVE, AGENTLESS, Coverage
from vigil.store.fleet import UsagePeriodRow

WINDOW = dt.timedelta(days=30)
AGENTLESS_HOURS = "EC2_AGENTLESS_INSTANCE_HOURS"
AGENT_HOURS = "EC2_INSTANCE_HOURS"


def usage_type(coverage: Coverage) -> str | None:
    """What an instance's coverage is metered as now (None: it is not counted)."""
    if coverage.status_code != ACTIVE:
        return None
    return AGENTLESS_HOURS if coverage.scan_mode == AGENTLESS else AGENT_HOURS


def meter(
    session: Session, coverages: Iterable[Coverage], now: dt.datetime, *, whole_accounts: Collection[str] = ()
) -> None:
    """Close each instance's open period when what it is metered as changed, and open the new one.

    `whole_accounts`: accounts whose every instance is among `coverages`; open periods of their other
    instances (gone, or the account no longer enabled) are closed too.
    """
    wanted = {(c.instance.account_id, c.instance.instance_id): usage_type(c) for c in coverages}
    accounts = {account for account, _ in wanted} | set(whole_accounts)
    if not accounts:
        return
    open_rows = session.scalars(
        select(UsagePeriodRow).where(
            UsagePeriodRow.account_id.in_(sorted(accounts)), UsagePeriodRow.ended_at.is_(None)
        )
    )
    current: dict[tuple[str, str], UsagePeriodRow] = {}
    for row in open_rows:
        key = (row.account_id, row.instance_id)
        if key in wanted:
            current[key] = row
        elif row.account_id in whole_accounts:
            row.ended_at = now
    for key, kind in wanted.items():
        open_row = current.get(key)
        if open_row is not None and open_row.usage_type == kind:
            continue
        if open_row is not None:
            open_row.ended_at = now
        if kind is not None:
            account_id, instance_id = key
            session.add(
                UsagePeriodRow(
                    account_id=account_id, instance_id=instance_id, usage_type=kind, started_at=now
                )
            )


@dataclass(frozen=True, slots=True)
class UsageTotal:
    account_id: str
    hours: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """Inspector's `UsageTotal`."""
        return {
            "accountId": self.account_id,
            "usage": [
                {"type": kind, "total": round(total, 4), "estimatedMonthlyCost": 0.0, "currency": "USD"}
                for kind, total in sorted(self.hours.items())
            ],
        }


def totals(session: Session, account_ids: Collection[str], now: dt.datetime) -> list[UsageTotal]:
    """Each account's metered hours over the 30 days before `now`, in account order."""
    since = now - WINDOW
    rows = session.scalars(
        select(UsagePeriodRow).where(
            UsagePeriodRow.account_id.in_(sorted(account_ids)),
            or_(UsagePeriodRow.ended_at.is_(None), UsagePeriodRow.ended_at > since),
        )
    )
    hours: dict[str, dict[str, float]] = {account: defaultdict(float) for account in account_ids}
    for row in rows:
        start, end = max(row.started_at, since), min(row.ended_at or now, now)
        if end > start:
            hours[row.account_id][row.usage_type] += (end - start).total_seconds() / 3600
    return [UsageTotal(account, dict(hours[account])) for account in sorted(account_ids)]


def forget(session: Session, now: dt.datetime) -> None:
    """Drop the periods that ended before the 30-day window."""
    for row in session.scalars(select(UsagePeriodRow).where(UsagePeriodRow.ended_at < now - WINDOW)):
        session.delete(row)


class UsageReports:
    """`ListUsageTotals` for the accounts a caller may see."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def totals(self, account_ids: Collection[str]) -> list[UsageTotal]:
        with self.sessions() as session:
            return totals(session, account_ids, self.clock())
