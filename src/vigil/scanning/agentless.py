"""The agentless scan of one instance (DESIGN §3.4): snapshot every volume, read the snapshots as one
instance (no mount, no copy), collect the inventory of the whole filesystem within the time limit, store it
once per content hash, evaluate it, hand the findings to the findings service, delete the snapshots.

Volumes encrypted with a KMS key tagged `InspectorEc2Exclusion` are left out; a key the provider cannot use
ends the scan with ACCESS_DENIED_TO_ENCRYPTION_KEY before anything is snapshotted. A scan past its time
limit ends with AGENTLESS_INSTANCE_COLLECTION_TIME_LIMIT_EXCEEDED and records no findings (a partial
inventory would close findings that are still true). Snapshots are deleted however the scan ends.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.advisories.namespaces import os_namespace
from vigil.clock import Clock
from vigil.findings.evaluate import FindingsReader, evaluate
from vigil.fleet.instances import FAILED, SUCCEEDED, InstanceRecord, get_instance
from vigil.fleet.model import Instance, InstanceState, KmsKey, Volume
from vigil.fleet.ports import FindingsRecorder
from vigil.fs import EncryptedVolume, NoOperatingSystem, ScanTimeout, UnsupportedFilesystem
from vigil.inventory.collect import Collector, Limits, PathScope
from vigil.inventory.model import Inventory
from vigil.inventory.registry import extractors, unusable_package_databases
from vigil.inventory.targets import open_target
from vigil.scanning import coverage as cov
from vigil.scanning.inventories import InventoryStore
from vigil.scanning.scans import CANCELLED, Outcome, ScanLog, ScanRecord
from vigil.scanning.snapshots import Snapshot
from vigil.scanning.volume_snapshots import SnapshotStores, SnapshotUnreadable, Taken
from vigil.store.engine import transaction
from vigil.store.fleet import InstanceRow, KmsKeyRow


@dataclass(frozen=True, slots=True)
class AgentlessLimits:
    """Inspector's per-instance limits: the scan's time, and the language packages kept."""

    time_limit_s: float = 15 * 60
    max_language_packages: int = 5000


class Cancelled(Exception):
    """The scan was cancelled (the instance went away, the server is stopping)."""


class ScanFailed(Exception):
    """The scan cannot go on; `reason` is the coverage reason it gives."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class AgentlessScanner:
    """Runs queued agentless scans, one per call, in whatever thread or process calls `run`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        scans: ScanLog,
        inventories: InventoryStore,
        snapshots: SnapshotStores,
        findings: FindingsRecorder,
        advisories: FindingsReader,
        clock: Clock,
        *,
        region: str,
        limits: AgentlessLimits = AgentlessLimits(),
    ) -> None:
        self.sessions = sessions
        self.scans = scans
        self.inventories = inventories
        self.snapshots = snapshots
        self.findings = findings
        self.advisories = advisories
        self.clock = clock
        self.region = region
        self.limits = limits
        self._running: dict[str, threading.Event] = {}
        self._instances: dict[str, Instance] = {}  # the instance each running scan snapshots
        self._lock = threading.Lock()

    def running(self) -> set[str]:
        """The ids of the scans this scanner is running now (the sweeper leaves their snapshots)."""
        with self._lock:
            return set(self._running)

    def cancel(self, scan_id: str) -> bool:
        """Ask a running scan to stop (it ends CANCELLED at its next check); False if it is not running."""
        with self._lock:
            event = self._running.get(scan_id)
        if event is None:
            return self.scans.cancel_queued(scan_id, self.clock())
        event.set()
        return True

    def run(self, scan_id: str) -> ScanRecord | None:
        """Run the queued scan `scan_id` to its end; None when it is not queued (taken, or cancelled)."""
        started = self.scans.start(scan_id, self.clock())
        if started is None:
            return None
        cancelled = threading.Event()
        with self._lock:
            self._running[scan_id] = cancelled
        try:
            outcome = self._outcome(started, cancelled)
        finally:
            with self._lock:
                instance = self._instances.pop(scan_id, None)
            try:
                self.snapshots.delete(scan_id, instance)
            finally:
                with self._lock:
                    del self._running[scan_id]
        return self._finish(started, outcome)

    def _outcome(self, scan: ScanRecord, cancelled: threading.Event) -> Outcome:
        try:
            return self._scan(scan, cancelled)
        except Cancelled as exc:
            return Outcome(CANCELLED, detail=str(exc) or "cancelled")
        except ScanFailed as exc:
            return Outcome(FAILED, exc.reason, exc.detail)
        except ScanTimeout as exc:
            return Outcome(FAILED, cov.TIME_LIMIT_EXCEEDED, str(exc))
        except (UnsupportedFilesystem, NoOperatingSystem) as exc:
            return Outcome(FAILED, cov.UNSUPPORTED_OS, str(exc))
        except EncryptedVolume as exc:
            return Outcome(FAILED, cov.ACCESS_DENIED_TO_ENCRYPTION_KEY, str(exc))
        except SnapshotUnreadable as exc:  # never a partial inventory: tried again later
            return Outcome(FAILED, cov.INTERNAL_ERROR, str(exc))
        except Exception as exc:  # a damaged image, an error of Vigil's: recorded, retried by itself later
            return Outcome(FAILED, cov.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")

    def _scan(self, scan: ScanRecord, cancelled: threading.Event) -> Outcome:
        with self.sessions() as session:
            record = get_instance(session, scan.account_id, scan.instance_id)
            keys = _keys(session, scan.account_id)
        if record is None:
            raise Cancelled("the instance is gone")
        _check_scannable(record)
        volumes, notes = _readable_volumes(record.instance.volumes, keys)
        left_out = [v for v in record.instance.volumes if v not in volumes]
        with self._lock:
            self._instances[scan.scan_id] = record.instance
        store = self.snapshots.for_instance(record.instance)
        taken = store.take(scan.scan_id, record.instance, volumes, left_out)
        try:
            self.scans.note_snapshots(scan.scan_id, taken.records() + notes)
            if cancelled.is_set():
                raise Cancelled("cancelled")
            inventory = self._collect(taken, cancelled)
            taken.check()
        finally:
            taken.close()
            if taken.readers:  # what reading the snapshots cost: blocks, bytes, requests
                self.scans.note_snapshots(scan.scan_id, taken.records() + notes)
        _check_inventory(inventory)
        now = self.clock()
        content_hash = self.inventories.put(inventory, now)
        evaluation = evaluate(
            inventory,
            self.advisories,
            now=now,
            account_id=scan.account_id,
            resource_id=scan.instance_id,
            region=self.region,
        )
        self.findings.record(record.instance, evaluation, now)
        over = any(hit.limit == "package_count" for hit in inventory.limits_hit)
        reason = cov.PACKAGE_LIMIT_EXCEEDED if over else cov.SUCCESSFUL
        detail = "; ".join(inventory.target.problems) or None
        return Outcome(
            SUCCEEDED, reason, detail, content_hash, len(inventory.packages), len(evaluation.findings)
        )

    def _collect(self, snapshots: Taken, cancelled: threading.Event) -> Inventory:
        """The instance's inventory, read from its snapshots, its disks named by their devices: the same disks
        give the same content hash whichever scan read them, on whichever instance (a clone)."""
        limit = self.limits.time_limit_s
        taken = snapshots.snapshots
        fs, target = open_target(snapshots.sources, timeout=limit)
        try:
            collector = Collector(
                fs,
                extractors(),
                scope=PathScope.all(),
                limits=Limits(self.limits.max_language_packages, limit, workers=1),
                progress=_stop_when(cancelled),
            )
            inventory = collector.collect(target)
        finally:
            fs.close()
        problems = tuple(_renamed(p, taken) for p in inventory.target.problems)
        renamed = dataclasses.replace(target, paths=tuple(s.device for s in taken), problems=problems)
        return dataclasses.replace(inventory, target=renamed)

    def _finish(self, scan: ScanRecord, outcome: Outcome) -> ScanRecord:
        now = self.clock()
        finished = self.scans.finish(scan.scan_id, outcome, now)
        if outcome.status == SUCCEEDED:
            _set_closed(self.sessions, scan, None)
        elif outcome.reason in cov.CLOSING_REASONS:
            self.findings.close_instance(scan.account_id, scan.instance_id, now, reason=outcome.reason)
            _set_closed(self.sessions, scan, outcome.reason)
        return finished


def _keys(session: Session, account_id: str) -> dict[str, KmsKey]:
    rows = session.scalars(select(KmsKeyRow).where(KmsKeyRow.account_id == account_id))
    return {row.key_id: KmsKey(row.key_id, dict(row.tags), row.usable) for row in rows}


def _check_scannable(record: InstanceRecord) -> None:
    """The instance must still be one agentless scans cover (it may have changed since it was queued)."""
    instance = record.instance
    if instance.state is not InstanceState.RUNNING:
        raise Cancelled(f"the instance is {instance.state.value}")
    ineligible = cov.agentless_ineligibility(instance)
    if ineligible is not None:
        raise Cancelled(f"the instance is not eligible for agentless scans ({ineligible})")


def _readable_volumes(
    volumes: Sequence[Volume], keys: dict[str, KmsKey]
) -> tuple[list[Volume], list[dict[str, str]]]:
    """The volumes to snapshot, and notes on those left out; ScanFailed when a key cannot be used."""
    kept, notes = [], []
    for volume in volumes:
        if not volume.encrypted or volume.kms_key_id is None:
            kept.append(volume)
            continue
        key = keys.get(volume.kms_key_id)
        if key is not None and key.excluded:
            notes.append(
                {"volumeId": volume.volume_id, "method": "left out", "note": "its KMS key is excluded"}
            )
            continue
        if key is None or not key.usable:
            raise ScanFailed(
                cov.ACCESS_DENIED_TO_ENCRYPTION_KEY,
                f"volume {volume.volume_id}: KMS key {volume.kms_key_id} cannot be used",
            )
        kept.append(volume)
    if not kept:
        raise ScanFailed(cov.UNSUPPORTED_OS, "every volume was left out (their KMS keys are excluded)")
    return kept, notes


def _check_inventory(inventory: Inventory) -> None:
    """A collection that did not finish, found no supported OS, or could not read its package database."""
    timed_out = [hit.detail for hit in inventory.limits_hit if hit.limit in ("scan_time", "collection_time")]
    if timed_out:
        raise ScanFailed(cov.TIME_LIMIT_EXCEEDED, timed_out[0])
    os = inventory.os
    if os is None:
        raise ScanFailed(cov.UNSUPPORTED_OS, "no OS found (no os-release or other release file)")
    if os_namespace(os.id, os.version_id) is None:
        name = os.name or f"{os.id} {os.version_id or ''}".strip()
        raise ScanFailed(cov.UNSUPPORTED_OS, f"{name}: not a supported operating system")
    unusable = unusable_package_databases(inventory)
    if unusable:
        raise ScanFailed(cov.INTERNAL_ERROR, "the OS package database is unusable: " + "; ".join(unusable))


def _stop_when(cancelled: threading.Event) -> Callable[[int, int], None]:
    def progress(files: int, packages: int) -> None:
        if cancelled.is_set():
            raise Cancelled("cancelled")

    return progress


def _renamed(problem: str, taken: Sequence[Snapshot]) -> str:
    for snapshot in taken:
        problem = problem.replace(snapshot.path, snapshot.device)
    return problem


def _set_closed(sessions: sessionmaker[Session], scan: ScanRecord, reason: str | None) -> None:
    with transaction(sessions) as session:
        row = session.get(InstanceRow, (scan.account_id, scan.instance_id))
        if row is not None:
            row.closed_reason = reason
