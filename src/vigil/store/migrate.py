"""Bring a store's schema to the newest revision (Alembic), on SQLite or PostgreSQL.

The server runs this at start; `vigil server init` on a new store. Every schema change is a revision under
`migrations/versions/`, never a `create_all`: a store made by one version of Vigil upgrades in place.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Upgrade to every head (each aggregate's branch of revisions)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def new_revision(engine: Engine, message: str, *, branch: str | None = None, head: str = "heads") -> None:
    """Write a revision from the difference between the models and the migrated schema (for developers:
    `python -c 'from vigil.store.migrate import …'`)."""
    config = alembic_config(engine)
    migrate(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message, autogenerate=True, head=head, branch_label=branch)
