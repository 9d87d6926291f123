"""The one list of what the server serves (STYLE habit 2): each resource group's Inspector handlers, Vigil
API routers and background services, built from the runtime's services. A new group is a line here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from starlette.types import ASGIApp

from vigil.advisories.feeds import feed_updaters, load_feeds
from vigil.api.agent_routes import agent_api, excluded_check
from vigil.api.app import Background
from vigil.api.context import Handler
from vigil.api.inspector_ops import accounts as accounts_ops
from vigil.api.inspector_ops import coverage as coverage_ops
from vigil.api.inspector_ops import filters as filters_ops
from vigil.api.inspector_ops import findings as findings_ops
from vigil.api.inspector_ops import reports as reports_ops
from vigil.api.vigil_routes import database as database_routes
from vigil.api.vigil_routes.activations import activations_router
from vigil.api.vigil_routes.associations import associations_router
from vigil.api.vigil_routes.findings import findings_router
from vigil.api.vigil_routes.instances import instances_router
from vigil.api.vigil_routes.providers import providers_router
from vigil.api.vigil_routes.scans import scans_router
from vigil.findings.service.exposures import FindingExposures
from vigil.fleet.agents import AgentState, agent_states
from vigil.fleet.listeners import ListenerReports
from vigil.scanning.agent_intake import InventoryIntake
from vigil.scanning.operations import FleetOperations
from vigil.scanning.usage import UsageReports
from vigil.server.runtime import Runtime

FLEETS_DIR = Path("fleets")  # where fleet files attached over the API must lie


@dataclass(frozen=True, slots=True)
class Parts:
    operations: tuple[Mapping[str, Handler], ...] = ()
    routers: tuple[APIRouter, ...] = ()
    background: tuple[Background, ...] = ()
    agent_app: ASGIApp | None = None


def assemble(runtime: Runtime) -> Parts:
    settings = runtime.settings
    feeds_file = settings.path(settings.feeds_file) if settings.feeds_file else None
    fleet = FleetOperations(runtime.fleet, runtime.executor)

    def reconcile_associations() -> object:
        return runtime.associations.reconcile(runtime.accounts.enabled_accounts())

    def states(accounts: frozenset[str]) -> dict[tuple[str, str], AgentState]:
        with runtime.sessions() as session:
            return dict(agent_states(session, accounts))

    return Parts(
        operations=(
            accounts_ops.operations(runtime.accounts, runtime.organizations, reconcile_associations),
            coverage_ops.operations(runtime.fleet.coverage, UsageReports(runtime.sessions, runtime.clock)),
            findings_ops.operations(runtime.finding_queries),
            filters_ops.operations(runtime.filters),
            reports_ops.operations(runtime.reports),
        ),
        routers=(
            database_routes.router(
                runtime.advisories,
                feeds=lambda: load_feeds(feeds_file),
                may_update=runtime.is_management_account,
                updaters=feed_updaters(settings.nvd_api_key),
            ),
            providers_router(fleet, settings.path(FLEETS_DIR), operator=runtime.is_management_account),
            instances_router(fleet),
            scans_router(fleet),
            findings_router(FindingExposures(runtime.sessions)),
            associations_router(runtime.associations),
            activations_router(runtime.activations, runtime.agents, runtime.clock, states),
        ),
        background=(runtime.scheduler,),
        agent_app=agent_api(
            runtime.agents,
            InventoryIntake(runtime.fleet),
            runtime.associations,
            runtime.accounts,
            runtime.clock,
            excluded_check(runtime.sessions),
            ListenerReports(runtime.sessions),
        ),
    )
