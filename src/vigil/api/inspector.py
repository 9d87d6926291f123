"""The Inspector2-compatible API: every operation of botocore's model routed, parsed, validated, handed to
its handler and answered in the output shape (STYLE habit 6, as LocalStack does).

An operation of the model without a handler answers Inspector's own error for it (never an HTML 404), and
a method and path of no operation answers `UnknownOperationException`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from vigil.api.context import CALLER, Caller, Handler
from vigil.api.errors import (
    AccessDeniedException,
    InspectorError,
    UnknownOperationException,
    ValidationException,
)
from vigil.api.gate import raw_target, respond_error, send_response
from vigil.api.protocol.model import RouteTable
from vigil.api.protocol.parse import parse_request
from vigil.api.protocol.serialize import serialize_output
from vigil.api.protocol.validate import validate

log = logging.getLogger("vigil.api")


def merge_operations(routes: RouteTable, groups: Sequence[Mapping[str, Handler]]) -> dict[str, Handler]:
    """One table of handlers from every resource group's; a name served twice, or not in the model, is a
    wiring mistake caught when the app is built."""
    known = set(routes.operation_names)
    merged: dict[str, Handler] = {}
    for group in groups:
        for name, handler in group.items():
            if name not in known:
                raise ValueError(f"{name} is no operation of Inspector's model")
            if name in merged:
                raise ValueError(f"{name} is served by two resource groups")
            merged[name] = handler
    return merged


class InspectorAPI:
    """ASGI app serving Inspector's operations with these handlers; the caller comes from `SignedGate`."""

    def __init__(self, routes: RouteTable, handlers: Mapping[str, Handler]) -> None:
        self.routes = routes
        self.handlers = dict(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, headers, body = await self._answer(scope, receive)
        except InspectorError as error:
            await respond_error(send, self.routes.model, error)
            return
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            await respond_error(
                send, self.routes.model, InspectorError("internal error: see the server's log")
            )
            return
        await send_response(send, status, headers, body)

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, str], bytes]:
        body = await _body(receive)
        target = raw_target(scope)
        path, _, query = target.partition("?")
        found = self.routes.find(scope["method"], path)
        if found is None:
            raise UnknownOperationException(f"no Inspector operation at {scope['method']} {path}")
        operation, labels = found
        handler = self.handlers.get(operation.name)
        if handler is None:
            raise _not_served(operation.name, [e.name for e in operation.error_shapes])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        params = parse_request(operation, labels, parse_qsl(query, keep_blank_values=True), headers, body)
        validate(params, operation.input_shape)
        caller: Caller = scope[CALLER]
        response = await run_in_threadpool(handler, caller, params)
        return serialize_output(operation, response)


def _not_served(name: str, errors: list[str]) -> InspectorError:
    message = f"Vigil does not serve {name}"
    if "ValidationException" in errors:
        return ValidationException(message, reason="OTHER")
    return AccessDeniedException(message)


async def _body(receive: Receive) -> bytes:
    message = await receive()  # SignedGate hands the whole body in one message
    return bytes(message.get("body", b""))
