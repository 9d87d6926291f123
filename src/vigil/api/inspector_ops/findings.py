"""Findings: `ListFindings`, `ListFindingAggregations`, `BatchGetFindingDetails`."""

from __future__ import annotations

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


def inspector_errors(handler: Handler) -> Handler:
    """The findings service's refusals as Inspector's errors."""

    @functools.wraps(handler)
    def translated(caller: Caller, request: Request) -> Response:
        try:
            return handler(caller, request)
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
        "ListFindings": inspector_errors(list_findings),
        "ListFindingAggregations": inspector_errors(list_finding_aggregations),
        "BatchGetFindingDetails": inspector_errors(batch_get_finding_details),
    }
