"""Findings: `ListFindings`, `ListFindingAggregations`, `BatchGetFindingDetails`."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from vigil.api.context import Caller, Handler, Request, Response
from vigil.api.errors import (
    FieldProblem,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from vigil.findings.service.errors import InvalidRequest, NotFound, QuotaExceeded
from vigil.findings.service.listing import FindingsQueries, Page

TIMESTAMP_MEMBERS = frozenset(
    {"firstObservedAt", "lastObservedAt", "updatedAt", "createdAt", "vendorCreatedAt", "vendorUpdatedAt",
     "lastKnownExploitAt", "launchedAt", "dateAdded", "dateDue", "firstSeen", "lastSeen", "startInclusive",
     "endInclusive"}
)  # fmt: skip
"""The members of these operations' outputs that the model types as timestamps (a test checks the list)."""


def with_datetimes(value: Any, member: str = "") -> Any:
    """The service's wire-form JSON (timestamps as epoch seconds, as stored) in the form handlers return and
    boto3 gives users: timestamps as aware datetimes."""
    if isinstance(value, dict):
        return {k: with_datetimes(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [with_datetimes(v) for v in value]
    if member in TIMESTAMP_MEMBERS and isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return value


def inspector_handler(handler: Handler) -> Handler:
    """The findings service's refusals as Inspector's errors, its answers with datetimes."""

    @functools.wraps(handler)
    def translated(caller: Caller, request: Request) -> Response:
        try:
            response: Response = with_datetimes(handler(caller, request))
            return response
        except InvalidRequest as exc:
            problem = FieldProblem(exc.member, exc.message)
            raise ValidationException(
                exc.message, reason="FIELD_VALIDATION_FAILED", fields=(problem,)
            ) from None
        except NotFound as exc:
            raise ResourceNotFoundException(exc.message) from None
        except QuotaExceeded as exc:
            raise ServiceQuotaExceededException(exc.message) from None

    return translated


def paged(response: dict[str, Any], page: Page) -> Response:
    return response | ({"nextToken": page.next_token} if page.next_token else {})


def operations(queries: FindingsQueries) -> dict[str, Handler]:
    def list_findings(caller: Caller, request: Request) -> Response:
        page = queries.list_findings(caller, request)
        return paged({"findings": page.items}, page)

    def list_finding_aggregations(caller: Caller, request: Request) -> Response:
        page = queries.aggregate(caller, request)
        return paged({"aggregationType": request["aggregationType"], "responses": page.items}, page)

    def batch_get_finding_details(caller: Caller, request: Request) -> Response:
        details, errors = queries.details(caller, list(request.get("findingArns") or ()))
        return {"findingDetails": details, "errors": errors}

    return {
        "ListFindings": inspector_handler(list_findings),
        "ListFindingAggregations": inspector_handler(list_finding_aggregations),
        "BatchGetFindingDetails": inspector_handler(batch_get_finding_details),
    }
