"""The agent protocol's routes under `/agent/v1/` (DESIGN §7): register, heartbeat, inventory, rotate.

A heartbeat's network report (the host's listeners and firewall verdict) is stored under the signing
agent's instance; a bad one is refused in the answer's `network.error` while the rest of the heartbeat is
answered as usual (see `vigil.agent.protocol`).

Mounted beside the Inspector API; the signing gate bounds their bodies but leaves their signatures (an
agent's secret, not an account's SigV4 keys) to `AgentRegistry.authenticate`. Errors are JSON
`{"code", "message"}` with the status the refusal carries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vigil.agent.protocol import NETWORK_MEMBER
from vigil.clock import Clock
from vigil.fleet.agents import AgentIdentity, AgentRefused, AgentRegistry
from vigil.fleet.instances import get_instance
from vigil.fleet.listeners import ListenerReports
from vigil.fleet.ports import AccountsDirectory
from vigil.scanning.agent_intake import InventoryIntake

MAX_JSON_DEPTH = 64


class AgentConfiguration(Protocol):
    """What the account's associations tell its agents to do (`vigil.fleet.associations`)."""

    def collection(
        self, account_id: str, *, deep_inspection: bool, custom_paths: tuple[str, ...]
    ) -> dict[str, Any]: ...

    def delivered(self, account_id: str, *, instance_id: str | None = None) -> list[dict[str, Any]]: ...


def agent_api(
    registry: AgentRegistry,
    intake: InventoryIntake,
    configuration: AgentConfiguration,
    accounts: AccountsDirectory,
    clock: Clock,
    is_excluded: Callable[[str, str], bool],
    listeners: ListenerReports,
) -> FastAPI:
    """The agent protocol as an app to mount at `/agent/v1`."""
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    reports = listeners

    @api.exception_handler(AgentRefused)
    async def refused(_: Request, error: AgentRefused) -> JSONResponse:
        return JSONResponse({"code": error.code, "message": error.message}, status_code=error.status)

    async def signed(request: Request) -> tuple[AgentIdentity, dict[str, Any]]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw = request.scope.get("raw_path")  # the path as the agent sent and signed it
        path = raw.decode("latin-1") if raw else request.url.path
        identity = await run_in_threadpool(registry.authenticate, request.method, path, headers, body)
        return identity, _json(body)

    @api.post("/register", status_code=201)
    async def register(request: Request) -> JSONResponse:
        message = _json(await request.body())
        activation_id, code = message.get("activationId"), message.get("activationCode")
        if not isinstance(activation_id, str) or not isinstance(code, str) or len(activation_id) > 64:
            raise AgentRefused(400, "InvalidRequest", "activationId and activationCode are required")
        hints = message.get("hints") if isinstance(message.get("hints"), dict) else {}
        registration = await run_in_threadpool(
            lambda: registry.register(
                activation_id,
                code[:64],
                hints=hints or {},
                platform=str(message.get("platform", "LINUX")),
                agent_version=_text(message.get("agentVersion")),
                source=request.client.host if request.client else None,
            )
        )
        return JSONResponse(registration.to_json(), status_code=201)

    @api.post("/heartbeat")
    async def heartbeat(request: Request) -> dict[str, Any]:
        identity, message = await signed(request)

        def answer() -> dict[str, Any]:
            rotate = registry.heartbeat(identity, _text(message.get("agentVersion")))
            account = identity.account_id
            deep = accounts.deep_inspection_active(account)
            paths = accounts.deep_inspection_paths(account) if deep else ()
            answered: dict[str, Any] = {
                "agentId": identity.agent_id,
                "instanceId": identity.instance_id,
                "excluded": is_excluded(account, identity.instance_id),
                "rotateSecret": rotate,
                "serverTime": clock().isoformat(),
                "collect": configuration.collection(account, deep_inspection=deep, custom_paths=paths),
                "associations": configuration.delivered(account, instance_id=identity.instance_id),
            }
            if NETWORK_MEMBER in message:  # its own instance's only: the signature named the instance
                network = message[NETWORK_MEMBER]
                answered[NETWORK_MEMBER] = reports.heartbeat(account, identity.instance_id, network, clock())
            return answered

        return await run_in_threadpool(answer)

    @api.post("/inventory")
    async def inventory(request: Request) -> dict[str, Any]:
        identity, message = await signed(request)
        return await run_in_threadpool(intake.accept, identity, message)

    @api.post("/rotate")
    async def rotate(request: Request) -> dict[str, Any]:
        identity, _ = await signed(request)
        return {"secret": await run_in_threadpool(registry.rotate, identity)}

    return api


def excluded_check(sessions: Any) -> Callable[[str, str], bool]:
    """Whether the instance carries the exclusion tag (the agent stops collecting while it does)."""

    def check(account_id: str, instance_id: str) -> bool:
        with sessions() as session:
            record = get_instance(session, account_id, instance_id)
        return record is not None and record.instance.excluded

    return check


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise AgentRefused(400, "InvalidRequest", "the body is not JSON") from None
    if not isinstance(value, dict):
        raise AgentRefused(400, "InvalidRequest", "the body is a JSON object")
    if _depth(value) > MAX_JSON_DEPTH:
        raise AgentRefused(400, "InvalidRequest", f"the body nests more than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [
            child
            for item in level
            for child in (
                item.values() if isinstance(item, Mapping) else item if isinstance(item, list) else ()
            )
        ]
    return depth


def _text(value: Any) -> str | None:
    return value[:32] if isinstance(value, str) else None
