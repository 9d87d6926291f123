"""The heartbeat's network report: what listens on this host from the network, with the package that owns
each listener's executable, and the host firewall's verdict.

Loopback listeners are left out (nothing outside the host reaches them). A listener's package is named only
when its executable is a file of the inventoried root, still on disk (a process running an upgraded-away
binary is not the package now installed). The report goes whole only when its digest differs from the one
the server last accepted; otherwise the heartbeat carries the digest alone, so an idle agent's heartbeat
stays small.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigil.agent import protocol
from vigil.agent.firewall import FirewallVerdict, firewall_verdict
from vigil.agent.listeners import Listener, ListenerScan, scan_listeners
from vigil.agent.ownership import OwningPackage, PackageOwners

log = logging.getLogger("vigil.agent")


@dataclass(frozen=True, slots=True)
class NetworkReport:
    """The listeners and the firewall verdict as the heartbeat sends them (the firewall None: unreadable)."""

    listeners: list[dict[str, Any]]
    firewall: dict[str, Any] | None
    digest: str

    def member(self, accepted: str | None) -> dict[str, Any]:
        """The heartbeat's `network` member, given the digest the server holds."""
        if accepted == self.digest:
            return {"digest": self.digest}
        whole: dict[str, Any] = {"digest": self.digest, "listeners": self.listeners}
        if self.firewall is not None:
            whole["firewall"] = self.firewall
        return whole


def listener_json(listener: Listener, package: OwningPackage | None) -> dict[str, Any]:
    """One listener as the heartbeat names it (`package` absent when none owns its executable)."""
    document: dict[str, Any] = {
        "protocol": listener.protocol,
        "address": listener.address,
        "port": listener.port,
        "pid": listener.pid,
        "process": listener.process or None,
        "executable": listener.executable,
    }
    if package is not None:
        document["package"] = package.to_json()
    return document


class NetworkReporter:
    """Makes the network report of `root`'s host; what it reads is given, so tests read what they made."""

    def __init__(
        self,
        root: str = "/",
        proc: str = "/proc",
        *,
        owners: PackageOwners | None = None,
        scan: Callable[[str, str], ListenerScan] = scan_listeners,
        firewall: Callable[[], FirewallVerdict | None] | None = None,
    ) -> None:
        self.root = root
        self.proc = proc
        self.owners = owners or PackageOwners(root)
        self.scan = scan
        self.firewall = firewall or (lambda: firewall_verdict(subprocess.run, proc))

    def report(self) -> NetworkReport:
        listeners = [x for x in self.scan(self.root, self.proc).listeners if not x.loopback]
        owned = self.owners.owners({exe for x in listeners if (exe := _owned_file(x))})
        documents = [listener_json(x, owned.get(_owned_file(x) or "")) for x in listeners]
        firewall = _firewall_json(self.firewall())
        return NetworkReport(documents, firewall, protocol.network_digest(documents, firewall))


def _owned_file(listener: Listener) -> str | None:
    """The executable to look a package up for: a file of the root, not deleted since it started."""
    if listener.in_root and not listener.exe_deleted:
        return listener.executable
    return None


def _firewall_json(verdict: FirewallVerdict | None) -> dict[str, Any] | None:
    """The verdict's document, or None when the server could not take it (more ranges than it reads)."""
    if verdict is None:
        return None
    document = verdict.to_json()
    try:
        FirewallVerdict.from_json(document)
    except ValueError as error:
        log.warning("firewall: the verdict is left out of the report: %s", error)
        return None
    return document
