"""Every model of the fleet store, imported so that `Base.metadata` knows them all (Alembic, tests)."""

from __future__ import annotations

from vigil.store import accounts, filters, findings, fleet, inventories, reports, scans
from vigil.store.base import Base

__all__ = ["Base", "accounts", "filters", "findings", "fleet", "inventories", "reports", "scans"]
