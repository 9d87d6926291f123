"""Route tables, network ACLs and security groups as functions of the source address."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vigil.network.addresses import (
    EVERYTHING,
    NOTHING,
    AddressRange,
    Piecewise,
    Value,
    cidr_range,
    tabulate,
)
from vigil.network.model import ManagedPrefixList, NetworkAcl, NetworkAclEntry, RouteTable, SecurityGroup
from vigil.network.ports import (
    ALL_PORTS,
    EMPTY,
    EPHEMERAL,
    PROTOCOLS,
    PortSet,
    intersect,
    protocol_indexes,
    span,
    subtract,
    union,
)

LOCAL = "local"


def first_match(entries: Sequence[NetworkAclEntry], protocol: int, address: int, ports: PortSet) -> PortSet:
    """The part of `ports` that `entries` (in rule-number order, first match wins) allow from/to `address`."""
    allowed, undecided = EMPTY, ports
    for entry in entries:
        first, last = cidr_range(entry.cidr_block)
        if not first <= address <= last or protocol not in protocol_indexes(entry.protocol):
            continue
        matched = intersect(undecided, span(*entry.port_range) if entry.port_range else ALL_PORTS)
        if entry.rule_action == "allow":
            allowed = union(allowed, matched)
        undecided = subtract(undecided, matched)
        if not undecided:
            break
    return allowed


def acl_function(acl: NetworkAcl | None) -> Piecewise:
    """Ports the ACL lets in from each source, when it also lets the reply out to some ephemeral port.

    The reply is required to reach at least one port of 1024-65535: the client picks its own ephemeral
    port, so one allowed port is enough for some client to connect. No ACL lets nothing through.
    """
    if acl is None:
        return ()
    inbound = sorted((e for e in acl.entries if not e.egress), key=lambda e: e.rule_number)
    outbound = sorted((e for e in acl.entries if e.egress), key=lambda e: e.rule_number)

    def value_at(address: int) -> Value:
        return tuple(
            first_match(inbound, p, address, ALL_PORTS)
            if first_match(outbound, p, address, EPHEMERAL)
            else EMPTY
            for p in range(len(PROTOCOLS))
        )

    return tabulate((cidr_range(e.cidr_block) for e in acl.entries), value_at)


def route_function(
    table: RouteTable | None, vpc_cidrs: Sequence[str], gateway_id: str, sources: Sequence[AddressRange]
) -> Piecewise:
    """The `sources` whose replies the table routes back to `gateway_id` (longest prefix wins)."""
    routes = [(cidr_range(c), LOCAL) for c in vpc_cidrs]
    if table is not None:
        routes += [
            (cidr_range(r.destination_cidr_block), r.target_id if r.state == "active" else "")
            for r in table.routes
        ]
    # Longest prefix first; for equal prefixes the local route, then the table's order.
    routes.sort(key=lambda r: r[0][1] - r[0][0])

    def value_at(address: int) -> Value:
        if not any(first <= address <= last for first, last in sources):
            return NOTHING
        for (first, last), target in routes:
            if first <= address <= last:
                return EVERYTHING if target == gateway_id else NOTHING
        return NOTHING

    return tabulate([*sources, *(r[0] for r in routes)], value_at)


def group_function(group: SecurityGroup | None, prefix_lists: Mapping[str, ManagedPrefixList]) -> Piecewise:
    """Ports the group allows from each address by its CIDR and prefix-list rules (the union of rules)."""
    if group is None:
        return ()
    rules: list[tuple[tuple[AddressRange, ...], tuple[int, ...], PortSet]] = []
    for rule in group.ingress:
        if rule.cidr_ipv4 is not None:
            ranges: tuple[AddressRange, ...] = (cidr_range(rule.cidr_ipv4),)
        elif rule.prefix_list_id is not None and rule.prefix_list_id in prefix_lists:
            ranges = tuple(cidr_range(c) for c in prefix_lists[rule.prefix_list_id].cidrs)
        else:
            continue
        rules.append(
            (
                ranges,
                protocol_indexes(rule.ip_protocol),
                rule_ports(rule.ip_protocol, rule.from_port, rule.to_port),
            )
        )

    def value_at(address: int) -> Value:
        value = [EMPTY] * len(PROTOCOLS)
        for ranges, protocols, ports in rules:
            if any(first <= address <= last for first, last in ranges):
                for p in protocols:
                    value[p] = union(value[p], ports)
        return tuple(value)

    return tabulate((r for ranges, _, _ in rules for r in ranges), value_at)


def rule_ports(ip_protocol: str, from_port: int, to_port: int) -> PortSet:
    """A security group rule's ports: every port for "-1" or a -1 bound."""
    if ip_protocol == "-1" or from_port == -1 or to_port == -1:
        return ALL_PORTS
    return span(from_port, to_port)


def references(group: SecurityGroup | None, protocol: int, port: int, group_ids: Sequence[str]) -> bool:
    """Whether `group` allows `port` from members of any of `group_ids`."""
    if group is None:
        return False
    for rule in group.ingress:
        if rule.referenced_group_id in group_ids and protocol in protocol_indexes(rule.ip_protocol):
            first, last = rule_ports(rule.ip_protocol, rule.from_port, rule.to_port)[0]
            if first <= port <= last:
                return True
    return False
