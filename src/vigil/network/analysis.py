"""Which ports of which interfaces are reachable from outside their VPC, and along which path.

Route tables and ACLs are per subnet and security groups per group, so each is turned once into a function
of the source address (`rules`); an interface's result is then a few pointwise intersections, cached per
(subnet, edge, group). `Analysis.update` recomputes only what a changed security group touches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from vigil.network import results as rt
from vigil.network.addresses import (
    AddressRange,
    Piecewise,
    Value,
    address_set,
    addresses_with,
    cidr_range,
    collapse,
    meet,
)
from vigil.network.model import (
    Listener,
    LoadBalancer,
    NetworkAcl,
    NetworkInterface,
    RouteTable,
    SecurityGroup,
    TargetGroup,
    Topology,
)
from vigil.network.ports import PROTOCOLS, listener_protocol_indexes
from vigil.network.results import Delta, EdgeKind, Reachability, Step
from vigil.network.rules import acl_function, group_function, references, route_function

_ALL_ADDRESSES: tuple[AddressRange, ...] = ((0, 2**32 - 1),)
T = TypeVar("T", RouteTable, NetworkAcl)


@dataclass(frozen=True, slots=True)
class Edge:
    """Where traffic enters a VPC, and the source addresses it can carry."""

    kind: EdgeKind
    gateway_id: str
    component_type: str
    sources: tuple[AddressRange, ...]


@dataclass(frozen=True, slots=True)
class _LbTarget:
    load_balancer: LoadBalancer
    listener: Listener
    target_group: TargetGroup
    port: int


def analyze(topology: Topology) -> Analysis:
    """Analyse every interface of every instance in `topology`."""
    return Analysis(topology)


class Analysis:
    """The reachability of a topology, kept up to date by `update`."""

    def __init__(self, topology: Topology) -> None:
        self._topology = topology
        self._groups = {g.group_id: g for g in topology.security_groups}
        self._prefix_lists = {p.prefix_list_id: p for p in topology.prefix_lists}
        self._subnets = {s.subnet_id: s for s in topology.subnets}
        self._vpc_cidrs = {v.vpc_id: v.cidr_blocks for v in topology.vpcs}
        self._route_tables = _per_subnet(topology, topology.route_tables, "main")
        self._acls = _per_subnet(topology, topology.network_acls, "is_default")
        self._edges = _edges(topology)
        self._interfaces = sorted(
            (i for i in topology.network_interfaces if i.instance_id is not None),
            key=lambda i: i.network_interface_id,
        )
        self._by_id = {i.network_interface_id: i for i in self._interfaces}
        self._by_group: dict[str, set[str]] = defaultdict(set)
        for interface in self._interfaces:
            for group_id in interface.groups:
                self._by_group[group_id].add(interface.network_interface_id)
        self._lb_targets, self._lb_interfaces = _load_balancer_targets(topology, self._interfaces)
        self._acl_fns: dict[str, Piecewise] = {}
        self._edge_fns: dict[tuple[str, str], Piecewise] = {}
        self._group_fns: dict[str, Piecewise] = {}
        self._direct: dict[str, dict[tuple[str, str], Value]] = defaultdict(dict)
        self._listener_sources: dict[str, dict[tuple[str, str, int], tuple[AddressRange, ...]]] = defaultdict(
            dict
        )
        self._results = {i.network_interface_id: self._reach(i) for i in self._interfaces}

    @property
    def topology(self) -> Topology:
        return self._topology

    @property
    def findings(self) -> tuple[Reachability, ...]:
        """Every reachable range, by interface id then path order."""
        return tuple(r for interface_id in sorted(self._results) for r in self._results[interface_id])

    def for_interface(self, network_interface_id: str) -> tuple[Reachability, ...]:
        return self._results.get(network_interface_id, ())

    def update(self, group: SecurityGroup) -> Delta:
        """Take a changed security group into account, recomputing only the interfaces it can affect."""
        group_id = group.group_id
        self._topology = self._topology.with_security_group(group)
        self._groups[group_id] = group
        self._group_fns.pop(group_id, None)
        self._direct.pop(group_id, None)
        affected = set(self._by_group.get(group_id, ()))
        for lb in self._topology.load_balancers:
            if group_id in lb.security_groups:
                self._listener_sources.pop(lb.load_balancer_id, None)
                affected |= self._lb_interfaces.get(lb.load_balancer_id, set())
        added: set[Reachability] = set()
        removed: set[Reachability] = set()
        for interface_id in sorted(affected):
            before = set(self._results[interface_id])
            self._results[interface_id] = self._reach(self._by_id[interface_id])
            after = set(self._results[interface_id])
            added |= after - before
            removed |= before - after
        return Delta(frozenset(added), frozenset(removed))

    # -- per interface

    def _reach(self, interface: NetworkInterface) -> tuple[Reachability, ...]:
        subnet = self._subnets.get(interface.subnet_id)
        if subnet is None or interface.instance_id is None:
            return ()
        found: list[Reachability] = []
        tail = (
            Step(interface.network_interface_id, rt.NETWORK_INTERFACE),
            Step(interface.instance_id, rt.INSTANCE),
        )
        table, acl = self._route_tables.get(subnet.subnet_id), self._acls.get(subnet.subnet_id)
        for edge in self._edges.get(subnet.vpc_id, ()):
            if edge.kind == "IGW" and interface.public_ip is None:
                continue
            for group_id in sorted(set(interface.groups)):
                value = self._direct_value(subnet.subnet_id, edge, group_id)
                head = (
                    Step(edge.gateway_id, edge.component_type),
                    Step(table.route_table_id if table else "", rt.ROUTE_TABLE),
                    Step(acl.network_acl_id if acl else "", rt.NETWORK_ACL),
                    Step(group_id, rt.SECURITY_GROUP),
                )
                found += _findings(interface, edge.kind, value, (*head, *tail))
        for target in self._lb_targets.get(interface.network_interface_id, ()):
            found += self._through_load_balancer(interface, target, acl, tail)
        return tuple(found)

    def _direct_value(self, subnet_id: str, edge: Edge, group_id: str) -> Value:
        cache = self._direct[group_id]
        key = (subnet_id, edge.gateway_id)
        if key not in cache:
            cache[key] = collapse(meet(self._edge_fn(subnet_id, edge), self._group_fn(group_id)))
        return cache[key]

    def _through_load_balancer(
        self, interface: NetworkInterface, target: _LbTarget, acl: NetworkAcl | None, tail: tuple[Step, ...]
    ) -> list[Reachability]:
        lb, listener, tg = target.load_balancer, target.listener, target.target_group
        protocols = set(listener_protocol_indexes(listener.protocol)) & set(
            listener_protocol_indexes(tg.protocol)
        )
        preserves_client = lb.type == "network" and not lb.security_groups
        lb_nodes = address_set(
            cidr_range(self._subnets[s].cidr_block) for s in lb.subnet_ids if s in self._subnets
        )
        acl_fn = self._acl_fn(interface.subnet_id)
        classic = lb.type == "classic"
        lb_steps = (
            (Step(lb.load_balancer_id, rt.CLASSIC_LOAD_BALANCER),)
            if classic
            else (
                Step(lb.load_balancer_id, rt.LOAD_BALANCER),
                Step(listener.listener_id, rt.LISTENER),
                Step(tg.target_group_id, rt.TARGET_GROUP),
            )
        )
        found: list[Reachability] = []
        for edge in self._edges.get(lb.vpc_id, ()):
            if edge.kind != "IGW":
                continue
            for protocol in sorted(protocols):
                clients = self._clients(lb, listener, edge, protocol)
                if not clients:
                    continue
                sources = meet(address_set(clients), acl_fn) if preserves_client else meet(lb_nodes, acl_fn)
                for group_id in sorted(set(interface.groups)):
                    by_reference = not preserves_client and references(
                        self._groups.get(group_id), protocol, target.port, lb.security_groups
                    )
                    allowed = sources if by_reference else meet(sources, self._group_fn(group_id))
                    if not addresses_with(allowed, protocol, target.port):
                        continue
                    steps = (
                        Step(edge.gateway_id, edge.component_type),
                        *lb_steps,
                        Step(acl.network_acl_id if acl else "", rt.NETWORK_ACL),
                        Step(group_id, rt.SECURITY_GROUP),
                        *tail,
                    )
                    found.append(_finding(interface, "IGW", protocol, target.port, target.port, steps))
        return found

    def _clients(
        self, lb: LoadBalancer, listener: Listener, edge: Edge, protocol: int
    ) -> tuple[AddressRange, ...]:
        """Internet addresses that reach the listener through one of the load balancer's subnets."""
        cache = self._listener_sources[lb.load_balancer_id]
        key = (listener.listener_id, edge.gateway_id, protocol)
        if key not in cache:
            ranges: list[AddressRange] = []
            for subnet_id in lb.subnet_ids:
                reach = self._edge_fn(subnet_id, edge)
                if not lb.security_groups:
                    ranges += addresses_with(reach, protocol, listener.port)
                for group_id in lb.security_groups:
                    ranges += addresses_with(meet(reach, self._group_fn(group_id)), protocol, listener.port)
            cache[key] = tuple((first, last) for first, last, _ in address_set(ranges))
        return cache[key]

    # -- per subnet, per group

    def _acl_fn(self, subnet_id: str) -> Piecewise:
        if subnet_id not in self._acl_fns:
            self._acl_fns[subnet_id] = acl_function(self._acls.get(subnet_id))
        return self._acl_fns[subnet_id]

    def _edge_fn(self, subnet_id: str, edge: Edge) -> Piecewise:
        key = (subnet_id, edge.gateway_id)
        if key not in self._edge_fns:
            subnet = self._subnets.get(subnet_id)
            if subnet is None:
                return ()
            routes = route_function(
                self._route_tables.get(subnet_id),
                self._vpc_cidrs.get(subnet.vpc_id, ()),
                edge.gateway_id,
                edge.sources,
            )
            self._edge_fns[key] = meet(self._acl_fn(subnet_id), routes)
        return self._edge_fns[key]

    def _group_fn(self, group_id: str) -> Piecewise:
        if group_id not in self._group_fns:
            self._group_fns[group_id] = group_function(self._groups.get(group_id), self._prefix_lists)
        return self._group_fns[group_id]


def _findings(
    interface: NetworkInterface, edge: EdgeKind, value: Value, steps: tuple[Step, ...]
) -> Iterable[Reachability]:
    for protocol, ports in enumerate(value):
        for begin, end in ports:
            yield _finding(interface, edge, protocol, begin, end, steps)


def _finding(
    interface: NetworkInterface, edge: EdgeKind, protocol: int, begin: int, end: int, steps: tuple[Step, ...]
) -> Reachability:
    return Reachability(
        instance_id=interface.instance_id or "",
        network_interface_id=interface.network_interface_id,
        edge=edge,
        protocol="TCP" if PROTOCOLS[protocol] == "TCP" else "UDP",
        begin=begin,
        end=end,
        steps=steps,
    )


def _per_subnet(topology: Topology, items: Iterable[T], default: str) -> dict[str, T]:
    """Each subnet's table or ACL: its explicit association, else its VPC's main/default one."""
    defaults: dict[str, T] = {}
    explicit: dict[str, T] = {}
    for item in items:
        if getattr(item, default):
            defaults.setdefault(item.vpc_id, item)
        for subnet_id in item.subnet_ids:
            explicit[subnet_id] = item
    chosen = {s.subnet_id: explicit.get(s.subnet_id, defaults.get(s.vpc_id)) for s in topology.subnets}
    return {k: v for k, v in chosen.items() if v is not None}


def _edges(topology: Topology) -> dict[str, tuple[Edge, ...]]:
    """Each VPC's attached internet and VPN gateways and its active peering connections, by id."""
    edges: dict[str, list[Edge]] = defaultdict(list)
    for igw in topology.internet_gateways:
        for vpc_id in igw.vpc_ids:
            edges[vpc_id].append(Edge("IGW", igw.internet_gateway_id, rt.INTERNET_GATEWAY, _ALL_ADDRESSES))
    for vgw in topology.vpn_gateways:
        for vpc_id in vgw.vpc_ids:
            edges[vpc_id].append(Edge("VGW", vgw.vpn_gateway_id, rt.VPN_GATEWAY, _ALL_ADDRESSES))
    for pcx in topology.vpc_peering_connections:
        if pcx.status != "active":
            continue
        for vpc_id, peer_cidrs in (
            (pcx.requester_vpc_id, pcx.accepter_cidr_blocks),
            (pcx.accepter_vpc_id, pcx.requester_cidr_blocks),
        ):
            sources = tuple((a, b) for a, b, _ in address_set(cidr_range(c) for c in peer_cidrs))
            edges[vpc_id].append(
                Edge("PEERING", pcx.vpc_peering_connection_id, rt.PEERING_CONNECTION, sources)
            )
    return {vpc_id: tuple(sorted(e, key=lambda x: x.gateway_id)) for vpc_id, e in edges.items()}


def _load_balancer_targets(
    topology: Topology, interfaces: Iterable[NetworkInterface]
) -> tuple[dict[str, tuple[_LbTarget, ...]], dict[str, set[str]]]:
    """Internet-facing listener targets by the target instance's primary interface, and the reverse."""
    primary: dict[str, NetworkInterface] = {}
    for interface in interfaces:
        known = primary.get(interface.instance_id or "")
        if known is None or interface.device_index < known.device_index:
            primary[interface.instance_id or ""] = interface
    groups = {tg.target_group_id: tg for tg in topology.target_groups}
    vpc_of = {s.subnet_id: s.vpc_id for s in topology.subnets}
    by_interface: dict[str, list[_LbTarget]] = defaultdict(list)
    by_lb: dict[str, set[str]] = defaultdict(set)
    for lb in sorted(topology.load_balancers, key=lambda b: b.load_balancer_id):
        if lb.scheme != "internet-facing":
            continue
        for listener in sorted(lb.listeners, key=lambda x: x.listener_id):
            tg = groups.get(listener.target_group_id)
            for target in tg.targets if tg else ():
                found = primary.get(target.id)
                if tg is None or found is None or vpc_of.get(found.subnet_id) != lb.vpc_id:
                    continue
                port = tg.port if target.port is None else target.port
                by_interface[found.network_interface_id].append(_LbTarget(lb, listener, tg, port))
                by_lb[lb.load_balancer_id].add(found.network_interface_id)
    return {k: tuple(v) for k, v in by_interface.items()}, dict(by_lb)
