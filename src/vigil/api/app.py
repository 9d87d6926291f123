"""`create_app`: the HTTP service assembled from its resource groups (STYLE habit 3: nothing at import time).

- Inspector's operations: one dict of handlers per resource group (`inspector_ops/<group>.py`,
  `operations(<services>) -> dict[name, Handler]`), served by `InspectorAPI` from botocore's model;
- the Vigil API under `/vigil/v1/`: one FastAPI router per resource group (`vigil_routes/<group>.py`), its
  OpenAPI document at `/vigil/v1/openapi.json`, errors in Inspector's JSON shape;
- the agent protocol under `/agent/v1/` (`agent_routes`), signed with the agents' own secrets;
- background services (the scheduler) started and stopped with the app;
- in front of all of it `SignedGate`: bounded bodies and SigV4 (`inspector2` or `vigil` scope).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from vigil import __version__
from vigil.api.context import Handler
from vigil.api.errors import FieldProblem, InspectorError, UnknownOperationException, ValidationException
from vigil.api.gate import AGENT_PREFIX, VIGIL_PREFIX, SignedGate
from vigil.api.inspector import InspectorAPI, merge_operations
from vigil.api.protocol.model import RouteTable, inspector_model
from vigil.api.protocol.serialize import serialize_error
from vigil.api.sigv4 import KeyStore
from vigil.clock import Clock, system_clock
from vigil.server.settings import Settings

OPENAPI = "/openapi.json"


class Background(Protocol):
    """A service that runs beside the API while it serves (the scheduler): started, then stopped."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(
    settings: Settings,
    *,
    keys: KeyStore,
    operations: Sequence[Mapping[str, Handler]] = (),
    routers: Sequence[APIRouter] = (),
    background: Sequence[Background] = (),
    agent_app: ASGIApp | None = None,
    clock: Clock = system_clock,
    on_ready: Callable[[], None] = lambda: None,
) -> FastAPI:
    """The service: Inspector's operations from these handler groups, the Vigil API from these routers."""
    routes = RouteTable(inspector_model())
    inspector = InspectorAPI(routes, merge_operations(routes, operations))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started: list[Background] = []
        try:
            for service in background:
                service.start()
                started.append(service)
            on_ready()
            yield
        finally:
            for service in reversed(started):
                service.stop()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.mount(VIGIL_PREFIX, vigil_api(routers))
    if agent_app is not None:
        app.mount(AGENT_PREFIX, agent_app)
    app.mount("", inspector)
    app.add_middleware(
        SignedGate,
        keys=keys,
        region=settings.region,
        clock=clock,
        model=routes.model,
        public=[("GET", VIGIL_PREFIX + OPENAPI)],
    )
    return app


def vigil_api(routers: Sequence[APIRouter]) -> FastAPI:
    """The Vigil API (mounted at /vigil/v1): JSON in and out, described by its OpenAPI document."""
    api = FastAPI(
        title="Vigil API",
        version=__version__,
        description=(
            "What Inspector has no call for: providers, instances, scans, activations, agents, associations, "
            "feeds and the advisory database. "
            "Every request is SigV4-signed with an account's keys, service name `vigil`, the server's "
            "region. Errors are JSON in Inspector's shape, their code in `x-amzn-ErrorType`."
        ),
        openapi_url=OPENAPI,
        docs_url=None,
        redoc_url=None,
    )
    for router in routers:
        api.include_router(router)
    model = inspector_model()

    def shaped(error: InspectorError) -> Response:
        status, headers, body = serialize_error(model, error)
        return Response(body, status_code=status, headers=headers)

    @api.exception_handler(InspectorError)
    async def inspector_error(_: Request, error: InspectorError) -> Response:
        return shaped(error)

    @api.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> Response:
        problems = tuple(
            FieldProblem(".".join(str(p) for p in e["loc"] if p != "body"), str(e["msg"]))
            for e in error.errors()
        )
        summary = problems[0].message if len(problems) == 1 else f"{len(problems)} validation errors detected"
        return shaped(ValidationException(summary, reason="FIELD_VALIDATION_FAILED", fields=problems))

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code in (404, 405):  # no route, or not this method: as Inspector says it
            return shaped(
                UnknownOperationException(f"no Vigil API route at {request.method} {request.url.path}")
            )
        return shaped(InspectorError(str(error.detail)))

    return api
