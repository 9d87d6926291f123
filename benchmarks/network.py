"""Network reachability figures (issue "Network reachability analysis").

    python benchmarks/network.py [--instances 10000] [--subnets 200] [--groups 2000] [--acl-rules 400]

A generated account: 10 VPCs, their subnets half public (routed to the internet gateway) and half private
(through a NAT gateway), peering and VPN gateways, ACLs with deny rules before allow rules, security groups
with CIDR, prefix-list and group-reference rules, and internet-facing load balancers.
1. Full analysis on one core (goal: under 60 s).
2. Incremental re-analysis after one rule of one security group changes (goal: under 1 s), for the group
   used by the most interfaces and for a load balancer's group; each checked against a full analysis.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import resource
import time

from vigil.network import (
    InternetGateway,
    Listener,
    LoadBalancer,
    ManagedPrefixList,
    NatGateway,
    NetworkAcl,
    NetworkAclEntry,
    NetworkInterface,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Target,
    TargetGroup,
    Topology,
    Vpc,
    VpcPeeringConnection,
    VpnGateway,
    analyze,
)

VPCS = 10
PORTS = (22, 80, 443, 3306, 5432, 6379, 8080, 8443, 9000, 27017)


def _cidr(rng: random.Random) -> str:
    return rng.choice(
        (
            "0.0.0.0/0",
            f"10.{rng.randrange(VPCS)}.0.0/16",
            f"10.{rng.randrange(VPCS)}.{rng.randrange(256)}.0/24",
            f"{rng.randrange(1, 224)}.{rng.randrange(256)}.0.0/16",
            f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}/32",
            "172.16.0.0/12",
        )
    )


def _rule(rng: random.Random, group_ids: list[str]) -> SecurityGroupRule:
    protocol = rng.choice(("tcp", "tcp", "tcp", "udp", "-1"))
    first = rng.choice(PORTS) if rng.random() < 0.8 else rng.randrange(1024, 60000)
    last = first if rng.random() < 0.7 else first + rng.randrange(1, 2000)
    kind = rng.random()
    if kind < 0.7:
        return SecurityGroupRule(protocol, first, last, cidr_ipv4=_cidr(rng))
    if kind < 0.85:
        return SecurityGroupRule(protocol, first, last, prefix_list_id=f"pl-{rng.randrange(10)}")
    return SecurityGroupRule(protocol, first, last, referenced_group_id=rng.choice(group_ids))


def account(instances: int, subnets: int, groups: int, acl_rules: int, seed: int = 7) -> Topology:
    rng = random.Random(seed)
    vpcs = [Vpc(f"vpc-{v}", (f"10.{v}.0.0/16",)) for v in range(VPCS)]
    subnet_list = [
        Subnet(f"subnet-{k:04d}", f"vpc-{k % VPCS}", f"10.{k % VPCS}.{k // VPCS}.0/24")
        for k in range(subnets)
    ]
    tables, acls = [], []
    acls_per_vpc = max(1, acl_rules // (VPCS * 10))
    for v in range(VPCS):
        own = [s.subnet_id for s in subnet_list if s.vpc_id == f"vpc-{v}"]
        local = Route(f"10.{v}.0.0/16", "local")
        peer = Route(f"10.{(v + 1) % VPCS}.0.0/16", f"pcx-{v}")
        tables.append(
            RouteTable(f"rtb-{v}-main", f"vpc-{v}", (local, Route("0.0.0.0/0", f"nat-{v}")), main=True)
        )
        tables.append(
            RouteTable(
                f"rtb-{v}-public",
                f"vpc-{v}",
                (local, peer, Route("0.0.0.0/0", f"igw-{v}"), Route("192.168.0.0/16", f"vgw-{v}")),
                subnet_ids=tuple(own[::2]),
            )
        )
        for a in range(acls_per_vpc):
            entries = []
            for egress in (False, True):
                for n in range(4):
                    port = rng.choice(PORTS)
                    entries.append(NetworkAclEntry(10 + n, "6", "deny", egress, _cidr(rng), (port, port)))
                entries.append(NetworkAclEntry(100, "-1", "allow", egress, "0.0.0.0/0"))
            acls.append(
                NetworkAcl(
                    f"acl-{v}-{a}",
                    f"vpc-{v}",
                    tuple(entries),
                    is_default=a == 0,
                    subnet_ids=tuple(own[a::acls_per_vpc]),
                )
            )
    group_ids = [f"sg-{g:05d}" for g in range(groups)]
    group_list = [
        SecurityGroup(g, f"vpc-{n % VPCS}", tuple(_rule(rng, group_ids) for _ in range(rng.randint(2, 8))))
        for n, g in enumerate(group_ids)
    ]
    by_vpc = {f"vpc-{v}": group_ids[v::VPCS] for v in range(VPCS)}
    interfaces = []
    for i in range(instances):
        subnet = rng.choice(subnet_list)
        interfaces.append(
            NetworkInterface(
                f"eni-{i:06d}",
                subnet.subnet_id,
                "10.0.0.1",
                tuple(rng.sample(by_vpc[subnet.vpc_id], rng.randint(1, 3))),
                f"i-{i:06d}",
                public_ip="198.51.100.1" if rng.random() < 0.5 else None,
            )
        )
    lbs, tgs = [], []
    for k in range(50):
        v = k % VPCS
        own = [s.subnet_id for s in subnet_list if s.vpc_id == f"vpc-{v}"]
        members = [i for i in interfaces if i.subnet_id in own]
        tg = TargetGroup(
            f"tg-{k}", "HTTP", 8080, tuple(Target(i.instance_id or "") for i in rng.sample(members, 20))
        )
        tgs.append(tg)
        lb_group = SecurityGroup(
            f"sg-lb-{k}", f"vpc-{v}", (SecurityGroupRule("tcp", 443, 443, cidr_ipv4="0.0.0.0/0"),)
        )
        group_list.append(lb_group)
        lbs.append(
            LoadBalancer(
                f"app/lb-{k}",
                "application",
                "internet-facing",
                f"vpc-{v}",
                tuple(own[::2][:3]),
                (lb_group.group_id,),
                (Listener(f"listener-{k}", "HTTPS", 443, tg.target_group_id),),
            )
        )
    return Topology(
        vpcs=tuple(vpcs),
        subnets=tuple(subnet_list),
        route_tables=tuple(tables),
        internet_gateways=tuple(InternetGateway(f"igw-{v}", (f"vpc-{v}",)) for v in range(VPCS)),
        nat_gateways=tuple(NatGateway(f"nat-{v}", f"subnet-{v:04d}") for v in range(VPCS)),
        vpc_peering_connections=tuple(
            VpcPeeringConnection(
                f"pcx-{v}",
                f"vpc-{v}",
                (f"10.{v}.0.0/16",),
                f"vpc-{(v + 1) % VPCS}",
                (f"10.{(v + 1) % VPCS}.0.0/16",),
            )
            for v in range(VPCS)
        ),
        vpn_gateways=tuple(VpnGateway(f"vgw-{v}", (f"vpc-{v}",)) for v in range(VPCS)),
        network_acls=tuple(acls),
        security_groups=tuple(group_list),
        prefix_lists=tuple(
            ManagedPrefixList(f"pl-{p}", tuple(_cidr(rng) for _ in range(5))) for p in range(10)
        ),
        network_interfaces=tuple(interfaces),
        load_balancers=tuple(lbs),
        target_groups=tuple(tgs),
    )


def incremental(topology: Topology, group: SecurityGroup, changed: SecurityGroup) -> None:
    analysis = analyze(topology)
    start = time.perf_counter()
    delta = analysis.update(changed)
    took = time.perf_counter() - start
    users = sum(group.group_id in i.groups for i in topology.network_interfaces)
    users += sum(
        len(t.targets) for t in topology.target_groups if f"sg-lb-{t.target_group_id[3:]}" == group.group_id
    )
    expected = set(analyze(topology.with_security_group(changed)).findings)
    assert set(analysis.findings) == expected, "incremental result differs from a full analysis"
    print(
        f"update of {group.group_id} ({users} interfaces use it or sit behind it): {took * 1000:.1f} ms, "
        f"+{len(delta.added)} / -{len(delta.removed)} findings (checked against a full analysis)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--subnets", type=int, default=200)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--acl-rules", type=int, default=400)
    args = parser.parse_args()
    topology = account(args.instances, args.subnets, args.groups, args.acl_rules)
    rules = sum(len(a.entries) for a in topology.network_acls)
    print(
        f"account: {len(topology.network_interfaces):,} instances, {len(topology.subnets)} subnets, "
        f"{len(topology.security_groups):,} security groups, {rules} ACL rules, "
        f"{len(topology.load_balancers)} load balancers"
    )
    start = time.perf_counter()
    analysis = analyze(topology)
    findings = analysis.findings
    took = time.perf_counter() - start
    reached = len({f.instance_id for f in findings})
    print(f"full analysis: {took:.2f} s, {len(findings):,} findings on {reached:,} instances")
    by_use: dict[str, int] = {}
    for interface in topology.network_interfaces:
        for group_id in interface.groups:
            by_use[group_id] = by_use.get(group_id, 0) + 1
    busiest = max(topology.security_groups, key=lambda g: by_use.get(g.group_id, 0))
    opened = SecurityGroupRule("tcp", 9100, 9100, cidr_ipv4="0.0.0.0/0")
    incremental(topology, busiest, dataclasses.replace(busiest, ingress=(*busiest.ingress, opened)))
    lb_group = next(g for g in topology.security_groups if g.group_id == "sg-lb-0")
    incremental(topology, lb_group, dataclasses.replace(lb_group, ingress=()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")


if __name__ == "__main__":
    main()
