"""What an instance's network exposure changes in its package findings (DESIGN §4, §6).

The network analysis says which port ranges of an instance are reachable from outside its VPC; where an
agent runs, its report says which processes listen, which package owns each one's executable, and what the
host firewall lets in. Together they give an `Exposure`: whether any port is reachable at all (a range the
host firewall drops entirely does not count), and which packages listen on a reachable port.

A package finding's content is shared by every instance holding the same packages; what the exposure
changes is kept beside it on the instance's finding row as an overlay of members (`overlay`): the Inspector
score adjusted (`inspector_score.adjust`) and, for a vulnerable package whose process listens on a reachable
port, its description saying so (Inspector's shape has no member for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.agent.firewall import FirewallVerdict
from vigil.findings.inspector_score import adjust, from_document
from vigil.findings.model import PACKAGE_VULNERABILITY, clip

EDGE_NAMES = {
    "IGW": "an Internet Gateway",
    "PEERING": "a VPC Peering Connection",
    "VGW": "a Virtual Private Gateway",
}
_MAX_NAMED = 3


@dataclass(frozen=True, slots=True)
class OpenRange:
    """A port range the analysis found reachable from an edge (on any of the instance's interfaces)."""

    protocol: str  # TCP | UDP
    begin: int
    end: int
    edge: str  # IGW | PEERING | VGW


@dataclass(frozen=True, slots=True)
class Listening:
    """A process of a package listening on a reachable port."""

    protocol: str
    port: int
    edges: tuple[str, ...]
    process: str | None
    pid: int | None
    executable: str | None
    package: str  # its name
    version: str | None
    purl: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "port": self.port,
            "reachableFrom": list(self.edges),
            "process": self.process,
            "pid": self.pid,
            "executable": self.executable,
            "package": {"name": self.package, "version": self.version, "purl": self.purl},
        }

    def sentence(self) -> str:
        process = f"{self.process} ({self.executable})" if self.process else self.executable or "a process"
        edges = ", ".join(EDGE_NAMES.get(e, e) for e in self.edges)
        return (
            f"{process} of package {self.package} listens on {self.protocol} port {self.port}, "
            f"reachable from {edges}"
        )


@dataclass(frozen=True, slots=True)
class Exposure:
    """`reachable`: some port is reachable from outside the VPC (None: the network is not known)."""

    reachable: bool | None
    open_ranges: tuple[OpenRange, ...] = ()
    listening: tuple[Listening, ...] = ()

    def listening_of(self, packages: Iterable[Mapping[str, Any]]) -> list[Listening]:
        """The listeners whose executable belongs to one of a finding's vulnerable packages (by purl without
        its qualifiers, else by name and version)."""
        wanted_purls = {_bare(p["purl"]) for p in packages if p.get("purl")}
        wanted_names = {p.get("name") for p in packages}
        found = []
        for listening in self.listening:
            if listening.purl and wanted_purls:
                if _bare(listening.purl) in wanted_purls:
                    found.append(listening)
            elif listening.package in wanted_names:
                found.append(listening)
        return found


def _bare(purl: str) -> str:
    return purl.split("?", 1)[0].split("#", 1)[0]


def overlay(body: Mapping[str, Any], exposure: Exposure | None) -> dict[str, Any] | None:
    """The members of a finding's content (`body`) that this instance's exposure changes, or None."""
    if exposure is None or body.get("type") != PACKAGE_VULNERABILITY:
        return None
    details = body.get("packageVulnerabilityDetails", {})
    listening = exposure.listening_of(details.get("vulnerablePackages", []))
    changed: dict[str, Any] = {}
    base = from_document(body.get("inspectorScoreDetails"))
    if base is not None:
        reachable = True if listening else exposure.reachable
        adjusted = adjust(base, reachable=reachable, exploited=body.get("exploitAvailable") == "YES")
        if adjusted != base:
            changed["inspectorScore"] = adjusted.score
            changed["inspectorScoreDetails"] = {"adjustedCvss": adjusted.to_json()}
    if listening:
        named = "; ".join(item.sentence() for item in listening[:_MAX_NAMED])
        more = f" (and {len(listening) - _MAX_NAMED} more)" if len(listening) > _MAX_NAMED else ""
        changed["description"] = clip(f"Exposed: {named}{more}. {body.get('description', '')}", 1024)
    return changed or None


def exposure_of(
    reachable: Sequence[Mapping[str, Any]] | None,
    listeners: Sequence[Mapping[str, Any]] | None,
    firewall: Mapping[str, Any] | None,
) -> Exposure:
    """An instance's exposure from the network analysis' reachable entries (None: never analysed) and its
    agent's last report (listeners and firewall verdict, None when it has none)."""
    if reachable is None:
        return Exposure(None)
    ranges = {
        OpenRange(r["protocol"], int(r["begin"]), int(r["end"]), r["edge"])
        for r in reachable
        if firewall_admits(firewall, r["protocol"], int(r["begin"]), int(r["end"]))
    }
    ordered = tuple(sorted(ranges, key=lambda r: (r.protocol, r.begin, r.end, r.edge)))
    listening = []
    for listener in listeners or ():
        package = listener.get("package")
        if not package or listener.get("loopback"):
            continue
        protocol, port = str(listener.get("protocol", "")).upper(), int(listener.get("port", -1))
        if firewall_admits(firewall, protocol, port, port) is False:
            continue
        edges = tuple(
            sorted({r.edge for r in ordered if r.protocol == protocol and r.begin <= port <= r.end})
        )
        if edges:
            listening.append(
                Listening(
                    protocol, port, edges, listener.get("process"), listener.get("pid"),
                    listener.get("executable"), package.get("name", "?"), package.get("version"),
                    package.get("purl"),
                )
            )  # fmt: skip
    listening.sort(key=lambda item: (item.package, item.protocol, item.port))
    return Exposure(bool(ordered), ordered, tuple(listening))


def firewall_admits(firewall: Mapping[str, Any] | None, protocol: str, begin: int, end: int) -> bool:
    """Whether the host firewall (an agent's verdict, as `FirewallVerdict.to_json` wrote it and the agent
    routes checked it) may let a new connection in on some port of the range: False only where it surely
    drops every one of them."""
    if not firewall:
        return True
    return FirewallVerdict.from_json(firewall).admits_any(protocol.lower(), begin, end)
