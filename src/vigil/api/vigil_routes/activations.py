"""`/vigil/v1/activations` and `/vigil/v1/agents`: what agents register with (like SSM hybrid activations),
and the agents registered, whose secrets an account can have rotated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from vigil.api.context import CallerDep
from vigil.api.errors import ValidationException
from vigil.api.vigil_routes.fleet_common import ACCOUNT_ID, refusals, visible_account
from vigil.clock import Clock
from vigil.fleet.activations import ActivationError, ActivationsService
from vigil.fleet.agents import AgentRegistry, AgentState

AccountQuery = Annotated[str | None, Query(alias="accountId", pattern=ACCOUNT_ID)]
TagKey = Annotated[str, Field(min_length=1, max_length=128)]


class ActivationRequest(BaseModel):
    """A new activation: how many agents may register with it, until when (default 24 hours, at most 30
    days), the `Name` of the managed instances it makes, their tags."""

    model_config = ConfigDict(extra="forbid")

    registration_limit: Annotated[int, Field(alias="registrationLimit", ge=1, le=1000)] = 1
    expiration_date: Annotated[dt.datetime | None, Field(alias="expirationDate")] = None
    default_instance_name: Annotated[
        str | None, Field(alias="defaultInstanceName", min_length=1, max_length=256)
    ] = None
    tags: Annotated[dict[TagKey, Annotated[str, Field(max_length=256)]], Field(max_length=50)] = {}
    account_id: Annotated[str | None, Field(alias="accountId", pattern=ACCOUNT_ID)] = None


def activations_router(
    activations: ActivationsService,
    agents: AgentRegistry,
    clock: Clock,
    agent_states: Callable[[frozenset[str]], dict[tuple[str, str], AgentState]],
) -> APIRouter:
    router = APIRouter(tags=["agents"])

    @router.post("/activations", status_code=201)
    def create_activation(body: ActivationRequest, caller: CallerDep) -> dict[str, str]:
        """A new activation; answers `{"activationId", "activationCode"}` (the code is shown only now)."""
        try:
            return activations.create(
                visible_account(caller, body.account_id),
                registration_limit=body.registration_limit,
                expiration_date=body.expiration_date,
                default_instance_name=body.default_instance_name,
                tags=body.tags,
            ).to_json()
        except ActivationError as exc:
            raise ValidationException.of_field(exc.field, exc.message) from None

    @router.get("/activations")
    def list_activations(caller: CallerDep, account_id: AccountQuery = None) -> dict[str, Any]:
        """The activations of the accounts the caller may see (or of `accountId`), newest first."""
        accounts = {visible_account(caller, account_id)} if account_id else caller.visible
        now = clock()
        return {"activations": [a.to_json(now) for a in activations.list(accounts)]}

    @router.delete("/activations/{activation_id}")
    def delete_activation(activation_id: str, caller: CallerDep) -> dict[str, Any]:
        """Delete an activation: no agent registers with it any more; those registered keep working."""
        with refusals():
            activations.delete(caller.visible, activation_id)
        return {}

    @router.get("/agents")
    def list_agents(caller: CallerDep, account_id: AccountQuery = None) -> dict[str, Any]:
        """The registered agents of the accounts the caller may see: their instance and last deliveries."""
        accounts = frozenset({visible_account(caller, account_id)}) if account_id else caller.visible
        states = agent_states(accounts)
        return {
            "agents": [
                {"accountId": account, "instanceId": instance, **state.to_json()}
                for (account, instance), state in sorted(states.items())
            ]
        }

    @router.post("/agents/{instance_id}/rotate-secret", status_code=202)
    def rotate_secret(instance_id: str, caller: CallerDep) -> dict[str, Any]:
        """Have the instance's agent rotate its secret at its next heartbeat."""
        with refusals():
            state = agents.request_rotation(caller.visible, instance_id)
        return {"instanceId": instance_id, "agentId": state.agent_id, "rotation": "requested"}

    return router
