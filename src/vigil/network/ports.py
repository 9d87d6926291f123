"""Port sets as sorted, disjoint, non-adjacent inclusive intervals; every operation is linear."""

from __future__ import annotations

PortSet = tuple[tuple[int, int], ...]

EMPTY: PortSet = ()
ALL_PORTS: PortSet = ((0, 65535),)
EPHEMERAL: PortSet = ((1024, 65535),)

PROTOCOLS = ("TCP", "UDP")
"""The protocols analysed, by index: a per-protocol value is a tuple of port sets in this order."""

_BY_NAME = {"-1": (0, 1), "all": (0, 1), "6": (0,), "tcp": (0,), "17": (1,), "udp": (1,)}
_LISTENER = {"tcp_udp": (0, 1), "udp": (1,)}


def protocol_indexes(ip_protocol: str) -> tuple[int, ...]:
    """Indexes into PROTOCOLS that an EC2 protocol ("-1", "tcp", "6", ...) matches; ICMP etc. match none."""
    return _BY_NAME.get(ip_protocol.lower(), ())


def listener_protocol_indexes(protocol: str) -> tuple[int, ...]:
    """ELB listener / target group protocols: HTTP, HTTPS, TLS, SSL and TCP ride on TCP."""
    return _LISTENER.get(protocol.lower(), (0,))


def span(first: int, last: int) -> PortSet:
    return ((first, last),) if first <= last else EMPTY


def union(a: PortSet, b: PortSet) -> PortSet:
    if not a:
        return b
    if not b:
        return a
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(a + b):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def intersect(a: PortSet, b: PortSet) -> PortSet:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def subtract(a: PortSet, b: PortSet) -> PortSet:
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in a:
        cur = lo
        while j < len(b) and b[j][1] < cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= hi and cur <= hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0] - 1))
            cur = max(cur, b[k][1] + 1)
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


def contains(ports: PortSet, port: int) -> bool:
    return any(lo <= port <= hi for lo, hi in ports)
