"""The instances' exposures as the store holds them: the last network analysis of each (reachable port ranges)
and its agent's last listener report (`vigil.findings.exposure`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.findings.exposure import Exposure, exposure_of, firewall_admits
from vigil.findings.model import PACKAGE_VULNERABILITY
from vigil.findings.network import NETWORK_REACHABILITY
from vigil.fleet.model import Instance
from vigil.store.findings import FindingContentRow, FindingPackageRow, FindingRow
from vigil.store.network import ListenerReportRow, NetworkExposureRow

_PER_QUERY = 500


def stored_exposures(session: Session, instances: Sequence[Instance]) -> dict[tuple[str, str], Exposure]:
    """The exposure of each of these instances whose network was analysed (the others have none: their
    package findings are not adjusted). One query per 500 instances, whatever their accounts: a
    re-evaluation asks for each inventory's holders, and most fleets have no network described."""
    wanted = {(i.account_id, i.instance_id) for i in instances}
    accounts = sorted({account for account, _ in wanted})
    ids = sorted({instance for _, instance in wanted})
    reachable: dict[tuple[str, str], list[Any]] = {}
    for start in range(0, len(ids), _PER_QUERY):
        statement = select(
            NetworkExposureRow.account_id, NetworkExposureRow.instance_id, NetworkExposureRow.reachable
        ).where(
            NetworkExposureRow.account_id.in_(accounts),
            NetworkExposureRow.instance_id.in_(ids[start : start + _PER_QUERY]),
        )
        reachable.update(
            ((account, instance), ranges)
            for account, instance, ranges in session.execute(statement)
            if (account, instance) in wanted
        )
    if not reachable:
        return {}
    analysed = sorted({instance for _, instance in reachable})
    reports: dict[tuple[str, str], Any] = {}
    for start in range(0, len(analysed), _PER_QUERY):
        statement = select(
            ListenerReportRow.account_id, ListenerReportRow.instance_id, ListenerReportRow.listeners,
            ListenerReportRow.firewall,
        ).where(
            ListenerReportRow.account_id.in_(accounts),
            ListenerReportRow.instance_id.in_(analysed[start : start + _PER_QUERY]),
        )  # fmt: skip
        reports.update(((row.account_id, row.instance_id), row) for row in session.execute(statement))
    exposures: dict[tuple[str, str], Exposure] = {}
    for key, ranges in reachable.items():
        report = reports.get(key)
        exposures[key] = exposure_of(
            ranges, report.listeners if report else None, report.firewall if report else None
        )
    return exposures


class FindingExposures:
    """`GET /vigil/v1/findings/{arn}/exposure`: the structured form of what a finding's text says of its
    instance's exposure (Inspector's shape has no member for it)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def of(self, visible: Collection[str], arn: str) -> dict[str, Any]:
        """The exposure behind one finding the caller may see (`LookupError` otherwise)."""
        with self._sessions() as session:
            row = session.execute(
                select(
                    FindingRow.account_id, FindingRow.resource_id, FindingRow.finding_type,
                    FindingRow.exposure, FindingRow.status, FindingContentRow.body,
                )
                .join(FindingContentRow, FindingContentRow.digest == FindingRow.content)
                .where(FindingRow.arn == arn)
            ).first()  # fmt: skip
            if row is None or row.account_id not in visible:
                raise LookupError(f"finding {arn} does not exist")
            network = session.get(NetworkExposureRow, (row.account_id, row.resource_id))
            report = session.get(ListenerReportRow, (row.account_id, row.resource_id))
            listeners = list(report.listeners) if report else None
            firewall = report.firewall if report else None
            analysed = {
                "analyzedAt": network.analyzed_at.isoformat() if network else None,
                "reachable": list(network.reachable) if network else [],
            }
            agent = {
                "reportedAt": report.reported_at.isoformat() if report else None,
                "hostFirewall": firewall,
            }
            held = _open_package_findings(session, row.account_id, row.resource_id)
        named = {"findingArn": arn, "findingType": row.finding_type, "status": row.status}
        named |= {
            "accountId": row.account_id,
            "instanceId": row.resource_id,
            "network": analysed,
            "agent": agent,
        }
        if row.finding_type == NETWORK_REACHABILITY:
            return named | _network_view(row.body, listeners, firewall, held)
        exposure = exposure_of(network.reachable if network else None, listeners, firewall)
        packages = row.body.get("packageVulnerabilityDetails", {}).get("vulnerablePackages", [])
        base = (row.body.get("inspectorScoreDetails") or {}).get("adjustedCvss")
        adjusted = (row.exposure or {}).get("inspectorScoreDetails", {}).get("adjustedCvss")
        return named | {
            "reachableFromOutside": exposure.reachable,
            "listening": [item.to_json() for item in exposure.listening_of(packages)],
            "inspectorScore": {"base": base, "adjusted": adjusted or base},
        }


def _network_view(
    body: Mapping[str, Any],
    listeners: list[Mapping[str, Any]] | None,
    firewall: Mapping[str, Any] | None,
    held: Mapping[str, list[str]],
) -> dict[str, Any]:
    details = body.get("networkReachabilityDetails", {})
    ports, protocol = details.get("openPortRange", {}), str(details.get("protocol", ""))
    begin, end = int(ports.get("begin", 0)), int(ports.get("end", -1))
    listening = [
        item
        for item in listeners or ()
        if str(item.get("protocol", "")).upper() == protocol and begin <= int(item.get("port", -1)) <= end
    ]
    named = []
    for item in listening:
        package = item.get("package") or {}
        named.append({**item, "packageFindings": held.get(str(package.get("name")), [])})
    return {
        "openPortRange": ports,
        "protocol": protocol,
        "networkPath": details.get("networkPath", {}),
        "hostFirewallAdmits": firewall_admits(firewall, protocol, begin, end) if firewall else None,
        "listeners": named if listeners is not None else None,
    }


def _open_package_findings(session: Session, account_id: str, instance_id: str) -> dict[str, list[str]]:
    """The instance's open package findings' ARNs, by the names of their vulnerable packages."""
    statement = (
        select(FindingRow.arn, FindingPackageRow.name)
        .join(FindingPackageRow, FindingPackageRow.content == FindingRow.content)
        .where(
            FindingRow.account_id == account_id,
            FindingRow.resource_id == instance_id,
            FindingRow.status != "CLOSED",
            FindingRow.finding_type == PACKAGE_VULNERABILITY,
        )
        .order_by(FindingRow.arn)
    )
    held: dict[str, list[str]] = {}
    for arn, name in session.execute(statement):
        held.setdefault(name, []).append(arn)
    return held
