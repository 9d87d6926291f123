"""The accounts branch of migrations makes exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from vigil.store.migrate import alembic_config
from vigil.store.models import Base


def test_the_migrated_schema_equals_the_models(store_engine):
    with store_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert {"accounts", "access_keys", "organization"} <= set(inspect(store_engine).get_table_names())


def test_the_accounts_branch_starts_from_nothing(store_engine):
    scripts = ScriptDirectory.from_config(alembic_config(store_engine))
    (base,) = [s for s in scripts.walk_revisions() if "accounts" in (s.branch_labels or ())]
    assert base.down_revision is None
