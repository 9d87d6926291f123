"""What a running server holds, built from its settings: the store, the services, the advisory database.

Built by `open_runtime` (and closed with it) for `vigil server run` and the other `vigil server` commands;
nothing of it exists at import time.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vigil.advisories.feeds import feed_updaters, load_feeds
from vigil.advisories.service import update_feeds
from vigil.advisories.store import AdvisoryDB
from vigil.clock import Clock, system_clock
from vigil.findings.service import (
    FiltersService,
    FindingsQueries,
    FindingsService,
    PageTokens,
    ReportsService,
)
from vigil.fleet.accounts import AccountsService, filter_owners
from vigil.fleet.activations import ActivationsService
from vigil.fleet.agents import AgentRegistry
from vigil.fleet.associations import AssociationsService
from vigil.fleet.organizations import OrganizationsService
from vigil.scanning.executor import Executor, ThreadExecutor
from vigil.scanning.inventories import InventoryStore
from vigil.scanning.scheduler import Scheduler
from vigil.scanning.services import FleetServices, Schedule
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
    findings: FindingsService
    finding_queries: FindingsQueries
    filters: FiltersService
    reports: ReportsService
    fleet: FleetServices
    executor: Executor
    scheduler: Scheduler
    activations: ActivationsService
    agents: AgentRegistry
    associations: AssociationsService

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
def open_runtime(settings: Settings, *, clock: Clock = system_clock, workers: int = 2) -> Iterator[Runtime]:
    """Everything the server runs, wired (the scheduler built but not started: the app's lifespan starts
    it)."""
    with ExitStack() as stack:
        engine = stack.enter_context(open_store(settings))
        sessions = session_factory(engine)
        sealer = KeyFile.open(settings.path(settings.secrets_key))
        advisories = stack.enter_context(AdvisoryDB(settings.path(settings.advisory_db), readonly=True))
        accounts = AccountsService(sessions, sealer, clock)
        tokens = PageTokens(_token_key(settings.path(TOKENS_KEY)))
        findings = FindingsService(sessions, filter_owners=filter_owners)
        associations = AssociationsService(sessions, clock)
        agents = AgentRegistry(sessions, sealer, clock)
        executor_box: list[Executor] = []  # the executor runs the reports service's tasks: made after it

        def submit_report(report_id: str) -> None:
            executor_box[0].submit("write_report", report_id=report_id)

        reports = ReportsService(
            sessions, clock, settings.path(settings.exports), InventoryStore(sessions), submit_report
        )
        fleet = FleetServices(
            sessions,
            clock,
            accounts,
            findings,
            advisories,
            snapshots_dir=settings.path(settings.snapshots),
            region=settings.region,
            schedule=Schedule.of(settings.schedule),
            update_feeds=_feed_update(settings),
            reports=reports,
            associations=associations,
            agents=agents,
        )
        executor = ThreadExecutor(fleet, workers=workers)
        executor_box.append(executor)
        reports.recover()
        yield Runtime(
            settings=settings,
            clock=clock,
            engine=engine,
            sessions=sessions,
            accounts=accounts,
            organizations=OrganizationsService(sessions, clock),
            advisories=advisories,
            findings=findings,
            finding_queries=FindingsQueries(sessions, tokens),
            filters=FiltersService(sessions, findings, tokens, clock, region=settings.region),
            reports=reports,
            fleet=fleet,
            executor=executor,
            scheduler=Scheduler(fleet, executor),
            activations=ActivationsService(sessions, clock),
            agents=agents,
            associations=associations,
        )


TOKENS_KEY = Path("tokens.key")


def _token_key(path: Path) -> bytes:
    """The key that seals `nextToken`s, made on first use (0600) and kept: tokens survive a restart."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    key = secrets.token_bytes(32)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key


def _feed_update(settings: Settings) -> Callable[[], object]:
    """The scheduler's `[schedule] feeds` job: `vigil db update` of the configured feeds, into DIR."""
    feeds_file = settings.path(settings.feeds_file) if settings.feeds_file else None

    def update() -> object:
        return update_feeds(
            settings.path(settings.advisory_db),
            load_feeds(feeds_file),
            updaters=feed_updaters(settings.nvd_api_key),
        )

    return update
