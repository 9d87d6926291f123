"""The analysis against a naive evaluator written from the rules alone: every sampled port against every
rule, one source address at a time, no interval arithmetic and no caching of partial results.

Addresses: every rule, route and edge is a CIDR, so the truth is constant between CIDR boundaries and the
evaluator tries the first address of each (and every port in `PORTS_TO_TRY`, which holds every rule's
bounds and their neighbours, so the truth is constant between consecutive sampled ports too; the engine's
own range bounds and neighbours are added so a range that ends in the wrong place is caught).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable

import pytest
from tests.network.generate import changed_group, random_topology

from vigil.network import (
    NetworkAcl,
    NetworkInterface,
    Reachability,
    RouteTable,
    SecurityGroup,
    Topology,
    analyze,
)

Fact = tuple[str, str, str, int, tuple[tuple[str, str], ...]]
PROTOCOLS = {"TCP": ("-1", "6", "tcp", "all"), "UDP": ("-1", "17", "udp", "all")}


def _in(address: int, cidr: str) -> bool:
    return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(cidr, strict=False)


def _cidrs(topology: Topology) -> set[str]:
    found = {s.cidr_block for s in topology.subnets}
    found |= {c for v in topology.vpcs for c in v.cidr_blocks}
    found |= {r.destination_cidr_block for t in topology.route_tables for r in t.routes}
    found |= {e.cidr_block for a in topology.network_acls for e in a.entries}
    found |= {r.cidr_ipv4 for g in topology.security_groups for r in g.ingress if r.cidr_ipv4}
    found |= {c for p in topology.prefix_lists for c in p.cidrs}
    for pcx in topology.vpc_peering_connections:
        found |= {*pcx.requester_cidr_blocks, *pcx.accepter_cidr_blocks}
    found.add("0.0.0.0/0")
    return found


def _addresses(topology: Topology) -> list[int]:
    starts = {0}
    for cidr in _cidrs(topology):
        net = ipaddress.IPv4Network(cidr, strict=False)
        starts.add(int(net.network_address))
        if int(net.broadcast_address) < 2**32 - 1:
            starts.add(int(net.broadcast_address) + 1)
    return sorted(starts)


def _ports_to_try(topology: Topology, findings: Iterable[Reachability]) -> list[int]:
    bounds = {0, 1023, 1024, 65535}
    for acl in topology.network_acls:
        bounds |= {p for e in acl.entries if e.port_range for p in e.port_range}
    bounds |= {p for g in topology.security_groups for r in g.ingress for p in (r.from_port, r.to_port)}
    bounds |= {f.begin for f in findings} | {f.end for f in findings}
    bounds |= {t.port or 0 for tg in topology.target_groups for t in tg.targets} | {
        tg.port for tg in topology.target_groups
    }
    return sorted({q for p in bounds for q in (p - 1, p, p + 1) if 0 <= q <= 65535})


class BruteForce:
    def __init__(self, topology: Topology, ports: list[int]) -> None:
        self.t = topology
        self.ports = ports
        self.ephemeral = [p for p in ports if p >= 1024]
        self.addresses = _addresses(topology)

    def subnet(self, subnet_id: str) -> tuple[str, str]:
        (subnet,) = [s for s in self.t.subnets if s.subnet_id == subnet_id]
        return subnet.vpc_id, subnet.cidr_block

    def table(self, subnet_id: str) -> RouteTable | None:
        vpc_id, _ = self.subnet(subnet_id)
        explicit = [t for t in self.t.route_tables if subnet_id in t.subnet_ids]
        main = [t for t in self.t.route_tables if t.main and t.vpc_id == vpc_id]
        return (explicit or main or [None])[-1 if explicit else 0]

    def acl(self, subnet_id: str) -> NetworkAcl | None:
        vpc_id, _ = self.subnet(subnet_id)
        explicit = [a for a in self.t.network_acls if subnet_id in a.subnet_ids]
        default = [a for a in self.t.network_acls if a.is_default and a.vpc_id == vpc_id]
        return (explicit or default or [None])[-1 if explicit else 0]

    def next_hop(self, subnet_id: str, address: int) -> str | None:
        vpc_id, _ = self.subnet(subnet_id)
        (vpc,) = [v for v in self.t.vpcs if v.vpc_id == vpc_id]
        table = self.table(subnet_id)
        candidates = [(c, "local", "active") for c in vpc.cidr_blocks]
        candidates += [
            (r.destination_cidr_block, r.target_id, r.state) for r in (table.routes if table else ())
        ]
        best, best_length = None, -1
        for cidr, target, state in candidates:
            length = ipaddress.IPv4Network(cidr, strict=False).prefixlen
            if _in(address, cidr) and length > best_length:
                best, best_length = (target if state == "active" else None), length
        return best

    def acl_allows(
        self, acl: NetworkAcl | None, egress: bool, protocol: str, port: int, address: int
    ) -> bool:
        if acl is None:
            return False
        for entry in sorted((e for e in acl.entries if e.egress == egress), key=lambda e: e.rule_number):
            if entry.protocol not in PROTOCOLS[protocol]:
                continue
            if entry.port_range and not entry.port_range[0] <= port <= entry.port_range[1]:
                continue
            if _in(address, entry.cidr_block):
                return entry.rule_action == "allow"
        return False

    def acl_passes(self, acl: NetworkAcl | None, protocol: str, port: int, address: int) -> bool:
        """In on `port`, and the reply out to at least one ephemeral port."""
        return self.acl_allows(acl, False, protocol, port, address) and any(
            self.acl_allows(acl, True, protocol, e, address) for e in self.ephemeral
        )

    def group_allows(
        self, group_id: str, protocol: str, port: int, address: int | None, member_of: tuple[str, ...] = ()
    ) -> bool:
        (group,) = [g for g in self.t.security_groups if g.group_id == group_id] or [
            SecurityGroup(group_id, "")
        ]
        for rule in group.ingress:
            if rule.ip_protocol not in PROTOCOLS[protocol]:
                continue
            if (
                rule.ip_protocol != "-1"
                and rule.from_port != -1
                and not rule.from_port <= port <= rule.to_port
            ):
                continue
            if rule.referenced_group_id is not None and rule.referenced_group_id in member_of:
                return True
            if address is None:
                continue
            if rule.cidr_ipv4 and _in(address, rule.cidr_ipv4):
                return True
            lists = [p for p in self.t.prefix_lists if p.prefix_list_id == rule.prefix_list_id]
            if any(_in(address, c) for p in lists for c in p.cidrs):
                return True
        return False

    def edges(self, vpc_id: str) -> list[tuple[str, str, str, list[str]]]:
        found = [
            ("IGW", g.internet_gateway_id, "AWS::EC2::InternetGateway", ["0.0.0.0/0"])
            for g in self.t.internet_gateways
            if vpc_id in g.vpc_ids
        ]
        found += [
            ("VGW", g.vpn_gateway_id, "AWS::EC2::VPNGateway", ["0.0.0.0/0"])
            for g in self.t.vpn_gateways
            if vpc_id in g.vpc_ids
        ]
        for pcx in self.t.vpc_peering_connections:
            if pcx.status != "active":
                continue
            if pcx.requester_vpc_id == vpc_id:
                found.append(
                    (
                        "PEERING",
                        pcx.vpc_peering_connection_id,
                        "AWS::EC2::VPCPeeringConnection",
                        list(pcx.accepter_cidr_blocks),
                    )
                )
            if pcx.accepter_vpc_id == vpc_id:
                found.append(
                    (
                        "PEERING",
                        pcx.vpc_peering_connection_id,
                        "AWS::EC2::VPCPeeringConnection",
                        list(pcx.requester_cidr_blocks),
                    )
                )
        return sorted(found, key=lambda e: e[1])

    def facts(self) -> set[Fact]:
        found: set[Fact] = set()
        for eni in self.t.network_interfaces:
            if eni.instance_id is not None:
                found |= self.direct(eni) | self.through_load_balancers(eni)
        return found

    def direct(self, eni: NetworkInterface) -> set[Fact]:
        found: set[Fact] = set()
        vpc_id, _ = self.subnet(eni.subnet_id)
        table, acl = self.table(eni.subnet_id), self.acl(eni.subnet_id)
        for kind, gateway, component, sources in self.edges(vpc_id):
            if kind == "IGW" and eni.public_ip is None:
                continue
            arriving = [
                a
                for a in self.addresses
                if any(_in(a, c) for c in sources) and self.next_hop(eni.subnet_id, a) == gateway
            ]
            for group_id in set(eni.groups):
                path = (
                    (gateway, component),
                    (table.route_table_id if table else "", "AWS::EC2::RouteTable"),
                    (acl.network_acl_id if acl else "", "AWS::EC2::NetworkAcl"),
                    (group_id, "AWS::EC2::SecurityGroup"),
                    (eni.network_interface_id, "AWS::EC2::NetworkInterface"),
                    (eni.instance_id or "", "AWS::EC2::Instance"),
                )
                for protocol in PROTOCOLS:
                    for port in self.ports:
                        if any(
                            self.acl_passes(acl, protocol, port, a)
                            and self.group_allows(group_id, protocol, port, a)
                            for a in arriving
                        ):
                            found.add((eni.network_interface_id, kind, protocol, port, path))
        return found

    def through_load_balancers(self, eni: NetworkInterface) -> set[Fact]:
        same_instance = [i for i in self.t.network_interfaces if i.instance_id == eni.instance_id]
        if (
            min(i.device_index for i in same_instance) != eni.device_index
            or min(
                (i for i in same_instance if i.device_index == eni.device_index),
                key=lambda i: i.network_interface_id,
            )
            != eni
        ):
            return set()
        found: set[Fact] = set()
        vpc_id, _ = self.subnet(eni.subnet_id)
        for lb in self.t.load_balancers:
            if lb.scheme != "internet-facing" or lb.vpc_id != vpc_id:
                continue
            for listener in lb.listeners:
                (tg,) = [g for g in self.t.target_groups if g.target_group_id == listener.target_group_id]
                for target in tg.targets:
                    if target.id == eni.instance_id:
                        found |= self.target(
                            eni, lb, listener, tg, tg.port if target.port is None else target.port
                        )
        return found

    def target(self, eni, lb, listener, tg, port) -> set[Fact]:  # type: ignore[no-untyped-def]
        def carried(protocol: str) -> set[str]:
            return {"UDP": {"UDP"}, "TCP_UDP": {"TCP", "UDP"}}.get(protocol.upper(), {"TCP"})

        found: set[Fact] = set()
        acl = self.acl(eni.subnet_id)
        lb_cidrs = [self.subnet(s)[1] for s in lb.subnet_ids]
        preserves_client = lb.type == "network" and not lb.security_groups
        for kind, gateway, component, _ in self.edges(lb.vpc_id):
            if kind != "IGW":
                continue
            for protocol in carried(listener.protocol) & carried(tg.protocol):
                clients = [
                    a
                    for a in self.addresses
                    for s in lb.subnet_ids
                    if self.next_hop(s, a) == gateway
                    and self.acl_passes(self.acl(s), protocol, listener.port, a)
                    and (
                        not lb.security_groups
                        or any(self.group_allows(g, protocol, listener.port, a) for g in lb.security_groups)
                    )
                ]
                if not clients:
                    continue
                for group_id in set(eni.groups):
                    if preserves_client:
                        ok = any(
                            self.acl_passes(acl, protocol, port, a)
                            and self.group_allows(group_id, protocol, port, a)
                            for a in clients
                        )
                    else:
                        ok = any(
                            self.acl_passes(acl, protocol, port, a)
                            and self.group_allows(group_id, protocol, port, a, lb.security_groups)
                            for a in self.addresses
                            if any(_in(a, c) for c in lb_cidrs)
                        )
                    if ok:
                        lb_steps = (
                            ((lb.load_balancer_id, "AWS::ElasticLoadBalancing::LoadBalancer"),)
                            if lb.type == "classic"
                            else (
                                (lb.load_balancer_id, "AWS::ElasticLoadBalancingV2::LoadBalancer"),
                                (listener.listener_id, "AWS::ElasticLoadBalancingV2::Listener"),
                                (tg.target_group_id, "AWS::ElasticLoadBalancingV2::TargetGroup"),
                            )
                        )
                        path = (
                            (gateway, component),
                            *lb_steps,
                            (acl.network_acl_id if acl else "", "AWS::EC2::NetworkAcl"),
                            (group_id, "AWS::EC2::SecurityGroup"),
                            (eni.network_interface_id, "AWS::EC2::NetworkInterface"),
                            (eni.instance_id, "AWS::EC2::Instance"),
                        )
                        found.add((eni.network_interface_id, "IGW", protocol, port, path))
        return found


def _facts(findings: Iterable[Reachability], ports: list[int]) -> set[Fact]:
    return {
        (
            f.network_interface_id,
            f.edge,
            f.protocol,
            p,
            tuple((s.component_id, s.component_type) for s in f.steps),
        )
        for f in findings
        for p in ports
        if f.begin <= p <= f.end
    }


def check(topology: Topology) -> None:
    findings = analyze(topology).findings
    ports = _ports_to_try(topology, findings)
    assert _facts(findings, ports) == BruteForce(topology, ports).facts()
    by_path: dict[object, list[tuple[int, int]]] = {}
    for f in findings:
        by_path.setdefault((f.network_interface_id, f.edge, f.protocol, f.steps), []).append((f.begin, f.end))
    for ranges in by_path.values():
        ranges.sort()
        assert all(a[1] + 1 < b[0] for a, b in itertools.pairwise(ranges)), "ranges not maximal"
    assert len(findings) == len(set(findings))


@pytest.mark.parametrize("seed", range(200))
def test_analysis_matches_brute_force_on_random_topologies(seed: int) -> None:
    check(random_topology(seed))


@pytest.mark.parametrize("seed", range(60))
def test_update_after_a_group_change_matches_a_full_analysis(seed: int) -> None:
    topology = random_topology(seed)
    analysis = analyze(topology)
    before = set(analysis.findings)
    group = changed_group(topology, seed)
    delta = analysis.update(group)
    fresh = analyze(topology.with_security_group(group)).findings
    assert set(analysis.findings) == set(fresh)
    assert delta.added == set(fresh) - before
    assert delta.removed == before - set(fresh)
    check(topology.with_security_group(group))
