"""Findings reports (`CreateFindingsReport`, CSV or JSON) and SBOM exports (`CreateSbomExport`, CycloneDX 1.4
or SPDX 2.3), written under the exports folder by a task the executor runs.

A report is IN_PROGRESS from its request until its task ends it: SUCCEEDED, FAILED with Inspector's error
code, or CANCELLED (the task looks between batches and leaves no file). It covers the accounts its owner could
see when asking. `recover` at start fails the reports a stopped server left unfinished.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import Clock
from vigil.findings.service.criteria import parse_criteria
from vigil.findings.service.errors import InvalidRequest, NotFound
from vigil.findings.service.exports import (
    BucketNotFound,
    destination_parts,
    replacing,
    safe_name,
    target_folder,
    write_csv,
    write_json,
)
from vigil.findings.service.listing import Requester, iter_findings
from vigil.findings.service.resources import parse_resource_criteria
from vigil.fleet.ports import InventorySource
from vigil.inventory.sbom import to_cyclonedx, to_spdx
from vigil.store.engine import transaction
from vigil.store.reports import ReportRow

FINDINGS, SBOM = "FINDINGS", "SBOM"
IN_PROGRESS, SUCCEEDED, FAILED, CANCELLED = "IN_PROGRESS", "SUCCEEDED", "FAILED", "CANCELLED"
FINDINGS_FORMATS = {"CSV": (write_csv, "csv"), "JSON": (write_json, "json")}
SBOM_FORMATS: dict[str, Callable[[Any], str]] = {
    "CYCLONEDX_1_4": lambda inventory: to_cyclonedx(inventory, "1.4"),
    "SPDX_2_3": to_spdx,
}

Submit = Callable[[str], None]
"""Has `ReportsService.run(report_id)` run later by the fleet's executor (a task with one serialisable
argument: threads now, a task engine later)."""


class Cancelled(Exception):
    pass


class ReportsService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        exports: Path,
        inventories: InventorySource,
        submit: Submit,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._exports = exports
        self._inventories = inventories
        self._submit = submit

    def create_findings_report(self, requester: Requester, request: Mapping[str, Any]) -> str:
        report_format = request.get("reportFormat")
        if report_format not in FINDINGS_FORMATS:
            raise InvalidRequest("reportFormat", "CSV or JSON")
        criteria = parse_criteria(request.get("filterCriteria"))
        return self._create(
            requester, FINDINGS, report_format, request.get("s3Destination"), criteria.document
        )

    def create_sbom_export(self, requester: Requester, request: Mapping[str, Any]) -> str:
        report_format = request.get("reportFormat")
        if report_format not in SBOM_FORMATS:
            raise InvalidRequest("reportFormat", "CYCLONEDX_1_4 or SPDX_2_3")
        criteria = parse_resource_criteria(request.get("resourceFilterCriteria")).document
        return self._create(requester, SBOM, report_format, request.get("s3Destination"), criteria)

    def status(self, requester: Requester, kind: str, report_id: Any) -> ReportRow:
        """The report of this kind the caller made (its latest when no id is given)."""
        with self._sessions() as session:
            if report_id is None:
                row = session.scalars(
                    select(ReportRow)
                    .where(ReportRow.owner_id == requester.account_id, ReportRow.kind == kind)
                    .order_by(ReportRow.created_at.desc(), ReportRow.report_id)
                    .limit(1)
                ).first()
            else:
                row = _owned(session, requester, kind, report_id)
        if row is None:
            raise NotFound("no report")
        return row

    def cancel(self, requester: Requester, kind: str, report_id: Any) -> str:
        """Cancel an unfinished report (a finished one stays as it ended)."""
        with transaction(self._sessions) as session:
            row = _owned(session, requester, kind, report_id)
            if row is None:
                raise NotFound(f"no report {report_id}")
            if row.status == IN_PROGRESS:
                row.status, row.finished_at = CANCELLED, self._clock()
        return str(report_id)

    def run(self, report_id: str) -> None:
        """The task: write the report, then say how it ended (it never stays IN_PROGRESS)."""
        with self._sessions() as session:
            row = session.get(ReportRow, report_id)
        if row is None or row.status != IN_PROGRESS:
            return
        try:
            written = self._write_findings(row) if row.kind == FINDINGS else self._write_sboms(row)
            ended: tuple[str, str | None, str | None] = (
                (SUCCEEDED, None, None) if written else (FAILED, "NO_FINDINGS_FOUND", _nothing(row.kind))
            )
        except Cancelled:
            return
        except BucketNotFound as exc:
            ended = (FAILED, "BUCKET_NOT_FOUND", str(exc))
        except Exception as exc:  # the report says it failed; the error is its message
            ended = (FAILED, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
        self._end(report_id, *ended)

    def recover(self) -> int:
        """At start: the reports a stopped server was writing failed (their partial files are gone)."""
        with transaction(self._sessions) as session:
            result = session.execute(
                update(ReportRow)
                .where(ReportRow.status == IN_PROGRESS)
                .values(status=FAILED, error_code="INTERNAL_ERROR", finished_at=self._clock())
                .values(error_message="the server stopped while writing it: ask again")
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def _create(
        self, requester: Requester, kind: str, report_format: str, destination: Any, criteria: dict[str, Any]
    ) -> str:
        destination_parts(destination)
        report_id = str(uuid.uuid4())
        with transaction(self._sessions) as session:
            session.add(
                ReportRow(
                    report_id=report_id,
                    kind=kind,
                    owner_id=requester.account_id,
                    accounts=sorted(requester.visible),
                    report_format=report_format,
                    destination=dict(destination),
                    criteria=criteria,
                    status=IN_PROGRESS,
                    created_at=self._clock(),
                )
            )
        self._submit(report_id)
        return report_id

    def _write_findings(self, row: ReportRow) -> int:
        write, extension = FINDINGS_FORMATS[row.report_format]
        folder = target_folder(self._exports, row.destination)
        criteria = parse_criteria(row.criteria)
        try:
            with replacing(folder / f"{row.report_id}.{extension}") as out:
                batches = iter_findings(self._sessions, row.accounts, criteria)
                count: int = write(out, (self._unless_cancelled(row.report_id, b) for b in batches))
                if not count:
                    raise _Empty
        except _Empty:
            return 0
        return count

    def _write_sboms(self, row: ReportRow) -> int:
        render = SBOM_FORMATS[row.report_format]
        criteria = parse_resource_criteria(row.criteria)
        accounts = criteria.accounts(row.accounts)
        written = 0
        folder = target_folder(self._exports, row.destination, row.report_id)
        for instance, inventory in self._inventories.latest(accounts, criteria.instance_ids()):
            if instance.account_id not in accounts or not criteria.covers(instance):
                continue
            self._unless_cancelled(row.report_id, None)
            account_folder = folder / instance.account_id
            account_folder.mkdir(exist_ok=True)
            with replacing(account_folder / f"{safe_name(instance.instance_id)}.json") as out:
                out.write(render(inventory))
            written += 1
        if not written:
            folder.rmdir()
        return written

    def _unless_cancelled(self, report_id: str, batch: Any) -> Any:
        with self._sessions() as session:
            status = session.scalar(select(ReportRow.status).where(ReportRow.report_id == report_id))
        if status != IN_PROGRESS:
            raise Cancelled(report_id)
        return batch

    def _end(self, report_id: str, status: str, code: str | None, message: str | None) -> None:
        with transaction(self._sessions) as session:
            session.execute(
                update(ReportRow)
                .where(ReportRow.report_id == report_id, ReportRow.status == IN_PROGRESS)
                .values(status=status, error_code=code, error_message=message, finished_at=self._clock())
            )


class _Empty(Exception):
    """No finding matched: the partial file goes, the report fails with NO_FINDINGS_FOUND."""


def _nothing(kind: str) -> str:
    return "no finding matches the filters" if kind == FINDINGS else "no instance with an inventory matches"


def _owned(session: Session, requester: Requester, kind: str, report_id: Any) -> ReportRow | None:
    row = session.get(ReportRow, report_id) if isinstance(report_id, str) else None
    return row if row is not None and row.kind == kind and row.owner_id == requester.account_id else None
