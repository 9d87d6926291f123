"""The scheduler: at each tick, what is due at the clock's time goes to the executor (DESIGN §3.4).

- discovery of each attached provider, every `discovery` (and at once for a new provider);
- an agentless scan of each eligible instance of the accounts in hybrid mode: new or changed instances at
  the next check, every instance every `agentless`, one whose scan failed for a reason of Vigil's again
  after `discovery`; checked every `reevaluate`, with the advisory database's version (a new version is
  re-evaluated);
- instances whose agent delivers fresh inventories are left to it; one whose agent went silent for 7 days
  falls back to an agentless scan at the next check (where eligible);
- purge, sweep and the associations' reconcile (both also at start) and the feed update, each on its
  period, remembered across restarts;
- each account's network analysis every `network`, and at the next check after discovery saw its network
  description change or an agent reported other listeners.

`tick` does the deciding and nothing else; the server calls it from a thread (`start`), tests call it after
moving the injected clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import and_, or_, select

from vigil.fleet import discovery
from vigil.fleet.agents import agent_states
from vigil.fleet.instances import InstanceRecord
from vigil.fleet.model import InstanceState
from vigil.scanning import tasks
from vigil.scanning.coverage import (
    AGENT_BASED,
    INTERNAL_ERROR,
    agent_based,
    agentless_ineligibility,
    fallback_due,
    is_due,
)
from vigil.scanning.executor import Executor
from vigil.scanning.network_scan import due_accounts
from vigil.scanning.reevaluation import STATE_KEY
from vigil.scanning.scans import UNFINISHED, ScanConflict, ScanLog
from vigil.scanning.services import FleetServices
from vigil.scanning.state import read_state, write_state
from vigil.store.fleet import InstanceRow

log = logging.getLogger("vigil.scanning")
JOBS_KEY = "jobs"  # {job: when it last ran (ISO)}


class Scheduler:
    def __init__(self, services: FleetServices, executor: Executor, *, resolution: float = 1.0) -> None:
        self.services = services
        self.executor = executor
        self.resolution = resolution
        self._checked: dt.datetime | None = None
        self._network_handed: dict[str, dt.datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """At the server's start: end what an earlier process left (its scans, their snapshots), bring the
        findings to the advisory database's version, then tick every `resolution` seconds in a thread."""
        tasks.sweep(self.services)
        self._ran("sweep", self.services.clock())
        tasks.reconcile_associations(self.services)
        self._ran("reconcile", self.services.clock())
        # before any scan: note the advisory version the stored findings reflect (the first start), or
        # re-evaluate what changed while the server was down; a version noted later could already include
        # an update made after a scan, which would then never be re-evaluated
        tasks.reevaluate_changes(self.services)
        self._thread = threading.Thread(target=self._loop, name="vigil-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.resolution):
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed")

    def stop(self, *, wait: bool = True) -> None:
        """Stop ticking, cancel this process's scans (their snapshots are deleted as they end), stop the
        executor."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for scan_id in self.services.scans.unfinished():
            self.services.scanner.cancel(scan_id)
        self.executor.shutdown(wait=wait)

    def tick(self) -> list[str]:
        """Hand out what is due now; returns the tasks submitted (with their main argument)."""
        now = self.services.clock()
        submitted = self._discoveries(now)
        schedule = self.services.schedule
        jobs = read_state(self.services.sessions, JOBS_KEY) or {}
        periodic = [
            ("sweep", "sweep", schedule.sweep),
            ("purge", "purge", schedule.purge),
            ("reconcile", "reconcile_associations", schedule.reconcile),
        ]
        if self.services.update_feeds is not None:
            periodic.append(("feeds", "update_feeds", schedule.feeds))
        for job, task, period in periodic:
            last = jobs.get(job)
            if last is None or now - dt.datetime.fromisoformat(last) >= period:
                self._ran(job, now)
                self.executor.submit(task)
                submitted.append(task)
        if self._checked is None or now - self._checked >= schedule.reevaluate:
            self._checked = now
            submitted += self._queue_due_scans(now)
            submitted += self._networks(now)
            if self._advisories_changed():
                self.executor.submit("reevaluate")
                submitted.append("reevaluate")
        return submitted

    def _ran(self, job: str, now: dt.datetime) -> None:
        jobs = read_state(self.services.sessions, JOBS_KEY) or {}
        write_state(self.services.sessions, JOBS_KEY, {**jobs, job: now.isoformat()})

    def _discoveries(self, now: dt.datetime) -> list[str]:
        submitted = []
        for provider in discovery.providers(self.services.sessions):
            last = provider.discovered_at
            if last is None or now - last >= self.services.schedule.discovery:
                self.executor.submit("discover", account_id=provider.account_id, kind=provider.kind)
                submitted.append(f"discover:{provider.account_id}")
        return submitted

    def _networks(self, now: dt.datetime) -> list[str]:
        """A network analysis of each account whose is due (`network_scan.due_accounts`), unless one was
        handed out for it within the last check and has not ended."""
        submitted = []
        for account_id in due_accounts(self.services.sessions, now, self.services.schedule.network):
            handed = self._network_handed.get(account_id)
            if handed is not None and now - handed < 2 * self.services.schedule.reevaluate:
                continue
            self._network_handed[account_id] = now
            self.executor.submit("analyze_network", account_id=account_id)
            submitted.append(f"analyze_network:{account_id}")
        return submitted

    def _advisories_changed(self) -> bool:
        known = read_state(self.services.sessions, STATE_KEY)
        return known is None or known.get("version") != self.services.advisories.version

    def _queue_due_scans(self, now: dt.datetime) -> list[str]:
        """Queue an agentless scan of every instance that is due one, and hand each to the executor."""
        accounts = self.services.accounts
        hybrid = [a for a in accounts.enabled_accounts() if accounts.scan_mode(a) != AGENT_BASED]
        submitted = []
        for record in self._due(hybrid, now):
            try:
                scan = self.services.scans.queue(
                    record.instance.account_id, record.instance.instance_id, "schedule", now
                )
            except ScanConflict:
                continue
            self.executor.submit("scan_instance", scan_id=scan.scan_id)
            submitted.append(f"scan_instance:{record.instance.instance_id}")
        return submitted

    def _due(self, account_ids: list[str], now: dt.datetime) -> list[InstanceRecord]:
        if not account_ids:
            return []
        schedule = self.services.schedule
        started = InstanceRow.scan_started_at
        maybe_due = or_(
            started.is_(None),
            InstanceRow.changed_at > started,
            started <= now - schedule.agentless,
            and_(InstanceRow.scan_reason == INTERNAL_ERROR, started <= now - schedule.discovery),
        )
        query = (
            select(InstanceRow)
            .where(
                InstanceRow.account_id.in_(sorted(account_ids)),
                InstanceRow.state == InstanceState.RUNNING.value,
                maybe_due,
            )
            .order_by(InstanceRow.account_id, InstanceRow.instance_id)
        )
        with self.services.sessions() as session:
            busy = ScanLog.running(session, UNFINISHED)
            records = [InstanceRecord.of(row) for row in session.scalars(query)]
            agents = agent_states(session, account_ids)
        due = []
        for r in records:
            agent = agents.get(r.key)
            if r.key in busy or agentless_ineligibility(r.instance) is not None or agent_based(agent, now):
                continue  # an instance whose agent's inventory is fresh is scanned agent-based, not agentless
            if fallback_due(agent, r, now) or is_due(
                r, now, every=schedule.agentless, retry=schedule.discovery
            ):
                due.append(r)
        return due
