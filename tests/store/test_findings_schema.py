"""The findings branch of migrations makes exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from vigil.store.models import Base

FINDINGS_TABLES = {
    "findings",
    "finding_contents",
    "finding_content_packages",
    "finding_content_related",
    "finding_resources",
    "finding_resource_tags",
    "finding_filters",
    "finding_reports",
}


def test_migrated_schema_equals_the_models(store_engine):
    with store_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_findings_branch_creates_its_tables(store_engine):
    assert set(inspect(store_engine).get_table_names()) >= FINDINGS_TABLES
