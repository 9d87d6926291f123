"""Coverage and usage: `ListCoverage`, `ListCoverageStatistics`, `ListUsageTotals`, over the accounts the
caller may see (itself, and its members when it is the delegated administrator)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.api.context import Caller, Handler, Request, Response
from vigil.api.errors import AccessDeniedException, FieldProblem, ValidationException
from vigil.scanning.coverage_service import CoverageService
from vigil.scanning.filters import FilterError, decode_token, encode_token
from vigil.scanning.usage import UsageReports

DEFAULT_USAGE_PAGE = 100


def operations(coverage: CoverageService, usage: UsageReports) -> dict[str, Handler]:
    def list_coverage(caller: Caller, request: Request) -> Response:
        page = coverage.page(
            caller.visible,
            request.get("filterCriteria"),
            max_results=request.get("maxResults"),
            next_token=request.get("nextToken"),
        )
        return _with_token({"coveredResources": [c.to_json() for c in page.resources]}, page.next_token)

    def list_coverage_statistics(caller: Caller, request: Request) -> Response:
        statistics = coverage.statistics(
            caller.visible,
            request.get("filterCriteria"),
            group_by=request.get("groupBy"),
            next_token=request.get("nextToken"),
        )
        response: Response = {"totalCounts": statistics.total}
        if statistics.groups:
            response["countsByGroup"] = [
                {"count": g.count, "groupKey": g.group_key} for g in statistics.groups
            ]
        return _with_token(response, statistics.next_token)

    def list_usage_totals(caller: Caller, request: Request) -> Response:
        asked = request.get("accountIds")
        if asked:
            hidden = sorted(a for a in asked if not caller.may_see(a))
            if hidden:
                raise AccessDeniedException(f"not allowed to read the usage of {', '.join(hidden)}")
        accounts = sorted(set(asked or caller.visible))
        position = decode_token(request.get("nextToken"), 1)
        remaining = [a for a in accounts if position is None or a > position[0]]
        page = remaining[: request.get("maxResults") or DEFAULT_USAGE_PAGE]
        totals = [t.to_json() for t in usage.totals(page)]
        token = encode_token([page[-1]]) if len(remaining) > len(page) else None
        return _with_token({"totals": totals}, token)

    return {
        "ListCoverage": _validated(list_coverage),
        "ListCoverageStatistics": _validated(list_coverage_statistics),
        "ListUsageTotals": _validated(list_usage_totals),
    }


def _with_token(response: Response, token: str | None) -> Response:
    if token:
        response["nextToken"] = token
    return response


def _validated(handler: Callable[[Caller, Request], Response]) -> Handler:
    """The handler, with a filter or token it cannot apply answered as Inspector's ValidationException."""

    def handle(caller: Caller, request: Request) -> dict[str, Any]:
        try:
            return handler(caller, request)
        except FilterError as exc:
            raise ValidationException(
                str(exc), reason="FIELD_VALIDATION_FAILED", fields=(FieldProblem(exc.field, exc.message),)
            ) from None

    return handle
