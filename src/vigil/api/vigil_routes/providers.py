"""`/vigil/v1/providers`: the providers attached to the caller's account (a local fleet file for now)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from vigil.api.vigil_routes.fleet_common import CallerOf, refusals
from vigil.scanning.operations import FleetOperations


class LocalFleet(BaseModel):
    """A fleet file on the server, named by its absolute path; its image files are inside its folder."""

    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, Field(min_length=1, max_length=4096)]


def providers_router(fleet: FleetOperations) -> APIRouter:
    router = APIRouter(tags=["providers"])

    @router.put("/providers/local")
    def attach_local(body: LocalFleet, caller: CallerOf) -> dict[str, Any]:
        """Attach (or replace) the calling account's local fleet file and discover its instances now."""
        with refusals("path"):
            report = fleet.attach_local(caller.account_id, body.path)
        return {"provider": "local", "path": body.path, "discovery": report.to_json()}

    @router.delete("/providers/local")
    def detach_local(caller: CallerOf) -> dict[str, Any]:
        """Detach the calling account's local fleet file: its instances vanish (their findings close)."""
        with refusals():
            report = fleet.detach(caller.account_id, "local")
        return {"provider": "local", "discovery": report.to_json()}

    @router.get("/providers")
    def list_providers(caller: CallerOf) -> dict[str, Any]:
        """The providers of the accounts the caller may see, with their last discovery."""
        return {"providers": [p.to_json() for p in fleet.providers(caller.visible)]}

    return router
