"""Network reachability scans (DESIGN §6): an account's network descriptions analysed, each instance's
`NETWORK_REACHABILITY` findings recorded, its exposure kept, and its package findings' Inspector scores
adjusted to it.

Run per account by the scheduler every `[schedule] network` (24 h), and sooner when discovery saw its network
description change, or an agent reported other listeners. Instances that are terminated or excluded by tag are
left out (their findings are closed by coverage); a stopped instance keeps its findings until it runs again.
An instance on no interface of the description has no reachable port: its network findings close.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from vigil.findings.inspector import Resource
from vigil.findings.network import network_finding
from vigil.fleet.instances import InstanceRecord, instances_of
from vigil.fleet.model import Instance, InstanceState
from vigil.network import Analysis, Topology, analyze
from vigil.network.ec2 import NetworkDescriptionError, topology_from_description
from vigil.network.results import Reachability
from vigil.scanning.services import FleetServices
from vigil.store.engine import transaction
from vigil.store.findings import FindingResourceRow
from vigil.store.network import ListenerReportRow, NetworkDescriptionRow, NetworkExposureRow

log = logging.getLogger("vigil.scanning")
_RECORDED_TOGETHER = 200  # instances' network findings per transaction


class AnalysisCache:
    """The last analyses made in this process, per (account, provider), so that a description whose only
    change is in some security groups is analysed again incrementally (`Analysis.update`: the interfaces
    those groups can affect) rather than whole. Bounded (`size` analyses: each holds its account's
    topology); an analysis is taken out while in use, so that two runs never share one."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[str, str], tuple[Topology, Analysis]] = OrderedDict()
        self._lock = threading.Lock()

    def analysis(self, account_id: str, provider: str, topology: Topology) -> Analysis:
        key = (account_id, provider)
        with self._lock:
            kept = self._kept.pop(key, None)
        analysis = _updated(kept, topology) if kept is not None else None
        if analysis is None:
            analysis = analyze(topology)
        with self._lock:
            self._kept[key] = (topology, analysis)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return analysis


def _updated(kept: tuple[Topology, Analysis], topology: Topology) -> Analysis | None:
    """The kept analysis brought to `topology` when only security groups changed or came (None: analyse
    it whole)."""
    before, analysis = kept
    if dataclasses.replace(before, security_groups=()) != dataclasses.replace(topology, security_groups=()):
        return None
    old = {g.group_id: g for g in before.security_groups}
    new = {g.group_id: g for g in topology.security_groups}
    if not old.keys() <= new.keys():
        return None  # a group went: whole
    for group_id in sorted(new):
        if old.get(group_id) != new[group_id]:
            analysis.update(new[group_id])
    return analysis


ANALYSES = AnalysisCache()


def analyze_network(services: FleetServices, account_id: str) -> dict[str, Any]:
    """Analyse the account's network descriptions and record what they give; a summary."""
    now = services.clock()
    with services.sessions() as session:
        descriptions = list(
            session.scalars(
                select(NetworkDescriptionRow).where(NetworkDescriptionRow.account_id == account_id)
            )
        )
        # descriptions parsed once per revision, as coverage reads them
        records = instances_of(session, [account_id], descriptions=services.coverage.descriptions)
        previous = {
            instance_id: (reachable, analyzed_at)
            for instance_id, reachable, analyzed_at in session.execute(
                select(
                    NetworkExposureRow.instance_id,
                    NetworkExposureRow.reachable,
                    NetworkExposureRow.analyzed_at,
                ).where(NetworkExposureRow.account_id == account_id)
            )
        }
        reports = {
            row.instance_id: row
            for row in session.scalars(
                select(ListenerReportRow).where(ListenerReportRow.account_id == account_id)
            )
        }
        platforms = _platforms(session, account_id)
    found: dict[str, list[Reachability]] = defaultdict(list)
    analysed: dict[str, str] = {}  # provider -> digest analysed
    errors: dict[str, str] = {}
    for row in descriptions:
        try:
            topology = topology_from_description(row.description)
        except NetworkDescriptionError as exc:
            errors[row.provider] = str(exc)
            continue
        for reachability in ANALYSES.analysis(account_id, row.provider, topology).findings:
            found[reachability.instance_id].append(reachability)
        analysed[row.provider] = row.digest
    kept = [
        r
        for r in records
        if r.instance.provider in analysed
        and r.instance.state is not InstanceState.TERMINATED
        and not r.instance.excluded
    ]
    enabled = account_id in services.accounts.enabled_accounts()
    batch: list[tuple[Instance, list[dict[str, Any]]]] = []
    exposures: dict[str, list[dict[str, Any]]] = {}
    same: list[str] = []  # analysed as before, nothing of theirs changed since: their findings are seen again
    for record in kept if enabled else []:
        instance = record.instance
        entries = [_reachable_entry(r) for r in found.get(instance.instance_id, [])]
        exposures[instance.instance_id] = entries
        if instance.state is InstanceState.STOPPED:
            continue  # keeps its findings; its exposure is what its network would give when it runs
        report = reports.get(instance.instance_id)
        platform, platform_at = platforms.get(instance.instance_id, ("UNKNOWN", None))
        if _unchanged(previous.get(instance.instance_id), entries, report, record, platform_at):
            same.append(instance.instance_id)
            continue
        resource = Resource(account_id, services.region, instance.instance_id, platform)
        documents = [
            network_finding(
                r,
                resource,
                now,
                listeners=report.listeners if report else None,
                firewall=report.firewall if report else None,
            )
            for r in sorted(found.get(instance.instance_id, []), key=_order)
        ]
        batch.append((instance, documents))
        if len(batch) == _RECORDED_TOGETHER:
            services.findings.record_network(batch, now)
            batch = []
    if batch:
        services.findings.record_network(batch, now)
    if same:
        services.findings.observe_network(account_id, same, now)
    unreadable = {r.instance.instance_id for r in records if r.instance.provider in errors}
    gone = sorted(set(previous) - set(exposures) - unreadable)  # an unreadable description changes nothing
    if gone:
        services.findings.close_network(account_id, gone, now)
    changed = [
        i for i, entries in exposures.items() if _exposure_changed(previous.get(i), entries, reports.get(i))
    ]
    changed += gone
    _save(services, account_id, exposures, previous, gone, analysed, errors, now, records)
    by_id = {r.instance.instance_id: r.instance for r in records}
    reexposed = services.findings.reexpose([by_id[i] for i in changed if i in by_id], now)
    return {
        "accountId": account_id,
        "instances": len(exposures),
        "findings": sum(len(found.get(i, [])) for i in exposures),
        "recorded": len(exposures) - len(same),
        "exposureChanged": len(changed),
        "packageFindingsRescored": reexposed,
        **({"errors": errors} if errors else {}),
    }


def _exposure_changed(
    previous: tuple[list[Any], dt.datetime] | None,
    entries: list[dict[str, Any]],
    report: ListenerReportRow | None,
) -> bool:
    """Whether the instance's exposure may differ from the last analysis': other reachable ranges, or a
    listener report made since."""
    if previous is None:
        return True
    reachable, analysed_at = previous
    return reachable != entries or (report is not None and report.reported_at > analysed_at)


def _order(reachability: Reachability) -> tuple[Any, ...]:
    return (reachability.network_interface_id, reachability.protocol, reachability.begin, reachability.edge)


def _reachable_entry(reachability: Reachability) -> dict[str, Any]:
    """What the store keeps of one reachable range (the exposure route and the score read it)."""
    return {
        "edge": reachability.edge,
        "protocol": reachability.protocol,
        "begin": reachability.begin,
        "end": reachability.end,
        "networkInterfaceId": reachability.network_interface_id,
        "steps": [step.to_dict() for step in reachability.steps],
    }


def _platforms(session: Session, account_id: str) -> dict[str, tuple[str, dt.datetime]]:
    """The platform each instance's last evaluation found (DEBIAN_12 says more than LINUX), and when."""
    statement = select(
        FindingResourceRow.resource_id, FindingResourceRow.platform, FindingResourceRow.recorded_at
    ).where(FindingResourceRow.account_id == account_id)
    return {resource: (platform, at) for resource, platform, at in session.execute(statement) if platform}


def _unchanged(
    previous: tuple[list[Any], dt.datetime] | None,
    entries: list[dict[str, Any]],
    report: ListenerReportRow | None,
    record: InstanceRecord,
    platform_at: dt.datetime | None,
) -> bool:
    """Whether the instance's network findings would be written as they are: the same reachable ranges and
    paths, and neither its description, its agent's report nor its evaluated platform newer than the last
    analysis."""
    if previous is None:
        return False
    reachable, analysed_at = previous
    newer = [record.changed_at, report.reported_at if report else None, platform_at]
    return reachable == entries and all(at is None or at <= analysed_at for at in newer)


def _save(
    services: FleetServices,
    account_id: str,
    exposures: Mapping[str, list[dict[str, Any]]],
    previous: Mapping[str, tuple[list[Any], dt.datetime]],
    gone: Sequence[str],
    analysed: Mapping[str, str],
    errors: Mapping[str, str],
    now: dt.datetime,
    records: Sequence[InstanceRecord],
) -> None:
    """The exposures as analysed now, set-wise: new rows inserted, changed ones rewritten, the rest only
    marked analysed (one statement for the account), those gone deleted."""
    providers = {r.instance.instance_id: r.instance.provider for r in records}
    new = [i for i in exposures if i not in previous]
    changed = [i for i in exposures if i in previous and previous[i][0] != exposures[i]]
    with transaction(services.sessions) as session:
        key = {"account_id": account_id}
        if new:
            session.execute(
                insert(NetworkExposureRow),
                [
                    key
                    | {
                        "instance_id": i,
                        "provider": providers[i],
                        "reachable": exposures[i],
                        "analyzed_at": now,
                    }
                    for i in new
                ],
            )
        if changed:
            session.execute(
                update(NetworkExposureRow),
                [
                    key | {"instance_id": i, "provider": providers[i], "reachable": exposures[i]}
                    for i in changed
                ],
            )
        session.execute(
            update(NetworkExposureRow)
            .where(NetworkExposureRow.account_id == account_id)
            .values(analyzed_at=now)
        )
        for start in range(0, len(gone), 500):
            session.execute(
                delete(NetworkExposureRow).where(
                    NetworkExposureRow.account_id == account_id,
                    NetworkExposureRow.instance_id.in_(gone[start : start + 500]),
                )
            )
        for described in session.scalars(
            select(NetworkDescriptionRow).where(NetworkDescriptionRow.account_id == account_id)
        ):
            if described.provider in analysed:
                described.analyzed_at, described.error = now, None
                described.analyzed_digest = analysed[described.provider]
            elif described.provider in errors:
                described.analyzed_at, described.error = now, errors[described.provider][:2048]
    for provider, error in errors.items():
        log.warning("network description of account %s (%s) unreadable: %s", account_id, provider, error)


def due_accounts(sessions: sessionmaker[Session], now: dt.datetime, every: dt.timedelta) -> list[str]:
    """The accounts whose network analysis is due: a description never analysed, changed since, or
    analysed `every` ago; an agent's listener report newer than the analysis; exposures left by a
    description that went (its provider detached, or its network no longer described)."""
    due: set[str] = set()
    analysed: dict[str, dt.datetime] = {}
    with sessions() as session:
        for row in session.execute(
            select(
                NetworkDescriptionRow.account_id,
                NetworkDescriptionRow.provider,
                NetworkDescriptionRow.digest,
                NetworkDescriptionRow.analyzed_digest,
                NetworkDescriptionRow.analyzed_at,
                NetworkDescriptionRow.changed_at,
                NetworkDescriptionRow.error,
            )
        ):  # fmt: skip
            at = row.analyzed_at
            # a description that could not be read is tried again when it changes, or on the period
            changed = row.digest != row.analyzed_digest and row.error is None
            if at is None or changed or now - at >= every or row.changed_at > at:
                due.add(row.account_id)
            elif at is not None:
                analysed[row.account_id] = min(at, analysed.get(row.account_id, at))
        described = exists().where(
            NetworkDescriptionRow.account_id == NetworkExposureRow.account_id,
            NetworkDescriptionRow.provider == NetworkExposureRow.provider,
        )
        due.update(session.scalars(select(NetworkExposureRow.account_id).where(~described).distinct()))
        if analysed:
            latest = select(ListenerReportRow.account_id, func.max(ListenerReportRow.reported_at)).where(
                ListenerReportRow.account_id.in_(sorted(analysed))
            )
            for account_id, reported in session.execute(latest.group_by(ListenerReportRow.account_id)):
                if reported is not None and reported > analysed[account_id]:
                    due.add(account_id)
    return sorted(due)
