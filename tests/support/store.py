"""The fleet store on both of its backends: every store test runs on SQLite and on PostgreSQL.

PostgreSQL is the machine's (127.0.0.1:5432, trust auth, database `test`): each test gets a database of its
own, created from `test` and dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from vigil.store.engine import make_engine
from vigil.store.migrate import migrate

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A new, empty store database: a SQLite file, or a PostgreSQL database of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vigil.db'}"
        return
    name = f"vigil_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store_engine(database_url: str) -> Iterator[Engine]:
    """An engine on a migrated store (every Alembic head)."""
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()
