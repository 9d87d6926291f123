"""Small random topologies with overlapping CIDRs, deny rules, prefix lists, group references and load
balancers: enough variety that every rule kind meets every other on the same ports and addresses."""

from __future__ import annotations

import random

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
)

VPC_CIDRS = {"vpc-1": "10.0.0.0/16", "vpc-2": "10.1.0.0/16"}
PEER_CIDRS = ("172.16.0.0/16", "172.17.0.0/24")
CIDRS = (
    "0.0.0.0/0",
    "0.0.0.0/1",
    "128.0.0.0/1",
    "10.0.0.0/8",
    "10.0.0.0/16",
    "10.0.0.0/23",
    "10.0.0.0/24",
    "10.0.0.128/25",
    "10.0.1.0/24",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "172.16.0.0/12",
    "172.16.0.0/16",
    "172.16.5.0/24",
    "172.17.0.0/24",
    "203.0.113.0/24",
    "1.2.3.4/32",
    "198.51.100.0/22",
)
PORTS = (0, 1, 22, 53, 80, 443, 1023, 1024, 1025, 3000, 8080, 32768, 60999, 65534, 65535)
ACL_PROTOCOLS = ("-1", "6", "17", "1", "tcp")
GROUP_PROTOCOLS = ("-1", "tcp", "udp", "icmp", "6")


def _ports(rng: random.Random) -> tuple[int, int]:
    a, b = rng.choice(PORTS), rng.choice(PORTS)
    return min(a, b), max(a, b)


def _acl_entries(rng: random.Random) -> tuple[NetworkAclEntry, ...]:
    """A few specific rules before (usually) a catch-all allow, as ACLs are written."""
    entries = []
    for egress in (False, True):
        for number in rng.sample(range(1, 100), rng.randint(0, 4)):
            protocol = rng.choice(ACL_PROTOCOLS)
            entries.append(
                NetworkAclEntry(
                    number,
                    protocol,
                    rng.choice(("allow", "deny", "deny")),
                    egress,
                    rng.choice(CIDRS),
                    None if protocol == "-1" or rng.random() < 0.1 else _ports(rng),
                )
            )
        if rng.random() < 0.8:
            entries.append(
                NetworkAclEntry(
                    150, "-1", "allow", egress, rng.choice(("0.0.0.0/0", "0.0.0.0/0", "0.0.0.0/1"))
                )
            )
        entries.append(NetworkAclEntry(32767, "-1", "deny", egress, "0.0.0.0/0"))
    return tuple(entries)


def _group_rule(rng: random.Random, group_ids: list[str]) -> SecurityGroupRule:
    protocol = rng.choice(GROUP_PROTOCOLS)
    first, last = (-1, -1) if protocol == "-1" else _ports(rng)
    kind = rng.random()
    if kind < 0.5:
        return SecurityGroupRule(protocol, first, last, cidr_ipv4=rng.choice(CIDRS))
    if kind < 0.7:
        return SecurityGroupRule(protocol, first, last, prefix_list_id=rng.choice(("pl-1", "pl-2", "pl-9")))
    return SecurityGroupRule(protocol, first, last, referenced_group_id=rng.choice(group_ids))


def random_topology(seed: int) -> Topology:
    rng = random.Random(seed)
    vpc_ids = ["vpc-1", "vpc-2"][: rng.randint(1, 2)]
    subnets = [
        Subnet(f"subnet-{v}-{k}", v, VPC_CIDRS[v].replace(".0.0/16", f".{k}.0/24"))
        for v in vpc_ids
        for k in range(rng.randint(1, 3))
    ]
    targets = ["igw-1", "nat-1", "pcx-1", "vgw-1", "local"]
    route_tables, acls = [], []
    for v in vpc_ids:
        own = [s.subnet_id for s in subnets if s.vpc_id == v]
        for k in range(rng.randint(1, 3)):
            routes = [
                Route(cidr, rng.choice(targets), rng.choice(("active",) * 5 + ("blackhole",)))
                for cidr in rng.sample(CIDRS, rng.randint(0, 2))
            ]
            if rng.random() < 0.8:
                routes.append(Route("0.0.0.0/0", rng.choice(("igw-1", "igw-1", "igw-1", "nat-1", "vgw-1"))))
            if rng.random() < 0.5:
                routes.append(Route("172.16.0.0/16", "pcx-1"))
            assoc = tuple(s for s in own if rng.random() < 0.4) if k else ()
            route_tables.append(RouteTable(f"rtb-{v}-{k}", v, tuple(routes), main=k == 0, subnet_ids=assoc))
            acls.append(NetworkAcl(f"acl-{v}-{k}", v, _acl_entries(rng), is_default=k == 0, subnet_ids=assoc))
    group_ids = [f"sg-{k}" for k in range(rng.randint(1, 5))]
    lb_group_ids = [f"sg-lb-{k}" for k in range(rng.randint(0, 2))]
    everyone = group_ids + lb_group_ids
    groups = [
        SecurityGroup(g, "vpc-1", tuple(_group_rule(rng, everyone) for _ in range(rng.randint(0, 4))))
        for g in everyone
    ]
    interfaces = []
    for k in range(rng.randint(1, 6)):
        subnet = rng.choice(subnets)
        instance = f"i-{rng.randint(0, 3)}"
        interfaces.append(
            NetworkInterface(
                f"eni-{k}",
                subnet.subnet_id,
                "10.0.0.5",
                tuple(rng.sample(group_ids, rng.randint(1, min(2, len(group_ids))))),
                instance if rng.random() < 0.95 else None,
                device_index=rng.randint(0, 1),
                public_ip="203.0.113.7" if rng.random() < 0.7 else None,
            )
        )
    load_balancers, target_groups = [], []
    for k in range(rng.randint(0, 2)):
        v = rng.choice(vpc_ids)
        kind = rng.choice(("application", "network", "classic"))
        tg_protocol = {"application": "HTTP", "classic": "TCP"}.get(
            kind, rng.choice(("TCP", "UDP", "TCP_UDP"))
        )
        instances = sorted({i.instance_id for i in interfaces if i.instance_id})
        tg = TargetGroup(
            f"tg-{k}",
            tg_protocol,
            rng.choice(PORTS),
            tuple(Target(i, rng.choice((None, rng.choice(PORTS)))) for i in instances if rng.random() < 0.7),
        )
        target_groups.append(tg)
        listeners = tuple(
            Listener(f"listener-{k}-{n}", tg_protocol, rng.choice(PORTS), tg.target_group_id)
            for n in range(rng.randint(1, 2))
        )
        own = [s.subnet_id for s in subnets if s.vpc_id == v]
        load_balancers.append(
            LoadBalancer(
                f"lb-{k}",
                kind,
                rng.choice(("internet-facing",) * 4 + ("internal",)),
                v,
                tuple(rng.sample(own, rng.randint(1, len(own)))),
                tuple(rng.sample(lb_group_ids, rng.randint(0, len(lb_group_ids)))),
                listeners,
            )
        )
    return Topology(
        vpcs=tuple(Vpc(v, (VPC_CIDRS[v],)) for v in vpc_ids),
        subnets=tuple(subnets),
        route_tables=tuple(route_tables),
        internet_gateways=(InternetGateway("igw-1", tuple(v for v in vpc_ids if rng.random() < 0.9)),),
        nat_gateways=(NatGateway("nat-1", subnets[0].subnet_id),),
        vpc_peering_connections=(
            VpcPeeringConnection(
                "pcx-1",
                "vpc-1",
                ("10.0.0.0/16",),
                "vpc-peer",
                PEER_CIDRS,
                rng.choice(("active", "pending-acceptance")),
            ),
        ),
        vpn_gateways=(VpnGateway("vgw-1", tuple(v for v in vpc_ids if rng.random() < 0.5)),),
        network_acls=tuple(acls),
        security_groups=tuple(groups),
        prefix_lists=(
            ManagedPrefixList("pl-1", tuple(rng.sample(CIDRS, 2))),
            ManagedPrefixList("pl-2", tuple(rng.sample(CIDRS, 1))),
        ),
        network_interfaces=tuple(interfaces),
        load_balancers=tuple(load_balancers),
        target_groups=tuple(target_groups),
    )


def changed_group(topology: Topology, seed: int) -> SecurityGroup:
    """One of the topology's groups with new random rules."""
    rng = random.Random(seed)
    group = rng.choice(topology.security_groups)
    everyone = [g.group_id for g in topology.security_groups]
    return SecurityGroup(
        group.group_id, group.vpc_id, tuple(_group_rule(rng, everyone) for _ in range(rng.randint(0, 4)))
    )
