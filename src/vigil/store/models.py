"""Every model of the fleet store, imported so that `Base.metadata` knows them all (Alembic, tests)."""

from __future__ import annotations

from vigil.store import (
    accounts,
    agents,
    filters,
    findings,
    fleet,
    inventories,
    network,
    reports,
    scans,
)
from vigil.store.base import Base

__all__ = [
    "Base",
    "accounts",
    "agents",
    "filters",
    "findings",
    "fleet",
    "inventories",
    "network",
    "reports",
    "scans",
]
