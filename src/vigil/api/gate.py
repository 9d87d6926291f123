"""The server's front door, in front of every route: a bounded body read, then the SigV4 check.

Every request's body is read whole before anything else (at most `max_body` bytes, within `body_timeout`
seconds: a slow or endless upload cannot hold a worker), its signature verified for the route's service,
and the verified `Caller` put in the ASGI scope (`CALLER`) for the Inspector dispatcher and the Vigil API's
`CallerDep`. No route can be reached without SigV4 but the ones listed as public (the OpenAPI document) and
the agent protocol's, whose routes check the agents' own signatures.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection
from typing import Any

from botocore.model import ServiceModel
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.api.context import CALLER
from vigil.api.errors import InspectorError, PayloadTooLargeException, RequestTimeoutException
from vigil.api.protocol.serialize import serialize_error
from vigil.api.sigv4 import KeyStore, ReceivedRequest, verify
from vigil.clock import Clock

VIGIL_PREFIX = "/vigil/v1"
AGENT_PREFIX = "/agent/v1"  # signed with agents' own secrets: checked by the agent routes themselves
MAX_BODY = 16 << 20
BODY_TIMEOUT = 60.0
log = logging.getLogger("vigil.api")


class _ClientGone(Exception):
    pass


def service_of(path: str) -> str:
    """The signing service of a route: the Vigil API's own, else Inspector's."""
    return "vigil" if path == VIGIL_PREFIX or path.startswith(VIGIL_PREFIX + "/") else "inspector2"


def raw_target(scope: Scope) -> str:
    """The path and query exactly as the client sent them (still percent-encoded)."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


async def respond_error(send: Send, model: ServiceModel, error: InspectorError) -> None:
    status, headers, body = serialize_error(model, error)
    await send_response(send, status, headers, body)


async def send_response(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    fields = [(k.encode(), v.encode()) for k, v in {**headers, "x-amzn-requestid": str(uuid.uuid4())}.items()]
    fields.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": fields})
    await send({"type": "http.response.body", "body": body})


class SignedGate:
    """ASGI middleware: bounded body, SigV4 verified, caller in scope; refusals in Inspector's shape."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyStore,
        region: str,
        clock: Clock,
        model: ServiceModel,
        public: Collection[tuple[str, str]] = (),
        max_body: int = MAX_BODY,
        body_timeout: float = BODY_TIMEOUT,
    ) -> None:
        self.app = app
        self.keys = keys
        self.region = region
        self.clock = clock
        self.model = model
        self.public = frozenset(public)
        self.max_body = max_body
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._body(scope, receive)
            scope[CALLER] = await self._caller(scope, body)
        except _ClientGone:
            return
        except InspectorError as error:
            await respond_error(send, self.model, error)
            return
        except Exception:
            log.exception("%s %s: the signature could not be checked", scope["method"], scope["path"])
            await respond_error(send, self.model, InspectorError("internal error: see the server's log"))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # what comes after the body: the client's disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise PayloadTooLargeException(f"a request body is at most {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _ClientGone
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:
                        raise PayloadTooLargeException(f"a request body is at most {self.max_body} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise RequestTimeoutException(
                f"the request body did not arrive within {self.body_timeout:g} s"
            ) from None

    async def _caller(self, scope: Scope, body: bytes) -> Any:
        path = scope["path"]
        if (scope["method"], path) in self.public or path.startswith(AGENT_PREFIX + "/"):
            return None
        request = ReceivedRequest(
            method=scope["method"],
            scheme=scope.get("scheme", "http"),
            target=raw_target(scope),
            headers=[(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]],
            body=body,
        )
        # the key's lookup reads the store: off the event loop
        return await run_in_threadpool(
            verify, request, self.keys, service=service_of(path), region=self.region, now=self.clock()
        )
