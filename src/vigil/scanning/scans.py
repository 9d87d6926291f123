"""The scan log: every agentless scan from its request to its end, and what its end means for the instance.

A scan is QUEUED when asked for, RUNNING once a worker takes it, then SUCCEEDED, FAILED (with the coverage
reason it gives) or CANCELLED. At most one scan of an instance is queued or running at a time. Each process
that runs scans has a `runner` id: scans a process left unfinished (killed) are ended as interrupted by the
next one that starts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from vigil.fleet.instances import FAILED, SUCCEEDED
from vigil.store.engine import transaction
from vigil.store.fleet import InstanceRow
from vigil.store.scans import ScanRow

QUEUED, RUNNING, CANCELLED = "QUEUED", "RUNNING", "CANCELLED"
UNFINISHED = (QUEUED, RUNNING)
INTERRUPTED = "interrupted: the server stopped before the scan ended"


class ScanConflict(Exception):
    """A scan of the instance is already queued or running."""

    def __init__(self, scan_id: str) -> None:
        super().__init__(f"scan {scan_id} of this instance is already queued or running")
        self.scan_id = scan_id


@dataclass(frozen=True, slots=True)
class ScanRecord:
    scan_id: str
    account_id: str
    instance_id: str
    trigger: str
    status: str
    reason: str | None
    detail: str | None
    snapshots: tuple[dict[str, Any], ...]
    requested_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    inventory_hash: str | None
    packages: int | None
    findings: int | None

    @classmethod
    def of(cls, row: ScanRow) -> ScanRecord:
        return cls(
            row.scan_id, row.account_id, row.instance_id, row.trigger, row.status, row.reason, row.detail,
            tuple(row.snapshots), row.requested_at, row.started_at, row.finished_at, row.inventory_hash,
            row.packages, row.findings,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        def iso(moment: dt.datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "scanId": self.scan_id,
            "accountId": self.account_id,
            "instanceId": self.instance_id,
            "trigger": self.trigger,
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail,
            "snapshots": list(self.snapshots),
            "requestedAt": iso(self.requested_at),
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            "inventoryHash": self.inventory_hash,
            "packages": self.packages,
            "findings": self.findings,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a scan ended; `reason` is the coverage reason it gives (SUCCESSFUL, UNSUPPORTED_OS, …)."""

    status: str  # SUCCEEDED | FAILED | CANCELLED
    reason: str | None = None
    detail: str | None = None
    inventory_hash: str | None = None
    packages: int | None = None
    findings: int | None = None


class ScanLog:
    """The scans of the store, as one process (`runner`) sees and changes them."""

    def __init__(self, sessions: sessionmaker[Session], runner: str | None = None) -> None:
        self.sessions = sessions
        self.runner = runner or uuid.uuid4().hex

    def queue(self, account_id: str, instance_id: str, trigger: str, now: dt.datetime) -> ScanRecord:
        """A new scan of the instance, QUEUED; `ScanConflict` when one is queued or running."""
        with transaction(self.sessions) as session:
            existing = session.scalars(
                select(ScanRow.scan_id).where(
                    ScanRow.account_id == account_id,
                    ScanRow.instance_id == instance_id,
                    ScanRow.status.in_(UNFINISHED),
                )
            ).first()
            if existing is not None:
                raise ScanConflict(existing)
            row = ScanRow(
                scan_id=str(uuid.uuid4()), account_id=account_id, instance_id=instance_id, trigger=trigger,
                status=QUEUED, runner=self.runner, snapshots=[], requested_at=now,
            )  # fmt: skip
            session.add(row)
            session.flush()
            return ScanRecord.of(row)

    def start(self, scan_id: str, now: dt.datetime) -> ScanRecord | None:
        """QUEUED → RUNNING, taken by this runner; None when the scan is no longer queued."""
        with transaction(self.sessions) as session:
            row = session.get(ScanRow, scan_id)
            if row is None or row.status != QUEUED:
                return None
            row.status, row.started_at, row.runner = RUNNING, now, self.runner
            return ScanRecord.of(row)

    def note_snapshots(self, scan_id: str, snapshots: list[dict[str, Any]]) -> None:
        with transaction(self.sessions) as session:
            row = session.get(ScanRow, scan_id)
            if row is not None:
                row.snapshots = snapshots

    def finish(self, scan_id: str, outcome: Outcome, now: dt.datetime) -> ScanRecord:
        """End the scan; a scan that succeeded or failed becomes the instance's last scan."""
        with transaction(self.sessions) as session:
            row = session.get(ScanRow, scan_id)
            if row is None:
                raise LookupError(f"no scan {scan_id}")
            row.status, row.reason, row.detail = outcome.status, outcome.reason, _clip(outcome.detail)
            row.finished_at = now
            row.inventory_hash, row.packages, row.findings = (
                outcome.inventory_hash, outcome.packages, outcome.findings,
            )  # fmt: skip
            if outcome.status in (SUCCEEDED, FAILED):
                self._on_instance(session, row, outcome, now)
            return ScanRecord.of(row)

    @staticmethod
    def _on_instance(session: Session, row: ScanRow, outcome: Outcome, now: dt.datetime) -> None:
        instance = session.get(InstanceRow, (row.account_id, row.instance_id))
        if instance is None:
            return
        instance.scan_started_at = row.started_at or now
        instance.scan_outcome, instance.scan_reason = outcome.status, outcome.reason
        if outcome.status == SUCCEEDED:
            instance.last_scanned_at = now
            instance.inventory_hash = outcome.inventory_hash

    def get(self, scan_id: str) -> ScanRecord | None:
        with self.sessions() as session:
            row = session.get(ScanRow, scan_id)
            return None if row is None else ScanRecord.of(row)

    def history(
        self,
        account_ids: Collection[str],
        *,
        instance_id: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> list[ScanRecord]:
        """The accounts' scans, newest first (ties by id), from after `after` = (requested_at, scan id)."""
        query = select(ScanRow).where(ScanRow.account_id.in_(sorted(account_ids)))
        if instance_id is not None:
            query = query.where(ScanRow.instance_id == instance_id)
        if after is not None:
            moment = dt.datetime.fromisoformat(after[0])
            query = query.where(tuple_(ScanRow.requested_at, ScanRow.scan_id) < (moment, after[1]))
        query = query.order_by(ScanRow.requested_at.desc(), ScanRow.scan_id.desc()).limit(limit)
        with self.sessions() as session:
            return [ScanRecord.of(row) for row in session.scalars(query)]

    @staticmethod
    def running(session: Session, statuses: tuple[str, ...] = (RUNNING,)) -> set[tuple[str, str]]:
        """(account, instance) of every scan running now (or in one of these statuses)."""
        rows = session.execute(
            select(ScanRow.account_id, ScanRow.instance_id).where(ScanRow.status.in_(statuses))
        )
        return {(a, i) for a, i in rows}

    def unfinished(self) -> set[str]:
        """The ids of this runner's queued and running scans."""
        with self.sessions() as session:
            return set(
                session.scalars(
                    select(ScanRow.scan_id).where(
                        ScanRow.status.in_(UNFINISHED), ScanRow.runner == self.runner
                    )
                )
            )

    def interrupt_others(self, now: dt.datetime) -> list[str]:
        """End the queued and running scans of runners that are gone (an earlier process of the server):
        FAILED with INTERNAL_ERROR, so that the instance is scanned again by itself."""
        with transaction(self.sessions) as session:
            rows = list(
                session.scalars(
                    select(ScanRow).where(ScanRow.status.in_(UNFINISHED), ScanRow.runner != self.runner)
                )
            )
            ids = [row.scan_id for row in rows]
        for scan_id in ids:
            self.finish(scan_id, Outcome(FAILED, "INTERNAL_ERROR", INTERRUPTED), now)
        return ids

    def cancel_queued(self, scan_id: str, now: dt.datetime) -> bool:
        """Cancel a scan nobody has started; False when it is not queued."""
        with transaction(self.sessions) as session:
            result = session.execute(
                update(ScanRow)
                .where(ScanRow.scan_id == scan_id, ScanRow.status == QUEUED)
                .values(status=CANCELLED, finished_at=now, detail="cancelled before it started")
            )
            return bool(getattr(result, "rowcount", 0))


def _clip(text: str | None) -> str | None:
    return text if text is None or len(text) <= 2048 else text[:2047] + "…"
