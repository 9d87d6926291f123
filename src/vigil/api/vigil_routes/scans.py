"""`/vigil/v1/scans`: scan an instance now (Inspector has no such call), and the scans' log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from vigil.api.context import CallerDep
from vigil.api.vigil_routes.fleet_common import ACCOUNT_ID, refusals
from vigil.scanning.operations import FleetOperations


class ScanRequest(BaseModel):
    """The instance to scan now; `accountId` when the caller sees several instances with this id."""

    model_config = ConfigDict(extra="forbid")

    instance_id: Annotated[str, Field(alias="instanceId", min_length=1, max_length=32)]
    account_id: Annotated[str | None, Field(alias="accountId", pattern=ACCOUNT_ID)] = None


def scans_router(fleet: FleetOperations) -> APIRouter:
    router = APIRouter(tags=["scans"])

    @router.post("/scans", status_code=202)
    def request_scan(body: ScanRequest, caller: CallerDep) -> dict[str, Any]:
        """Queue an agentless scan of the instance now; answers the scan (poll `GET /scans/{scanId}`)."""
        with refusals("instanceId"):
            return fleet.request_scan(caller.visible, body.instance_id, body.account_id).to_json()

    @router.get("/scans")
    def list_scans(
        caller: CallerDep,
        instance_id: Annotated[str | None, Query(alias="instanceId", max_length=32)] = None,
        max_results: Annotated[int | None, Query(alias="maxResults", ge=1, le=1000)] = None,
        next_token: Annotated[str | None, Query(alias="nextToken", max_length=4096)] = None,
    ) -> dict[str, Any]:
        """The scans of the accounts the caller may see, newest first."""
        with refusals():
            scans, token = fleet.scans(
                caller.visible, instance_id=instance_id, max_results=max_results, next_token=next_token
            )
        return {"scans": [s.to_json() for s in scans], **({"nextToken": token} if token else {})}

    @router.get("/scans/{scan_id}")
    def get_scan(scan_id: str, caller: CallerDep) -> dict[str, Any]:
        with refusals():
            return fleet.scan(caller.visible, scan_id).to_json()

    return router
