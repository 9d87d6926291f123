"""The one list of what the server serves (STYLE habit 2): each resource group's Inspector handlers, Vigil
API routers and background services, built from the runtime's services. A new group is a line here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import APIRouter

from vigil.advisories.feeds import load_feeds
from vigil.api.app import Background
from vigil.api.context import Handler
from vigil.api.inspector_ops import accounts as accounts_ops
from vigil.api.vigil_routes import database as database_routes
from vigil.server.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Parts:
    operations: tuple[Mapping[str, Handler], ...] = ()
    routers: tuple[APIRouter, ...] = ()
    background: tuple[Background, ...] = ()


def assemble(runtime: Runtime) -> Parts:
    settings = runtime.settings
    feeds_file = settings.path(settings.feeds_file) if settings.feeds_file else None
    return Parts(
        operations=(accounts_ops.operations(runtime.accounts, runtime.organizations),),
        routers=(
            database_routes.router(
                runtime.advisories,
                feeds=lambda: load_feeds(feeds_file),
                may_update=runtime.is_management_account,
            ),
        ),
    )
