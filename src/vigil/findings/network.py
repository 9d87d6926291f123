"""`NETWORK_REACHABILITY` findings (DESIGN §4, §6): one per (instance, protocol, open port range, path), in
Inspector's `Finding` shape with `networkReachabilityDetails`.

The ARN is stable per instance and (interface, protocol, range, path): the same exposure found again is the
same finding, and a changed path is another one. Where the instance's agent reports what listens, the
description names the processes listening in the range and the packages owning their executables, and says
when the host firewall drops the whole range (the path is open in the VPC's configuration all the same).

Severity, which Inspector documents only by example: an internet-gateway path to a port that remote
administration, file sharing or databases use is MEDIUM, another internet-gateway path LOW, and a path from a
peering connection or a virtual private gateway (networks the account chose to join) INFORMATIONAL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vigil.enums import Severity
from vigil.findings.exposure import firewall_admits
from vigil.findings.inspector import Resource, finding_arn
from vigil.findings.model import EC2_INSTANCE, clip, epoch

if TYPE_CHECKING:  # the analysis' results, read as data: findings do not depend on the network layer
    from vigil.network.results import Reachability

NETWORK_REACHABILITY = "NETWORK_REACHABILITY"
SENSITIVE_PORTS = frozenset(
    {20, 21, 22, 23, 25, 110, 135, 137, 138, 139, 143, 445, 1433, 1521, 2049, 2375, 2376, 3306, 3389, 5432,
     5900, 5984, 6379, 7001, 8020, 9042, 9200, 9300, 11211, 27017, 27018}
)  # fmt: skip
_MAX_NAMED = 5
_RECOMMENDATION = (
    "Review the security groups, network ACLs, route tables and load balancer listeners on this path; "
    "restrict the sources allowed to reach these ports to those that need them."
)


def network_key(reachability: Reachability) -> str:
    """The finding's identity within its instance: interface, protocol, range and path."""
    path = "/".join(f"{s.component_type}:{s.component_id}" for s in reachability.steps)
    text = (
        f"{reachability.network_interface_id}\0{reachability.protocol}\0{reachability.begin}-"
        f"{reachability.end}\0{path}"
    )
    return "network:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def severity(reachability: Reachability) -> Severity:
    if reachability.edge != "IGW":
        return Severity.INFORMATIONAL
    if any(reachability.begin <= port <= reachability.end for port in SENSITIVE_PORTS):
        return Severity.MEDIUM
    return Severity.LOW


def network_finding(
    reachability: Reachability,
    resource: Resource,
    now: dt.datetime,
    *,
    listeners: Sequence[Mapping[str, Any]] | None = None,
    firewall: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The finding's JSON (as `Finding.to_json` gives a package finding's)."""
    observed = epoch(now)
    return {
        "findingArn": finding_arn(resource, network_key(reachability)),
        "awsAccountId": resource.account_id,
        "type": NETWORK_REACHABILITY,
        "title": reachability.title,
        "description": clip(_description(reachability, listeners, firewall), 1024),
        "severity": severity(reachability).value,
        "status": "ACTIVE",
        "firstObservedAt": observed,
        "lastObservedAt": observed,
        "updatedAt": observed,
        "remediation": {"recommendation": {"text": _RECOMMENDATION}},
        "resources": [
            {
                "type": EC2_INSTANCE,
                "id": resource.resource_id,
                "details": {"awsEc2Instance": {"platform": clip(resource.platform, 1024)}},
            }
        ],
        "networkReachabilityDetails": reachability.network_reachability_details(),
    }


def listening_in(
    reachability: Reachability, listeners: Sequence[Mapping[str, Any]] | None
) -> list[Mapping[str, Any]]:
    """The reported listeners on a port of the range (not on loopback)."""
    protocol = reachability.protocol.lower()
    return [
        item
        for item in listeners or ()
        if str(item.get("protocol", "")).lower() == protocol
        and reachability.begin <= int(item.get("port", -1)) <= reachability.end
        and not item.get("loopback")
    ]


def _description(
    reachability: Reachability,
    listeners: Sequence[Mapping[str, Any]] | None,
    firewall: Mapping[str, Any] | None,
) -> str:
    ports = (
        f"port {reachability.begin}"
        if reachability.begin == reachability.end
        else f"ports {reachability.begin}-{reachability.end}"
    )
    parts = [
        f"On {reachability.network_interface_id}, {reachability.protocol} {ports} can be reached "
        f"{_from(reachability)} along the path "
        + " > ".join(step.component_id for step in reachability.steps)
        + "."
    ]
    if listeners is not None:
        listening = listening_in(reachability, listeners)
        if listening:
            named = "; ".join(_listener(item) for item in listening[:_MAX_NAMED])
            more = f" and {len(listening) - _MAX_NAMED} more" if len(listening) > _MAX_NAMED else ""
            parts.append(f"Listening there: {named}{more}.")
        else:
            parts.append("The instance's agent reports no process listening there.")
    if firewall is not None and not firewall_admits(
        firewall, reachability.protocol, reachability.begin, reachability.end
    ):
        parts.append(f"The host firewall ({firewall.get('tool', 'firewall')}) drops new connections there.")
    return " ".join(parts)


def _from(reachability: Reachability) -> str:
    return {
        "IGW": "from the internet",
        "PEERING": "from a peered VPC",
        "VGW": "through a virtual private gateway",
    }[reachability.edge]


def _listener(item: Mapping[str, Any]) -> str:
    who = item.get("process") or "a process"
    if item.get("executable"):
        who += f" ({item['executable']})"
    package = item.get("package")
    if package:
        version = f" {package['version']}" if package.get("version") else ""
        who += f" of package {package.get('name')}{version}"
    return f"{who} on {str(item.get('protocol', '')).upper()} {item.get('port')}"
