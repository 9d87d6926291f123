"""The fleet service's parts, built once per process from what the server gives them (STYLE habit 3).

`FleetServices` is what every task (`vigil.scanning.tasks`) receives: the store, the clock, the other parts'
services (accounts, findings) and the advisory database, and the parts of scanning built on them.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from vigil.advisories.store import ChangeKey
from vigil.clock import Clock
from vigil.findings.evaluate import FindingsReader
from vigil.fleet.ports import AccountsDirectory, FindingsRecorder
from vigil.scanning.agentless import AgentlessLimits, AgentlessScanner
from vigil.scanning.coverage_service import CoverageService
from vigil.scanning.inventories import InventoryStore
from vigil.scanning.scans import ScanLog
from vigil.scanning.snapshots import SnapshotStore
from vigil.scanning.volume_snapshots import SnapshotStores


@dataclass(frozen=True, slots=True)
class Schedule:
    """How often each job runs (`[schedule]` in vigil.toml); `agentless` is each instance's scan interval."""

    discovery: dt.timedelta = dt.timedelta(hours=1)
    agentless: dt.timedelta = dt.timedelta(hours=24)
    feeds: dt.timedelta = dt.timedelta(hours=6)
    purge: dt.timedelta = dt.timedelta(hours=1)
    reevaluate: dt.timedelta = dt.timedelta(seconds=30)
    sweep: dt.timedelta = dt.timedelta(hours=1)
    reconcile: dt.timedelta = dt.timedelta(minutes=30)  # Inspector's associations re-created if deleted
    network: dt.timedelta = dt.timedelta(hours=24)  # each account's network reachability analysis

    @classmethod
    def of(cls, durations: Mapping[str, dt.timedelta]) -> Schedule:
        """The schedule from a `[schedule]` table (other parts' keys are left to them)."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in durations.items() if key in known})


class ReportRunner(Protocol):
    """Writes one queued report (`vigil.findings.service.ReportsService`)."""

    def run(self, report_id: str) -> None: ...


class AdvisorySource(FindingsReader, Protocol):
    """The advisory database as scanning reads it (`AdvisoryDB`): advisories, scores, and its versions."""

    @property
    def version(self) -> int: ...

    def changed_keys(self, since: int) -> set[ChangeKey]: ...

    def refresh(self) -> None: ...


class AssociationsKeeper(Protocol):
    """The accounts' associations (`vigil.fleet.associations.AssociationsService`)."""

    def reconcile(self, enabled_account_ids: Iterable[str]) -> dict[str, list[str]]: ...


class NonceKeeper(Protocol):
    """The agents' spent nonces (`vigil.fleet.agents.AgentRegistry`)."""

    def forget_nonces(self, now: dt.datetime) -> int: ...


class FleetServices:
    """Everything the fleet's tasks need. `update_feeds` runs the server's feed update (None: no feeds)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        accounts: AccountsDirectory,
        findings: FindingsRecorder,
        advisories: AdvisorySource,
        *,
        snapshots_dir: str | os.PathLike[str],
        region: str,
        schedule: Schedule = Schedule(),
        limits: AgentlessLimits = AgentlessLimits(),
        update_feeds: Callable[[], Any] | None = None,
        runner: str | None = None,
        reports: ReportRunner | None = None,
        associations: AssociationsKeeper | None = None,
        agents: NonceKeeper | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.accounts = accounts
        self.findings = findings
        self.advisories = advisories
        self.region = region
        self.schedule = schedule
        self.update_feeds = update_feeds
        self.reports = reports
        self.associations = associations
        self.agents = agents
        self.scans = ScanLog(sessions, runner)
        self.inventories = InventoryStore(sessions)
        self.snapshots = SnapshotStore(snapshots_dir)
        self.snapshot_stores = SnapshotStores(sessions, self.snapshots)
        self.coverage = CoverageService(sessions, accounts, self.scans, clock)
        self.scanner = AgentlessScanner(
            sessions, self.scans, self.inventories, self.snapshot_stores, findings, advisories, clock,
            region=region, limits=limits,
        )  # fmt: skip
