"""The host's listening sockets, and the process and executable behind each.

`/proc/net/{tcp,tcp6,udp,udp6}` list the sockets of the agent's network namespace: a TCP socket listens in
state 0A; a UDP socket receives from anyone while it is unconnected (state 07, remote address and port 0).
Each line names the socket's inode; the process holding it is found by reading the `/proc/<pid>/fd/*`
symlinks (`socket:[inode]`), bounded in time and entries so that a host with 100k descriptors cannot stall
the agent. Without root, other users' descriptors are unreadable: their listeners are reported without a
process.

A socket held by several processes (a forking server's master and workers, or SO_REUSEPORT sockets on one
address and port) is reported once: with the lowest pid — the parent, as a rule — and the count of the
others.

`proc` is read whatever the inventoried root is: a tree has no /proc, and whether the host's sockets go with
a tree's inventory is the caller's choice. Executable paths are as the process sees them (its own mount
namespace); `in_root` tells whether that is a file of `root`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger("vigil.agent")

Protocol = Literal["tcp", "udp"]

NET_FILES: tuple[tuple[str, Protocol], ...] = (
    ("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp")
)  # fmt: skip
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"  # TCP_CLOSE, as the kernel reports a bound, unconnected UDP socket
MAX_NET_LINES = 1_000_000  # per file: all the host's connections are listed, not the listeners alone
MAX_LISTENERS = 4096
MAX_FD_ENTRIES = 250_000
FD_SCAN_SECONDS = 2.0
DELETED = " (deleted)"
_WORD = struct.Struct("=I")  # the kernel prints each 32-bit word of an address as a native-order integer


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket; pid and the rest are None when no readable process holds it."""

    protocol: Protocol
    address: str
    port: int
    pid: int | None = None
    process: str | None = None
    executable: str | None = None
    exe_deleted: bool = False
    uid: int | None = None  # the process's effective uid; the socket's owner when there is no process
    loopback: bool = False  # 127.0.0.0/8, ::1 (v4-mapped too): not reachable from the network
    other_pids: int = 0  # the other processes holding the socket (or the same address and port)
    in_root: bool | None = None  # the executable path names a file of `root` (False: a container's)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "address": self.address,
            "port": self.port,
            "pid": self.pid,
            "process": self.process,
            "executable": self.executable,
            "exeDeleted": self.exe_deleted,
            "uid": self.uid,
            "loopback": self.loopback,
            "otherPids": self.other_pids,
            "inRoot": self.in_root,
        }


@dataclass(frozen=True, slots=True)
class ListenerScan:
    """The listeners and what the bounds left out."""

    listeners: list[Listener]
    malformed: int = 0  # /proc/net lines skipped
    truncated: bool = False  # more than MAX_LISTENERS (or MAX_NET_LINES lines)
    fds_complete: bool = True  # False: the descriptor scan stopped at its bound
    unreadable_pids: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "listeners": [listener.to_json() for listener in self.listeners],
            "malformed": self.malformed,
            "truncated": self.truncated,
            "fdsComplete": self.fds_complete,
            "unreadablePids": self.unreadable_pids,
        }


@dataclass(frozen=True, slots=True)
class Socket:
    """One line of /proc/net/*."""

    protocol: Protocol
    address: str
    port: int
    uid: int
    inode: int
    loopback: bool


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    comm: str | None
    executable: str | None
    exe_deleted: bool
    uid: int | None
    in_root: bool | None


@dataclass
class _Counts:
    malformed: int = 0
    truncated: bool = False
    unreadable: int = 0
    complete: bool = True
    owners: dict[int, list[int]] = field(default_factory=dict)  # inode -> pids, ascending


def listening_sockets(root: str = "/", proc: str = "/proc") -> list[Listener]:
    """The listening TCP and unconnected UDP sockets of `proc`'s network namespace."""
    return scan_listeners(root, proc).listeners


def scan_listeners(
    root: str = "/",
    proc: str = "/proc",
    *,
    max_fd_entries: int = MAX_FD_ENTRIES,
    fd_seconds: float = FD_SCAN_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> ListenerScan:
    counts = _Counts()
    sockets = _read_sockets(proc, counts)
    counts.owners = _socket_owners(proc, {s.inode for s in sockets if s.inode}, counts, max_fd_entries,
                                   fd_seconds, clock)  # fmt: skip
    processes: dict[int, Process | None] = {}
    grouped: dict[tuple[str, str, int], list[Socket]] = {}
    for sock in sockets:
        grouped.setdefault((sock.protocol, sock.address, sock.port), []).append(sock)
    listeners = []
    for group in grouped.values():
        pids = sorted({pid for sock in group for pid in counts.owners.get(sock.inode, ())})
        first = group[0]
        process = None
        if pids:
            if pids[0] not in processes:
                processes[pids[0]] = read_process(proc, pids[0], root)
            process = processes[pids[0]]
        listeners.append(_listener(first, process, max(0, len(pids) - 1)))
    listeners.sort(key=lambda x: (x.protocol, x.port, x.address))
    if len(listeners) > MAX_LISTENERS:
        counts.truncated = True
        listeners = listeners[:MAX_LISTENERS]
    if counts.malformed or counts.truncated or not counts.complete:
        log.debug(
            "listeners: %d malformed lines, truncated %s, descriptor scan complete %s",
            counts.malformed, counts.truncated, counts.complete,
        )  # fmt: skip
    return ListenerScan(listeners, counts.malformed, counts.truncated, counts.complete, counts.unreadable)


def _listener(sock: Socket, process: Process | None, others: int) -> Listener:
    if process is None:
        return Listener(sock.protocol, sock.address, sock.port, uid=sock.uid, loopback=sock.loopback)
    return Listener(
        sock.protocol, sock.address, sock.port, process.pid, process.comm, process.executable,
        process.exe_deleted, sock.uid if process.uid is None else process.uid, sock.loopback, others,
        process.in_root,
    )  # fmt: skip


def _read_sockets(proc: str, counts: _Counts) -> list[Socket]:
    sockets: list[Socket] = []
    for name, protocol in NET_FILES:
        try:
            with open(os.path.join(proc, "net", name), encoding="ascii", errors="replace") as lines:
                sockets.extend(parse_net(lines, protocol, counts))
        except OSError as error:  # no IPv6, or no /proc
            log.debug("listeners: %s unreadable: %s", name, error)
    return sockets


def parse_net(
    lines: Iterator[str] | list[str], protocol: Protocol, counts: _Counts | None = None
) -> list[Socket]:
    """The listening sockets of one /proc/net file's text (its header line is skipped)."""
    counts = counts if counts is not None else _Counts()
    found: list[Socket] = []
    for number, line in enumerate(lines):
        if number == 0 and "local_address" in line:
            continue
        if number > MAX_NET_LINES:
            counts.truncated = True
            break
        try:
            sock = _parse_line(line, protocol)
        except ValueError:
            counts.malformed += 1
            continue
        if sock is not None:
            found.append(sock)
    return found


def _parse_line(line: str, protocol: Protocol) -> Socket | None:
    """The socket a line lists, None when it does not listen (ValueError: malformed)."""
    fields = line.split()
    if len(fields) < 10 or not fields[0].endswith(":"):
        raise ValueError("too few fields")
    local, remote, state = fields[1], fields[2], fields[3].upper()
    address, port = _endpoint(local)
    remote_address, remote_port = _endpoint(remote)
    uid, inode = int(fields[7]), int(fields[9])
    if protocol == "tcp":
        listening = state == TCP_LISTEN
    else:
        listening = state == UDP_UNCONNECTED and remote_port == 0 and remote_address.is_unspecified
    if not listening or port == 0:
        return None
    return Socket(protocol, _format(address), port, uid, inode, _is_loopback(address))


def _endpoint(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    hex_address, _, hex_port = text.partition(":")
    if len(hex_port) != 4 or len(hex_address) not in (8, 32):
        raise ValueError(f"not an address: {text!r}")
    packed = b"".join(_WORD.pack(int(hex_address[i : i + 8], 16)) for i in range(0, len(hex_address), 8))
    port = int(hex_port, 16)
    if len(packed) == 4:
        return ipaddress.IPv4Address(packed), port
    return ipaddress.IPv6Address(packed), port


def _format(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def _is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _socket_owners(
    proc: str, inodes: set[int], counts: _Counts, max_entries: int, seconds: float, clock: Callable[[], float]
) -> dict[int, list[int]]:
    """inode -> the pids holding it, ascending; bounded by `max_entries` descriptors and `seconds`."""
    owners: dict[int, list[int]] = {}
    if not inodes:
        return owners
    deadline = clock() + seconds
    entries = 0
    for pid in _pids(proc):
        if entries >= max_entries or clock() > deadline:
            counts.complete = False
            break
        fd_dir = os.path.join(proc, str(pid), "fd")
        try:
            with os.scandir(fd_dir) as fds:
                for entry in fds:
                    entries += 1
                    if entries > max_entries or (entries % 1024 == 0 and clock() > deadline):
                        counts.complete = False
                        break
                    inode = _socket_inode(entry.path)
                    if inode is not None and inode in inodes:
                        holders = owners.setdefault(inode, [])
                        if pid not in holders:
                            holders.append(pid)
        except OSError:  # another user's process, or one that exited
            counts.unreadable += 1
    return owners


def _pids(proc: str) -> list[int]:
    try:
        with os.scandir(proc) as entries:
            return sorted(int(e.name) for e in entries if e.name.isdigit())
    except OSError as error:
        log.debug("listeners: %s unreadable: %s", proc, error)
        return []


def _socket_inode(path: str) -> int | None:
    try:
        target = os.readlink(path)
    except OSError:
        return None
    if target.startswith("socket:[") and target.endswith("]"):
        digits = target[8:-1]
        return int(digits) if digits.isdigit() else None
    return None


def read_process(proc: str, pid: int, root: str = "/") -> Process | None:
    """The process's name, executable and effective uid; None when it is gone."""
    base = os.path.join(proc, str(pid))
    comm = _read_small(os.path.join(base, "comm"))
    status = _read_small(os.path.join(base, "status"), 4096)
    if comm is None and status is None:
        return None
    executable, deleted = _executable(os.path.join(base, "exe"))
    return Process(pid, comm, executable, deleted, _effective_uid(status), _same_root(base, root))


def _executable(link: str) -> tuple[str | None, bool]:
    try:
        target = os.readlink(link)
    except OSError:  # a kernel thread, or another user's process
        return None, False
    if target.endswith(DELETED):
        return target[: -len(DELETED)], True
    return target, False


def _effective_uid(status: str | None) -> int | None:
    for line in (status or "").splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                return int(fields[2])
    return None


def _same_root(base: str, root: str) -> bool | None:
    """Whether the process's root directory is `root`: its executable path then names a file of `root`."""
    try:
        mine, theirs = os.stat(root), os.stat(os.path.join(base, "root"))
    except OSError:
        return None
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def _read_small(path: str, limit: int = 256) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace").rstrip("\n")
    except OSError:
        return None
