"""`/vigil/v1/findings/{arn}/exposure`: what a finding's instance exposes, structured (its network's reachable
ranges and paths, the processes listening there and their packages, the Inspector score before and after)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vigil.api.context import CallerDep
from vigil.api.vigil_routes.fleet_common import refusals
from vigil.findings.service.exposures import FindingExposures


def findings_router(exposures: FindingExposures) -> APIRouter:
    router = APIRouter(tags=["findings"])

    @router.get("/findings/{arn:path}/exposure")
    def finding_exposure(arn: str, caller: CallerDep) -> dict[str, Any]:
        """The exposure behind a finding of an account the caller may see."""
        with refusals():
            return exposures.of(caller.visible, arn)

    return router
