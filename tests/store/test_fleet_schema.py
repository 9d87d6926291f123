"""The fleet branch's migrations build exactly the schema its models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from vigil.store.models import Base

FLEET_TABLES = {
    "providers",
    "instances",
    "kms_keys",
    "usage_periods",
    "fleet_state",
    "inventories",
    "inventory_packages",
    "scans",
}


def test_the_migrated_store_has_every_fleet_table(store_engine):
    assert set(inspect(store_engine).get_table_names()) >= FLEET_TABLES


def test_the_migrated_schema_equals_the_models(store_engine):
    with store_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
