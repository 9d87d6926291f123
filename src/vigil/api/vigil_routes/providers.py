"""`/vigil/v1/providers`: the providers attached to the caller's account (a local fleet file, EC2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vigil.api.context import CallerDep
from vigil.api.errors import AccessDeniedException
from vigil.api.vigil_routes.fleet_common import refusals
from vigil.scanning.operations import FleetOperations


class LocalFleet(BaseModel):
    """A fleet file on the server, named by its absolute path inside the server's fleets folder; its image
    files are inside its own folder."""

    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, Field(min_length=1, max_length=4096)]


class AwsFleet(BaseModel):
    """The account's EC2 instances in these regions, read with a role the server assumes (`roleArn`), or
    with the server's own credentials; `endpointUrl` sends every call elsewhere (an AWS-compatible cloud)."""

    model_config = ConfigDict(extra="forbid")

    regions: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")]],
        Field(min_length=1, max_length=32),
    ]
    roleArn: Annotated[str, Field(min_length=20, max_length=2048)] | None = None  # noqa: N815
    endpointUrl: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2048)] | None = None  # noqa: N815


def providers_router(
    fleet: FleetOperations, fleets_dir: Path, operator: Callable[[str], bool] = lambda account_id: False
) -> APIRouter:
    """`fleets_dir`: an account attaches over the API only a fleet file under `fleets_dir/<its id>/`. It
    names a path on the server; were any path allowed, it could attach another tenant's fleet file and
    have that tenant's disks read into its own account.

    `operator(account_id)`: whether the account is the server operator's (the management account). Only it
    may attach EC2 with the server's own AWS credentials or through another endpoint: for any other account
    the first would read (and snapshot) the operator's AWS fleet into a tenant's account, the second make
    the server send requests to any host it can reach. Other accounts name a role, which the server assumes
    with their Vigil account id as the external id: a role's trust policy that requires it
    (`sts:ExternalId`) cannot be assumed on behalf of another tenant who learnt its ARN.
    """
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

    @router.put("/providers/aws")
    def attach_aws(body: AwsFleet, caller: CallerDep) -> dict[str, Any]:
        """Attach (or replace) the calling account's EC2 fleet and discover its instances now."""
        if not operator(caller.account_id):
            if body.endpointUrl is not None:
                raise AccessDeniedException(
                    "only the server operator's account gives an endpointUrl; "
                    "the operator attaches others with `vigil server fleet --aws --endpoint-url`"
                )
            if body.roleArn is None:
                raise AccessDeniedException(
                    "give the roleArn of a role in your AWS account for the server to assume (its trust "
                    f"policy may require the external id {caller.account_id}): the server's own credentials "
                    "are its operator's"
                )
        with refusals("roleArn" if body.roleArn else "regions"):
            report = fleet.attach_aws(
                caller.account_id,
                body.regions,
                body.roleArn,
                body.endpointUrl,
                external_id=caller.account_id if body.roleArn else None,
            )
        shown = {k: v for k, v in (("roleArn", body.roleArn), ("endpointUrl", body.endpointUrl)) if v}
        return {"provider": "aws", "regions": body.regions, **shown, "discovery": report.to_json()}

    @router.delete("/providers/{kind}")
    def detach(kind: Literal["local", "aws"], caller: CallerDep) -> dict[str, Any]:
        """Detach the calling account's local fleet file or AWS fleet: its instances vanish (their findings
        close); snapshots a running scan made are still deleted by their tag."""
        with refusals():
            report = fleet.detach(caller.account_id, kind)
        return {"provider": kind, "discovery": report.to_json()}

    @router.get("/providers")
    def list_providers(caller: CallerDep) -> dict[str, Any]:
        """The providers of the accounts the caller may see, with their last discovery."""
        return {"providers": [p.to_json() for p in fleet.providers(caller.visible)]}

    return router
