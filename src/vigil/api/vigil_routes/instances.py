"""`/vigil/v1/instances`: the instances of the accounts the caller may see, with coverage and scan state."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from vigil.api.context import CallerDep
from vigil.api.vigil_routes.fleet_common import ACCOUNT_ID, refusals
from vigil.scanning.operations import FleetOperations

AccountQuery = Annotated[str | None, Query(alias="accountId", pattern=ACCOUNT_ID)]


def instances_router(fleet: FleetOperations) -> APIRouter:
    router = APIRouter(tags=["instances"])

    @router.get("/instances")
    def list_instances(
        caller: CallerDep,
        account_id: AccountQuery = None,
        state: Annotated[str | None, Query()] = None,
        max_results: Annotated[int | None, Query(alias="maxResults", ge=1, le=1000)] = None,
        next_token: Annotated[str | None, Query(alias="nextToken", max_length=4096)] = None,
    ) -> dict[str, Any]:
        """A page of instances, in (account, instance id) order."""
        accounts = caller.visible & {account_id} if account_id else caller.visible
        with refusals():
            views, token = fleet.instances(
                accounts, state=state, max_results=max_results, next_token=next_token
            )
        return {"instances": [v.to_json() for v in views], **({"nextToken": token} if token else {})}

    @router.get("/instances/{instance_id}")
    def get_instance(instance_id: str, caller: CallerDep, account_id: AccountQuery = None) -> dict[str, Any]:
        """One instance (`accountId` names the account when the caller sees several with this id)."""
        with refusals():
            return fleet.instance(caller.visible, instance_id, account_id).to_json()

    return router
