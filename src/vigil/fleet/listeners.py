"""What each instance's agent says listens on it, and its host firewall's verdict (DESIGN §6: a reachable port
with a listening process names that process and its package).

An agent's heartbeat carries the report (`vigil.agent.listening`) whole when it changed, its digest
otherwise. The report is untrusted input: it is read strictly (members, types, lengths, at most 4,096
listeners, ports 0–65535, TCP or UDP, a digest that matches) and a bad one is refused whole, keeping the
report held before. It is written only under the instance of the agent that signed the heartbeat.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.agent import protocol
from vigil.agent.firewall import FirewallVerdict
from vigil.agent.listeners import MAX_LISTENERS
from vigil.enums import PackageManager
from vigil.store.engine import transaction
from vigil.store.network import ListenerReportRow

log = logging.getLogger("vigil.listeners")

MAX_PROCESS = 256  # a comm is 15 bytes; a generous bound, not the kernel's
MAX_PATH = 4096  # PATH_MAX
MAX_PACKAGE_TEXT = 256
MAX_PURL = 1024
MAX_PID = 1 << 22  # PID_MAX_LIMIT
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_MANAGERS = frozenset(m.value for m in PackageManager)
_LISTENER_MEMBERS = frozenset({"protocol", "address", "port", "pid", "process", "executable", "package"})
_PACKAGE_MEMBERS = frozenset({"name", "version", "purl", "packageManager"})


class InvalidListenerReport(ValueError):
    """A heartbeat's network report that the server does not take; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class ListenerPackage:
    """The package that owns a listener's executable, as the agent resolved it on its host."""

    name: str
    version: str
    purl: str
    package_manager: PackageManager


@dataclass(frozen=True, slots=True)
class ReportedListener:
    """A socket listening on a non-loopback address; pid and the rest are None when the agent could not
    see its process."""

    protocol: Literal["tcp", "udp"]
    address: str
    port: int
    pid: int | None
    process: str | None
    executable: str | None
    package: ListenerPackage | None


@dataclass(frozen=True, slots=True)
class ListenerReport:
    """An instance's last accepted report."""

    account_id: str
    instance_id: str
    listeners: tuple[ReportedListener, ...]
    firewall: FirewallVerdict | None  # None: the agent could not read it
    reported_at: dt.datetime

    def listening(self, protocol: str, port: int) -> list[ReportedListener]:
        """The listeners on (protocol, port), whatever their address."""
        return [x for x in self.listeners if x.protocol == protocol and x.port == port]

    def firewall_allows(self, protocol: str, port: int) -> bool | None:
        """Whether the host firewall lets a new connection to (protocol, port) in: None when unknown (not
        readable, or a rule the agent could not interpret, or IPv4 and IPv6 disagree)."""
        return None if self.firewall is None else self.firewall.allows(protocol, port)


def parse_report(member: Any) -> tuple[str, list[dict[str, Any]] | None, dict[str, Any] | None]:
    """A heartbeat's `network` member: (digest, listeners, firewall), listeners None when only the digest
    came (InvalidListenerReport saying what is wrong)."""
    if not isinstance(member, dict) or not member.keys() <= {"digest", "listeners", "firewall"}:
        raise InvalidListenerReport("network: an object of digest, listeners and firewall")
    digest = member.get("digest")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidListenerReport("network.digest: 64 lowercase hex digits")
    if "listeners" not in member:
        if "firewall" in member:
            raise InvalidListenerReport("network: a firewall without listeners")
        return digest, None, None
    listeners, firewall = member["listeners"], member.get("firewall")
    if not isinstance(listeners, list) or len(listeners) > MAX_LISTENERS:
        raise InvalidListenerReport(f"network.listeners: a list of at most {MAX_LISTENERS} listeners")
    for i, listener in enumerate(listeners):
        _listener(listener, f"network.listeners[{i}]")
    if firewall is not None:
        try:
            FirewallVerdict.from_json(firewall)
        except ValueError as error:
            raise InvalidListenerReport(f"network.{error}") from None
    if protocol.network_digest(listeners, firewall) != digest:
        raise InvalidListenerReport("network.digest: not the digest of this report")
    return digest, listeners, firewall


def _listener(document: Any, where: str) -> ReportedListener:
    if not isinstance(document, dict) or not document.keys() <= _LISTENER_MEMBERS:
        raise InvalidListenerReport(f"{where}: an object of {', '.join(sorted(_LISTENER_MEMBERS))}")
    kind = document.get("protocol")
    if kind not in ("tcp", "udp"):
        raise InvalidListenerReport(f"{where}.protocol: tcp or udp")
    address = _text(document.get("address"), f"{where}.address", 45, required=True)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise InvalidListenerReport(f"{where}.address: an IPv4 or IPv6 address") from None
    port = document.get("port")
    if not isinstance(port, int) or not _integer(port, 0, 65535):
        raise InvalidListenerReport(f"{where}.port: an integer, 0 to 65535")
    pid = document.get("pid")
    if pid is not None and not _integer(pid, 1, MAX_PID):
        raise InvalidListenerReport(f"{where}.pid: null or a process id")
    executable = _text(document.get("executable"), f"{where}.executable", MAX_PATH)
    if executable is not None and not executable.startswith("/"):
        raise InvalidListenerReport(f"{where}.executable: null or an absolute path")
    package = _package(document["package"], where) if "package" in document else None
    process = _text(document.get("process"), f"{where}.process", MAX_PROCESS)
    return ReportedListener(kind, address, port, pid, process, executable, package)


def _package(document: Any, where: str) -> ListenerPackage:
    where = f"{where}.package"
    if not isinstance(document, dict) or document.keys() != _PACKAGE_MEMBERS:
        raise InvalidListenerReport(f"{where}: an object of {', '.join(sorted(_PACKAGE_MEMBERS))}")
    purl = _text(document["purl"], f"{where}.purl", MAX_PURL, required=True)
    if not purl.startswith("pkg:"):
        raise InvalidListenerReport(f"{where}.purl: a package URL (pkg:…)")
    manager = document["packageManager"]
    if manager not in _MANAGERS:
        raise InvalidListenerReport(f"{where}.packageManager: one of {', '.join(sorted(_MANAGERS))}")
    return ListenerPackage(
        _text(document["name"], f"{where}.name", MAX_PACKAGE_TEXT, required=True),
        _text(document["version"], f"{where}.version", MAX_PACKAGE_TEXT, required=True),
        purl,
        PackageManager(manager),
    )


def _text(value: Any, where: str, limit: int, *, required: bool = False) -> Any:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit or "\x00" in value:
        either = "" if required else " or null"
        raise InvalidListenerReport(f"{where}: a string of 1 to {limit} characters without NUL{either}")
    return value


def _integer(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _report(row: ListenerReportRow) -> ListenerReport:
    """A stored report, read with the checks it passed when it came (a row is never trusted more)."""
    listeners = tuple(_listener(x, "stored listener") for x in row.listeners)
    firewall = FirewallVerdict.from_json(row.firewall) if row.firewall is not None else None
    return ListenerReport(row.account_id, row.instance_id, listeners, firewall, row.reported_at)


class ListenerReports:
    """The listener reports of every instance with an agent."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def record(
        self,
        account_id: str,
        instance_id: str,
        listeners: list[dict[str, Any]],
        firewall: dict[str, Any] | None,
        now: dt.datetime,
    ) -> None:
        """Keep the instance's report (replacing the one before), as validated by `parse_report`."""
        with transaction(self.sessions) as session:
            row = session.get(ListenerReportRow, (account_id, instance_id))
            if row is None:
                session.add(
                    ListenerReportRow(account_id=account_id, instance_id=instance_id, listeners=listeners,
                                      firewall=firewall, reported_at=now)
                )  # fmt: skip
            else:
                row.listeners, row.firewall, row.reported_at = listeners, firewall, now

    def of(self, account_id: str, instance_ids: Collection[str]) -> dict[str, ListenerReport]:
        """The reports of these instances of the account (an instance without one is left out)."""
        with self.sessions() as session:
            rows = session.scalars(
                select(ListenerReportRow).where(
                    ListenerReportRow.account_id == account_id,
                    ListenerReportRow.instance_id.in_(sorted(instance_ids)),
                )
            ).all()
            return {row.instance_id: _report(row) for row in rows}

    def held_digest(self, account_id: str, instance_id: str) -> str | None:
        """The digest of the instance's report, as the agent computes it."""
        with self.sessions() as session:
            row = session.get(ListenerReportRow, (account_id, instance_id))
            return None if row is None else protocol.network_digest(row.listeners, row.firewall)

    def heartbeat(self, account_id: str, instance_id: str, member: Any, now: dt.datetime) -> dict[str, Any]:
        """Take a heartbeat's `network` member: the answer's `network` member (the digest held, and the
        error when the report was refused: the held report stays as it was)."""
        try:
            digest, listeners, firewall = parse_report(member)
        except InvalidListenerReport as error:
            log.warning("network report of %s/%s refused: %s", account_id, instance_id, error)
            return {
                "digest": self.held_digest(account_id, instance_id),
                "error": {"code": "InvalidNetworkReport", "message": str(error)},
            }
        if listeners is None:
            return {"digest": self.held_digest(account_id, instance_id)}
        self.record(account_id, instance_id, listeners, firewall, now)
        return {"digest": digest}
