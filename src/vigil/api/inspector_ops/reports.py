"""Reports: `CreateFindingsReport`, `GetFindingsReportStatus`, `CancelFindingsReport`, and the SBOM exports
`CreateSbomExport`, `GetSbomExport`, `CancelSbomExport`."""

from __future__ import annotations

from typing import Any

from vigil.api.context import Caller, Handler, Request, Response
from vigil.api.inspector_ops.findings import inspector_handler
from vigil.findings.service.reports import FINDINGS, SBOM, ReportsService
from vigil.store.reports import ReportRow


def _ended(row: ReportRow) -> dict[str, Any]:
    ended = {"errorCode": row.error_code, "errorMessage": row.error_message}
    return {k: v for k, v in ended.items() if v}


def operations(reports: ReportsService) -> dict[str, Handler]:
    def create_findings_report(caller: Caller, request: Request) -> Response:
        return {"reportId": reports.create_findings_report(caller, request)}

    def get_findings_report_status(caller: Caller, request: Request) -> Response:
        row = reports.status(caller, FINDINGS, request.get("reportId"))
        described = {"reportId": row.report_id, "status": row.status, "destination": row.destination}
        return described | _ended(row) | ({"filterCriteria": row.criteria} if row.criteria else {})

    def cancel_findings_report(caller: Caller, request: Request) -> Response:
        return {"reportId": reports.cancel(caller, FINDINGS, request.get("reportId"))}

    def create_sbom_export(caller: Caller, request: Request) -> Response:
        return {"reportId": reports.create_sbom_export(caller, request)}

    def get_sbom_export(caller: Caller, request: Request) -> Response:
        row = reports.status(caller, SBOM, request.get("reportId"))
        described: dict[str, Any] = {"reportId": row.report_id, "format": row.report_format}
        described |= {"status": row.status, "s3Destination": row.destination}
        return described | _ended(row) | ({"filterCriteria": row.criteria} if row.criteria else {})

    def cancel_sbom_export(caller: Caller, request: Request) -> Response:
        return {"reportId": reports.cancel(caller, SBOM, request.get("reportId"))}

    return {
        "CreateFindingsReport": inspector_handler(create_findings_report),
        "GetFindingsReportStatus": inspector_handler(get_findings_report_status),
        "CancelFindingsReport": inspector_handler(cancel_findings_report),
        "CreateSbomExport": inspector_handler(create_sbom_export),
        "GetSbomExport": inspector_handler(get_sbom_export),
        "CancelSbomExport": inspector_handler(cancel_sbom_export),
    }
