"""`/vigil/v1/providers`: the providers attached to the caller's account (a local fleet file for now)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from vigil.api.context import CallerDep
from vigil.api.errors import AccessDeniedException
from vigil.api.vigil_routes.fleet_common import refusals
from vigil.scanning.operations import FleetOperations


class LocalFleet(BaseModel):
    """A fleet file on the server, named by its absolute path inside the server's fleets folder; its image
    files are inside its own folder."""

    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, Field(min_length=1, max_length=4096)]


def providers_router(fleet: FleetOperations, fleets_dir: Path) -> APIRouter:
    """`fleets_dir`: an account attaches over the API only a fleet file under `fleets_dir/<its id>/`. It
    names a path on the server; were any path allowed, it could attach another tenant's fleet file and
    have that tenant's disks read into its own account."""
    router = APIRouter(tags=["providers"])

    @router.put("/providers/local")
    def attach_local(body: LocalFleet, caller: CallerDep) -> dict[str, Any]:
        """Attach (or replace) the calling account's local fleet file and discover its instances now."""
        requested, own = Path(body.path), (fleets_dir / caller.account_id).resolve()
        if requested.is_absolute() and not requested.resolve().is_relative_to(own):
            raise AccessDeniedException(
                f"an account attaches fleet files over the API from its own fleets folder ({own}) only; "
                "the server's operator attaches others with `vigil server fleet`"
            )
        with refusals("path"):
            report = fleet.attach_local(caller.account_id, body.path)
        return {"provider": "local", "path": body.path, "discovery": report.to_json()}

    @router.delete("/providers/local")
    def detach_local(caller: CallerDep) -> dict[str, Any]:
        """Detach the calling account's local fleet file: its instances vanish (their findings close)."""
        with refusals():
            report = fleet.detach(caller.account_id, "local")
        return {"provider": "local", "discovery": report.to_json()}

    @router.get("/providers")
    def list_providers(caller: CallerDep) -> dict[str, Any]:
        """The providers of the accounts the caller may see, with their last discovery."""
        return {"providers": [p.to_json() for p in fleet.providers(caller.visible)]}

    return router
