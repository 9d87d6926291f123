"""Hand-built cases after AWS's documented examples (VPC user guide: public/private subnets, NACL and
security group examples, ALB in front of private instances, VPC peering)."""

from __future__ import annotations

import dataclasses

from vigil.network import (
    InternetGateway,
    Listener,
    LoadBalancer,
    NatGateway,
    NetworkAcl,
    NetworkAclEntry,
    NetworkInterface,
    Reachability,
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
    analyze,
)

ALLOW_ALL = (
    NetworkAclEntry(100, "-1", "allow", False, "0.0.0.0/0"),
    NetworkAclEntry(32767, "-1", "deny", False, "0.0.0.0/0"),
    NetworkAclEntry(100, "-1", "allow", True, "0.0.0.0/0"),
    NetworkAclEntry(32767, "-1", "deny", True, "0.0.0.0/0"),
)
WEB = SecurityGroup(
    "sg-web",
    "vpc-1",
    (
        SecurityGroupRule("tcp", 80, 80, cidr_ipv4="0.0.0.0/0"),
        SecurityGroupRule("tcp", 443, 443, cidr_ipv4="0.0.0.0/0"),
    ),
)
PUBLIC_ROUTES = RouteTable(
    "rtb-public",
    "vpc-1",
    (Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", "igw-1")),
    subnet_ids=("subnet-public",),
)
PRIVATE_ROUTES = RouteTable(
    "rtb-main", "vpc-1", (Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", "nat-1")), main=True
)
SERVER = NetworkInterface("eni-1", "subnet-public", "10.0.0.10", ("sg-web",), "i-1", public_ip="203.0.113.10")


def public_web_server(**changes: object) -> Topology:
    topology = Topology(
        vpcs=(Vpc("vpc-1", ("10.0.0.0/16",)),),
        subnets=(
            Subnet("subnet-public", "vpc-1", "10.0.0.0/24"),
            Subnet("subnet-private", "vpc-1", "10.0.1.0/24"),
        ),
        route_tables=(PUBLIC_ROUTES, PRIVATE_ROUTES),
        internet_gateways=(InternetGateway("igw-1", ("vpc-1",)),),
        nat_gateways=(NatGateway("nat-1", "subnet-public"),),
        network_acls=(NetworkAcl("acl-default", "vpc-1", ALLOW_ALL, is_default=True),),
        security_groups=(WEB,),
        network_interfaces=(SERVER,),
    )
    return dataclasses.replace(topology, **changes)  # type: ignore[arg-type]


def open_ports(findings: tuple[Reachability, ...]) -> set[tuple[str, str, int, int]]:
    return {(f.edge, f.protocol, f.begin, f.end) for f in findings}


def test_public_web_server_is_reachable_on_80_and_443_from_the_internet_gateway() -> None:
    findings = analyze(public_web_server()).findings
    assert open_ports(findings) == {("IGW", "TCP", 80, 80), ("IGW", "TCP", 443, 443)}
    assert [s.to_dict() for s in findings[0].steps] == [
        {"componentId": "igw-1", "componentType": "AWS::EC2::InternetGateway"},
        {"componentId": "rtb-public", "componentType": "AWS::EC2::RouteTable"},
        {"componentId": "acl-default", "componentType": "AWS::EC2::NetworkAcl"},
        {"componentId": "sg-web", "componentType": "AWS::EC2::SecurityGroup"},
        {"componentId": "eni-1", "componentType": "AWS::EC2::NetworkInterface"},
        {"componentId": "i-1", "componentType": "AWS::EC2::Instance"},
    ]
    assert findings[0].title == "Port 80 is reachable from an Internet Gateway - TCP"


def test_server_without_a_public_address_is_not_reachable() -> None:
    private = dataclasses.replace(SERVER, public_ip=None)
    assert analyze(public_web_server(network_interfaces=(private,))).findings == ()


def test_acl_denying_22_before_allowing_all_closes_22() -> None:
    ssh = SecurityGroup("sg-web", "vpc-1", (SecurityGroupRule("tcp", 0, 1000, cidr_ipv4="0.0.0.0/0"),))
    acl = NetworkAcl(
        "acl-custom",
        "vpc-1",
        (NetworkAclEntry(50, "6", "deny", False, "0.0.0.0/0", (22, 22)), *ALLOW_ALL),
        subnet_ids=("subnet-public",),
    )
    topology = public_web_server(security_groups=(ssh,), network_acls=(acl,))
    assert open_ports(analyze(topology).findings) == {("IGW", "TCP", 0, 21), ("IGW", "TCP", 23, 1000)}


def test_acl_without_an_outbound_ephemeral_rule_lets_nothing_through() -> None:
    inbound_only = NetworkAcl("acl-in", "vpc-1", ALLOW_ALL[:2], subnet_ids=("subnet-public",))
    outbound_80_only = NetworkAcl(
        "acl-in",
        "vpc-1",
        (*ALLOW_ALL[:2], NetworkAclEntry(100, "6", "allow", True, "0.0.0.0/0", (80, 80))),
        subnet_ids=("subnet-public",),
    )
    assert analyze(public_web_server(network_acls=(inbound_only,))).findings == ()
    assert analyze(public_web_server(network_acls=(outbound_80_only,))).findings == ()


def test_outbound_rule_for_part_of_the_ephemeral_range_is_enough() -> None:
    linux_ephemeral = NetworkAcl(
        "acl-in",
        "vpc-1",
        (*ALLOW_ALL[:2], NetworkAclEntry(100, "6", "allow", True, "0.0.0.0/0", (32768, 60999))),
        subnet_ids=("subnet-public",),
    )
    assert open_ports(analyze(public_web_server(network_acls=(linux_ephemeral,))).findings) == {
        ("IGW", "TCP", 80, 80),
        ("IGW", "TCP", 443, 443),
    }


def test_private_subnet_routed_through_a_nat_gateway_is_not_reachable_from_the_internet() -> None:
    in_private = dataclasses.replace(SERVER, subnet_id="subnet-private")
    assert analyze(public_web_server(network_interfaces=(in_private,))).findings == ()


def test_more_specific_route_elsewhere_cuts_off_those_sources_only() -> None:
    table = dataclasses.replace(PUBLIC_ROUTES, routes=(*PUBLIC_ROUTES.routes, Route("0.0.0.0/1", "nat-1")))
    only = SecurityGroup("sg-web", "vpc-1", (SecurityGroupRule("tcp", 80, 80, cidr_ipv4="1.2.3.0/24"),))
    assert (
        analyze(public_web_server(route_tables=(table, PRIVATE_ROUTES), security_groups=(only,))).findings
        == ()
    )
    elsewhere = SecurityGroup("sg-web", "vpc-1", (SecurityGroupRule("tcp", 80, 80, cidr_ipv4="200.0.0.0/8"),))
    topology = public_web_server(route_tables=(table, PRIVATE_ROUTES), security_groups=(elsewhere,))
    assert open_ports(analyze(topology).findings) == {("IGW", "TCP", 80, 80)}


def alb_in_front_of_a_private_instance() -> Topology:
    alb_group = SecurityGroup("sg-alb", "vpc-1", (SecurityGroupRule("tcp", 443, 443, cidr_ipv4="0.0.0.0/0"),))
    app_group = SecurityGroup(
        "sg-app", "vpc-1", (SecurityGroupRule("tcp", 8080, 8080, referenced_group_id="sg-alb"),)
    )
    app = NetworkInterface("eni-app", "subnet-private", "10.0.1.20", ("sg-app",), "i-app")
    alb = LoadBalancer(
        "app/web/1",
        "application",
        "internet-facing",
        "vpc-1",
        ("subnet-public",),
        ("sg-alb",),
        (Listener("listener-443", "HTTPS", 443, "tg-app"),),
    )
    return public_web_server(
        security_groups=(alb_group, app_group),
        network_interfaces=(app,),
        load_balancers=(alb,),
        target_groups=(TargetGroup("tg-app", "HTTP", 8080, (Target("i-app"),)),),
    )


def test_internet_facing_alb_exposes_the_target_port_of_a_private_instance() -> None:
    findings = analyze(alb_in_front_of_a_private_instance()).findings
    assert open_ports(findings) == {("IGW", "TCP", 8080, 8080)}
    assert [(s.component_id, s.component_type) for s in findings[0].steps] == [
        ("igw-1", "AWS::EC2::InternetGateway"),
        ("app/web/1", "AWS::ElasticLoadBalancingV2::LoadBalancer"),
        ("listener-443", "AWS::ElasticLoadBalancingV2::Listener"),
        ("tg-app", "AWS::ElasticLoadBalancingV2::TargetGroup"),
        ("acl-default", "AWS::EC2::NetworkAcl"),
        ("sg-app", "AWS::EC2::SecurityGroup"),
        ("eni-app", "AWS::EC2::NetworkInterface"),
        ("i-app", "AWS::EC2::Instance"),
    ]


def test_internal_alb_or_closed_alb_group_exposes_nothing() -> None:
    topology = alb_in_front_of_a_private_instance()
    internal = dataclasses.replace(topology.load_balancers[0], scheme="internal")
    assert analyze(dataclasses.replace(topology, load_balancers=(internal,))).findings == ()
    analysis = analyze(topology)
    delta = analysis.update(SecurityGroup("sg-alb", "vpc-1", ()))
    assert analysis.findings == ()
    assert len(delta.removed) == 1 and not delta.added


def test_alb_in_a_subnet_without_an_internet_route_exposes_nothing() -> None:
    topology = alb_in_front_of_a_private_instance()
    lb = dataclasses.replace(topology.load_balancers[0], subnet_ids=("subnet-private",))
    assert analyze(dataclasses.replace(topology, load_balancers=(lb,))).findings == ()


def test_peered_vpc_reaches_only_what_rules_allow_from_its_cidr() -> None:
    group = SecurityGroup(
        "sg-web",
        "vpc-1",
        (
            SecurityGroupRule("tcp", 5432, 5432, cidr_ipv4="172.16.0.0/16"),
            SecurityGroupRule("udp", 53, 53, cidr_ipv4="192.168.0.0/16"),
        ),
    )
    private = dataclasses.replace(SERVER, public_ip=None)
    table = dataclasses.replace(
        PUBLIC_ROUTES, routes=(*PUBLIC_ROUTES.routes, Route("172.16.0.0/16", "pcx-1"))
    )
    topology = public_web_server(
        security_groups=(group,),
        network_interfaces=(private,),
        route_tables=(table, PRIVATE_ROUTES),
        vpc_peering_connections=(
            VpcPeeringConnection("pcx-1", "vpc-1", ("10.0.0.0/16",), "vpc-2", ("172.16.0.0/16",)),
        ),
    )
    findings = analyze(topology).findings
    assert open_ports(findings) == {("PEERING", "TCP", 5432, 5432)}
    assert findings[0].steps[0].to_dict() == {
        "componentId": "pcx-1",
        "componentType": "AWS::EC2::VPCPeeringConnection",
    }
    assert findings[0].title == "Port 5432 is reachable from a VPC Peering Connection - TCP"
