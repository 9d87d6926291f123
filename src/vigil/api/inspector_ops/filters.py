"""Findings filters: `CreateFilter`, `UpdateFilter`, `DeleteFilter`, `ListFilters`."""

from __future__ import annotations

from vigil.api.context import Caller, Handler, Request, Response
from vigil.api.inspector_ops.findings import inspector_handler, paged
from vigil.findings.service.filters import FiltersService


def operations(filters: FiltersService) -> dict[str, Handler]:
    def create_filter(caller: Caller, request: Request) -> Response:
        return {"arn": filters.create(caller, request)}

    def update_filter(caller: Caller, request: Request) -> Response:
        return {"arn": filters.update(caller, request)}

    def delete_filter(caller: Caller, request: Request) -> Response:
        return {"arn": filters.delete(caller, request.get("arn"))}

    def list_filters(caller: Caller, request: Request) -> Response:
        page = filters.list(caller, request)
        return paged({"filters": page.items}, page)

    return {
        "CreateFilter": inspector_handler(create_filter),
        "UpdateFilter": inspector_handler(update_filter),
        "DeleteFilter": inspector_handler(delete_filter),
        "ListFilters": inspector_handler(list_filters),
    }
