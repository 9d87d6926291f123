"""`/vigil/v1/associations`: the collection configuration the accounts' agents follow (Inspector's SSM
associations, and an account's own), listed, edited and deleted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from vigil.api.context import CallerDep
from vigil.api.errors import ValidationException
from vigil.api.vigil_routes.fleet_common import ACCOUNT_ID, refusals, visible_account
from vigil.fleet.associations import AssociationsService, InvalidAssociation

AccountQuery = Annotated[str | None, Query(alias="accountId", pattern=ACCOUNT_ID)]


class AssociationUpdate(BaseModel):
    """A new schedule or parameters; with `document` and `targets`, a new association of the account's own
    (an `AWS-GatherSoftwareInventory` one targeting `InstanceIds=*` replaces Inspector's inventory
    association). `accountId`: a member's, for its delegated administrator."""

    model_config = ConfigDict(extra="forbid")

    schedule_expression: Annotated[str | None, Field(alias="scheduleExpression", max_length=64)] = None
    parameters: dict[str, Any] | None = None
    document: Annotated[str | None, Field(max_length=128)] = None
    targets: list[Any] | None = None
    account_id: Annotated[str | None, Field(alias="accountId", pattern=ACCOUNT_ID)] = None


def associations_router(associations: AssociationsService) -> APIRouter:
    router = APIRouter(tags=["associations"])

    @router.get("/associations")
    def list_associations(caller: CallerDep, account_id: AccountQuery = None) -> dict[str, Any]:
        """The associations of the accounts the caller may see (or of `accountId`), by account and name."""
        accounts = {visible_account(caller, account_id)} if account_id else caller.visible
        return {"associations": [a.to_json() for a in associations.associations(accounts)]}

    @router.put("/associations/{name}")
    def put_association(name: str, body: AssociationUpdate, caller: CallerDep) -> dict[str, Any]:
        """Change an association's schedule (`rate(…)`, at least 30 minutes) or parameters, or create one of
        the account's own; Inspector's deleted ones come back by themselves."""
        with _refusals():
            return associations.put(
                visible_account(caller, body.account_id),
                name,
                schedule_expression=body.schedule_expression,
                parameters=body.parameters,
                document=body.document,
                targets=body.targets,
            ).to_json()

    @router.delete("/associations/{name}")
    def delete_association(name: str, caller: CallerDep, account_id: AccountQuery = None) -> dict[str, Any]:
        """Delete an association: the account's own for good; Inspector's is re-created while EC2 scanning
        is enabled."""
        with _refusals():
            associations.delete(visible_account(caller, account_id), name)
        return {}

    return router


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        with refusals():
            yield
    except InvalidAssociation as exc:
        raise ValidationException.of_field(exc.field, exc.message) from None
