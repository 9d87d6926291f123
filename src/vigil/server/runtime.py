"""What a running server holds, built from its settings: the store, the services, the advisory database.

Built by `open_runtime` (and closed with it) for `vigil server run` and the other `vigil server` commands;
nothing of it exists at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vigil.advisories.store import AdvisoryDB
from vigil.clock import Clock, system_clock
from vigil.fleet.accounts import AccountsService
from vigil.fleet.organizations import OrganizationsService
from vigil.server.keyfile import KeyFile
from vigil.server.settings import Settings
from vigil.store.engine import make_engine, session_factory
from vigil.store.migrate import migrate


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    accounts: AccountsService
    organizations: OrganizationsService
    advisories: AdvisoryDB  # the shared reader (thread-safe); writers open their own connection

    def is_management_account(self, account_id: str) -> bool:
        return account_id == self.accounts.management_account_id()


@contextmanager
def open_store(settings: Settings) -> Iterator[Engine]:
    """The fleet store, migrated to every head (a store made by an older Vigil upgrades in place)."""
    engine = make_engine(settings.store_url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def open_runtime(settings: Settings, *, clock: Clock = system_clock) -> Iterator[Runtime]:
    with ExitStack() as stack:
        engine = stack.enter_context(open_store(settings))
        sessions = session_factory(engine)
        sealer = KeyFile.open(settings.path(settings.secrets_key))
        advisories = stack.enter_context(AdvisoryDB(settings.path(settings.advisory_db), readonly=True))
        yield Runtime(
            settings=settings,
            clock=clock,
            engine=engine,
            sessions=sessions,
            accounts=AccountsService(sessions, sealer, clock),
            organizations=OrganizationsService(sessions, clock),
            advisories=advisories,
        )
