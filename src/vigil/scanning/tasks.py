"""The work the scheduler hands out: plain functions of (`FleetServices`, serialisable arguments), listed in
one registry (STYLE habit 2), so that an executor can run them in threads now and a task engine (Celery)
in other processes later, each worker building its own `FleetServices`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete

from vigil.fleet import discovery
from vigil.fleet.model import InstanceState
from vigil.scanning import usage
from vigil.scanning.network_scan import analyze_network
from vigil.scanning.reconcile import reconcile
from vigil.scanning.reevaluation import evaluate_inventory, reevaluate
from vigil.scanning.scans import UNFINISHED
from vigil.scanning.services import FleetServices
from vigil.store.engine import transaction
from vigil.store.fleet import InstanceRow
from vigil.store.scans import ScanRow

TERMINATED_KEPT = dt.timedelta(days=3)  # a vanished, terminated instance stays in coverage this long
SCANS_KEPT = dt.timedelta(days=30)
UNUSED_INVENTORY_GRACE = dt.timedelta(days=1)


def discover_fleet(services: FleetServices, account_id: str, kind: str = "local") -> dict[str, Any]:
    """Discover one account's provider, then bring coverage, findings and usage in line."""
    report = discovery.discover(services.sessions, account_id, kind, services.clock())
    if report.error is None:
        reconcile(services.sessions, services.coverage, services.findings, account_id, services.clock())
    return report.to_json()


def scan_instance(services: FleetServices, scan_id: str) -> dict[str, Any] | None:
    """Run one queued agentless scan; None when it is no longer queued."""
    record = services.scanner.run(scan_id)
    if record is None:
        return None
    reconcile(
        services.sessions, services.coverage, services.findings, record.account_id, services.clock(),
        instance_ids=[record.instance_id],
    )  # fmt: skip
    return record.to_json()


def evaluate_stored_inventory(services: FleetServices, content_hash: str) -> list[str]:
    return evaluate_inventory(services, content_hash)


def reevaluate_changes(services: FleetServices) -> dict[str, Any]:
    return reevaluate(services)


def purge(services: FleetServices) -> dict[str, int]:
    """Delete what is gone for good: findings (the findings service's rules), vanished instances 3 days
    after they were terminated, scans after 30 days, inventories nothing points at, old usage."""
    now = services.clock()
    findings = services.findings.purge(now)
    with transaction(services.sessions) as session:
        gone = session.execute(
            delete(InstanceRow).where(
                InstanceRow.vanished.is_(True),
                InstanceRow.state == InstanceState.TERMINATED.value,
                InstanceRow.terminated_at < now - TERMINATED_KEPT,
            )
        )
        scans = session.execute(
            delete(ScanRow).where(ScanRow.status.not_in(UNFINISHED), ScanRow.requested_at < now - SCANS_KEPT)
        )
        usage.forget(session, now)
    inventories = services.inventories.drop_unused(now - UNUSED_INVENTORY_GRACE)
    nonces = services.agents.forget_nonces(now) if services.agents is not None else 0
    return {
        "nonces": nonces,
        "findings": findings,
        "instances": getattr(gone, "rowcount", 0),
        "scans": getattr(scans, "rowcount", 0),
        "inventories": inventories,
    }


def sweep(services: FleetServices) -> dict[str, list[str]]:
    """Delete the snapshots whose scan is not running, and end the scans an earlier process left."""
    interrupted = services.scans.interrupt_others(services.clock())
    swept = services.snapshot_stores.sweep(services.scanner.running())
    return {"snapshots": swept, "interrupted": interrupted}


def reconcile_associations(services: FleetServices) -> dict[str, list[str]]:
    """Inspector's associations of every account with EC2 scanning enabled, re-created where deleted (and
    removed where it is disabled); and every enabled account's coverage brought in line with its findings
    and usage, since time alone changes an agent's (7 silent days make its inventory stale) and an account
    of managed instances only has no discovery to do it."""
    enabled = services.accounts.enabled_accounts()
    now = services.clock()
    for account_id in enabled:
        reconcile(services.sessions, services.coverage, services.findings, account_id, now)
    if services.associations is None:
        return {}
    return services.associations.reconcile(enabled)


def update_feeds(services: FleetServices) -> dict[str, Any]:
    """The server's feed update, then the re-evaluation of what it changed."""
    if services.update_feeds is None:
        return {"feeds": "none configured"}
    services.update_feeds()
    return reevaluate(services)


def write_report(services: FleetServices, report_id: str) -> None:
    """A findings report or an SBOM export, written to its bucket (CreateFindingsReport, CreateSbomExport)."""
    if services.reports is None:
        raise RuntimeError("this server has no reports service")
    services.reports.run(report_id)


TASKS: dict[str, Callable[..., Any]] = {
    "discover": discover_fleet,
    "scan_instance": scan_instance,
    "evaluate_inventory": evaluate_stored_inventory,
    "reevaluate": reevaluate_changes,
    "purge": purge,
    "sweep": sweep,
    "reconcile_associations": reconcile_associations,
    "update_feeds": update_feeds,
    "write_report": write_report,
    "analyze_network": analyze_network,
}
