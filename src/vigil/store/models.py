"""Every model of the fleet store, imported so that `Base.metadata` knows them all (Alembic, tests)."""

from __future__ import annotations

from vigil.store import filters, findings, reports
from vigil.store.base import Base

__all__ = ["Base", "filters", "findings", "reports"]
