"""IPv4 address space as integers, and functions of the source address that are piecewise constant.

A `Piecewise` maps source-address ranges to one port set per protocol; ranges not listed map to nothing.
Every rule, route and edge is a CIDR, so evaluating at the first address of each elementary range between
all CIDR boundaries is exact.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable

from vigil.network.ports import ALL_PORTS, EMPTY, PROTOCOLS, PortSet, intersect, union

Value = tuple[PortSet, ...]
Piece = tuple[int, int, Value]
Piecewise = tuple[Piece, ...]
AddressRange = tuple[int, int]

NOTHING: Value = (EMPTY,) * len(PROTOCOLS)
EVERYTHING: Value = (ALL_PORTS,) * len(PROTOCOLS)
LAST_ADDRESS = 2**32 - 1


@functools.lru_cache(maxsize=65536)
def cidr_range(cidr: str) -> AddressRange:
    """First and last address of an IPv4 CIDR (host bits ignored, as EC2 does not accept them)."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    return int(net.network_address), int(net.broadcast_address)


def tabulate(ranges: Iterable[AddressRange], value_at: Callable[[int], Value]) -> Piecewise:
    """The function `value_at`, known to be constant between the boundaries of `ranges`."""
    cuts = {0}
    for first, last in ranges:
        cuts.add(first)
        if last < LAST_ADDRESS:
            cuts.add(last + 1)
    starts = sorted(cuts)
    pieces: list[Piece] = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else LAST_ADDRESS
        value = value_at(start)
        if value == NOTHING:
            continue
        if pieces and pieces[-1][1] == start - 1 and pieces[-1][2] == value:
            pieces[-1] = (pieces[-1][0], end, value)
        else:
            pieces.append((start, end, value))
    return tuple(pieces)


def address_set(ranges: Iterable[AddressRange]) -> Piecewise:
    """Every port of every protocol from the addresses in `ranges`."""
    merged: list[AddressRange] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return tuple((first, last, EVERYTHING) for first, last in merged)


def meet(a: Piecewise, b: Piecewise) -> Piecewise:
    """Pointwise intersection."""
    out: list[Piece] = []
    i = j = 0
    while i < len(a) and j < len(b):
        first = max(a[i][0], b[j][0])
        last = min(a[i][1], b[j][1])
        if first <= last:
            value = tuple(intersect(x, y) for x, y in zip(a[i][2], b[j][2], strict=True))
            if value != NOTHING:
                out.append((first, last, value))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def collapse(f: Piecewise) -> Value:
    """The ports open from at least one address."""
    value = NOTHING
    for _, _, v in f:
        value = tuple(union(x, y) for x, y in zip(value, v, strict=True))
    return value


def addresses_with(f: Piecewise, protocol: int, port: int) -> tuple[AddressRange, ...]:
    """The addresses from which `port` of `protocol` is open."""
    return tuple((first, last) for first, last, v in f if any(lo <= port <= hi for lo, hi in v[protocol]))
