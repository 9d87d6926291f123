"""Network descriptions (the EC2 and ELB APIs' shapes) read into topologies: each object's mapping, every
problem named by where it is, and descriptions too large to read."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vigil.network import (
    InternetGateway,
    Listener,
    LoadBalancer,
    ManagedPrefixList,
    NatGateway,
    NetworkAcl,
    NetworkAclEntry,
    NetworkDescriptionError,
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
    description_digest,
    topology_from_description,
)
from vigil.network.ec2 import MAX_OBJECTS, MAX_TEXT

ALLOW_ALL_ENTRIES = [
    {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": False, "CidrBlock": "0.0.0.0/0"},
    {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": False, "CidrBlock": "0.0.0.0/0"},
    {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": True, "CidrBlock": "0.0.0.0/0"},
    {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": True, "CidrBlock": "0.0.0.0/0"},
]
# tests/network/test_documented_cases.py's public web server, as DescribeX answers give it
PUBLIC_WEB_SERVER: dict[str, Any] = {
    "Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "State": "available"}],
    "Subnets": [
        {"SubnetId": "subnet-public", "VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24"},
        {"SubnetId": "subnet-private", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24"},
    ],
    "RouteTables": [
        {
            "RouteTableId": "rtb-public",
            "VpcId": "vpc-1",
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"},
            ],
            "Associations": [{"Main": False, "SubnetId": "subnet-public", "RouteTableId": "rtb-public"}],
        },
        {
            "RouteTableId": "rtb-main",
            "VpcId": "vpc-1",
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"},
            ],
            "Associations": [{"Main": True, "AssociationState": {"State": "associated"}}],
        },
    ],
    "InternetGateways": [
        {"InternetGatewayId": "igw-1", "Attachments": [{"VpcId": "vpc-1", "State": "available"}]}
    ],
    "NatGateways": [{"NatGatewayId": "nat-1", "SubnetId": "subnet-public", "State": "available"}],
    "NetworkAcls": [
        {
            "NetworkAclId": "acl-default",
            "VpcId": "vpc-1",
            "IsDefault": True,
            "Entries": ALLOW_ALL_ENTRIES,
            "Associations": [],
        }
    ],
    "SecurityGroups": [
        {
            "GroupId": "sg-web",
            "VpcId": "vpc-1",
            "GroupName": "web",
            "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
                    "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                },
            ],
            "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        }
    ],
    "NetworkInterfaces": [
        {
            "NetworkInterfaceId": "eni-1",
            "SubnetId": "subnet-public",
            "PrivateIpAddress": "10.0.0.10",
            "Groups": [{"GroupId": "sg-web", "GroupName": "web"}],
            "Attachment": {"InstanceId": "i-1", "DeviceIndex": 0, "Status": "attached"},
            "Association": {"PublicIp": "203.0.113.10", "IpOwnerId": "amazon"},
        }
    ],
}
ALL_ENTRIES = tuple(
    NetworkAclEntry(e["RuleNumber"], e["Protocol"], e["RuleAction"], e["Egress"], e["CidrBlock"])
    for e in ALLOW_ALL_ENTRIES
)


def described(**members: Any) -> dict[str, Any]:
    """The public web server's description with top-level members replaced."""
    return {**copy.deepcopy(PUBLIC_WEB_SERVER), **members}


def error(description: Any) -> str:
    with pytest.raises(NetworkDescriptionError) as raised:
        topology_from_description(description)
    return str(raised.value)


def test_the_public_web_server_reads_as_the_hand_built_topology_and_finds_the_same_ports() -> None:
    topology = topology_from_description(PUBLIC_WEB_SERVER)
    assert topology == Topology(
        vpcs=(Vpc("vpc-1", ("10.0.0.0/16",)),),
        subnets=(
            Subnet("subnet-public", "vpc-1", "10.0.0.0/24"),
            Subnet("subnet-private", "vpc-1", "10.0.1.0/24"),
        ),
        route_tables=(
            RouteTable(
                "rtb-public",
                "vpc-1",
                (Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", "igw-1")),
                subnet_ids=("subnet-public",),
            ),
            RouteTable(
                "rtb-main", "vpc-1", (Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", "nat-1")), main=True
            ),
        ),
        internet_gateways=(InternetGateway("igw-1", ("vpc-1",)),),
        nat_gateways=(NatGateway("nat-1", "subnet-public"),),
        network_acls=(NetworkAcl("acl-default", "vpc-1", ALL_ENTRIES, is_default=True),),
        security_groups=(
            SecurityGroup(
                "sg-web",
                "vpc-1",
                (
                    SecurityGroupRule("tcp", 80, 80, cidr_ipv4="0.0.0.0/0"),
                    SecurityGroupRule("tcp", 443, 443, cidr_ipv4="0.0.0.0/0"),
                ),
            ),
        ),
        network_interfaces=(
            NetworkInterface("eni-1", "subnet-public", "10.0.0.10", ("sg-web",), "i-1", 0, "203.0.113.10"),
        ),
    )
    found = {(f.edge, f.protocol, f.begin, f.end) for f in analyze(topology).findings}
    assert found == {("IGW", "TCP", 80, 80), ("IGW", "TCP", 443, 443)}


def test_an_empty_description_is_an_empty_topology() -> None:
    assert topology_from_description({}) == Topology()
    assert topology_from_description({"Vpcs": [], "SecurityGroups": None}) == Topology()


def test_a_vpc_has_its_primary_and_associated_cidrs_not_disassociated_ones() -> None:
    vpc = {
        "VpcId": "vpc-1",
        "CidrBlock": "10.0.0.0/16",
        "CidrBlockAssociationSet": [
            {"CidrBlock": "10.0.0.0/16", "CidrBlockState": {"State": "associated"}},
            {"CidrBlock": "100.64.0.0/16", "CidrBlockState": {"State": "associated"}},
            {"CidrBlock": "192.168.0.0/24", "CidrBlockState": {"State": "disassociated"}},
        ],
        "Ipv6CidrBlockAssociationSet": [{"Ipv6CidrBlock": "2600:1f18::/56"}],
    }
    (read,) = topology_from_description({"Vpcs": [vpc]}).vpcs
    assert read == Vpc("vpc-1", ("10.0.0.0/16", "100.64.0.0/16"))


def test_an_ipv6_only_subnet_is_left_out_and_a_subnet_without_cidr_is_an_error() -> None:
    subnets = [
        {"SubnetId": "subnet-6", "VpcId": "vpc-1", "Ipv6Native": True, "Ipv6CidrBlockAssociationSet": []},
        {"SubnetId": "subnet-4", "VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24"},
    ]
    assert topology_from_description({"Subnets": subnets}).subnets == (
        Subnet("subnet-4", "vpc-1", "10.0.0.0/24"),
    )
    assert error({"Subnets": [{"SubnetId": "subnet-1", "VpcId": "vpc-1"}]}) == "Subnets[0].CidrBlock: missing"


def test_route_tables_keep_blackholes_expand_prefix_lists_and_skip_ipv6_and_disassociated_subnets() -> None:
    description = {
        "ManagedPrefixLists": [
            {
                "PrefixListId": "pl-ops",
                "Entries": [{"Cidr": "198.51.100.0/24"}, {"Cidr": "192.0.2.0/25"}, {"Cidr": "2001:db8::/32"}],
            }
        ],
        "RouteTables": [
            {
                "RouteTableId": "rtb-1",
                "VpcId": "vpc-1",
                "Routes": [
                    {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                    {
                        "DestinationCidrBlock": "10.1.0.0/16",
                        "VpcPeeringConnectionId": "pcx-1",
                        "State": "blackhole",
                    },
                    {"DestinationPrefixListId": "pl-ops", "GatewayId": "vgw-1", "State": "active"},
                    {"DestinationPrefixListId": "pl-unknown", "GatewayId": "vgw-1", "State": "active"},
                    {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1"},
                    {
                        "DestinationCidrBlock": "0.0.0.0/0",
                        "InstanceId": "i-nat",
                        "NetworkInterfaceId": "eni-nat",
                    },
                    {"DestinationCidrBlock": "172.16.0.0/12", "TransitGatewayId": "tgw-1"},
                    {"DestinationCidrBlock": "172.31.0.0/16", "SomeFutureTargetId": "x-1"},
                ],
                "Associations": [
                    {"Main": True, "AssociationState": {"State": "associated"}},
                    {"SubnetId": "subnet-a", "AssociationState": {"State": "associated"}},
                    {"SubnetId": "subnet-b", "AssociationState": {"State": "disassociated"}},
                    {"GatewayId": "igw-1", "AssociationState": {"State": "associated"}},
                ],
            }
        ],
    }
    (table,) = topology_from_description(description).route_tables
    assert table == RouteTable(
        "rtb-1",
        "vpc-1",
        (
            Route("10.0.0.0/16", "local"),
            Route("10.1.0.0/16", "pcx-1", "blackhole"),
            Route("198.51.100.0/24", "vgw-1"),
            Route("192.0.2.0/25", "vgw-1"),
            Route("0.0.0.0/0", "i-nat"),
            Route("172.16.0.0/12", "tgw-1"),
            Route("172.31.0.0/16", ""),
        ),
        main=True,
        subnet_ids=("subnet-a",),
    )


def test_gateways_keep_only_attached_vpcs_and_deleted_ones_are_left_out() -> None:
    description = {
        "InternetGateways": [
            {
                "InternetGatewayId": "igw-1",
                "Attachments": [
                    {"VpcId": "vpc-1", "State": "available"},
                    {"VpcId": "vpc-2", "State": "detaching"},
                ],
            },
            {"InternetGatewayId": "igw-2", "Attachments": []},
        ],
        "VpnGateways": [
            {
                "VpnGatewayId": "vgw-1",
                "State": "available",
                "VpcAttachments": [{"VpcId": "vpc-1", "State": "attached"}],
            },
            {
                "VpnGatewayId": "vgw-2",
                "State": "deleted",
                "VpcAttachments": [{"VpcId": "vpc-1", "State": "detached"}],
            },
        ],
        "NatGateways": [
            {"NatGatewayId": "nat-1", "SubnetId": "subnet-a", "State": "available"},
            {"NatGatewayId": "nat-2", "SubnetId": "subnet-a", "State": "deleted"},
        ],
    }
    topology = topology_from_description(description)
    assert topology.internet_gateways == (InternetGateway("igw-1", ("vpc-1",)), InternetGateway("igw-2", ()))
    assert topology.vpn_gateways == (VpnGateway("vgw-1", ("vpc-1",)),)
    assert topology.nat_gateways == (NatGateway("nat-1", "subnet-a"),)


def test_peering_connections_keep_both_sides_cidrs_and_their_status() -> None:
    pending = {
        "VpcPeeringConnectionId": "pcx-1",
        "Status": {"Code": "pending-acceptance", "Message": "Pending Acceptance by 111122223333"},
        "RequesterVpcInfo": {
            "VpcId": "vpc-1",
            "CidrBlock": "10.0.0.0/16",
            "CidrBlockSet": [{"CidrBlock": "10.0.0.0/16"}, {"CidrBlock": "100.64.0.0/16"}],
            "Ipv6CidrBlockSet": [{"Ipv6CidrBlock": "2600:1f18::/56"}],
        },
        "AccepterVpcInfo": {"VpcId": "vpc-9", "OwnerId": "111122223333", "CidrBlock": "10.9.0.0/16"},
    }
    (read,) = topology_from_description({"VpcPeeringConnections": [pending]}).vpc_peering_connections
    assert read == VpcPeeringConnection(
        "pcx-1", "vpc-1", ("10.0.0.0/16", "100.64.0.0/16"), "vpc-9", ("10.9.0.0/16",), "pending-acceptance"
    )


def test_network_acls_keep_their_entries_default_and_associations() -> None:
    acl = {
        "NetworkAclId": "acl-1",
        "VpcId": "vpc-1",
        "IsDefault": False,
        "Associations": [{"NetworkAclAssociationId": "aclassoc-1", "SubnetId": "subnet-a"}],
        "Entries": [
            {
                "RuleNumber": 90,
                "Protocol": "6",
                "RuleAction": "deny",
                "Egress": False,
                "CidrBlock": "0.0.0.0/0",
                "PortRange": {"From": 22, "To": 22},
            },
            {
                "RuleNumber": 100,
                "Protocol": "-1",
                "RuleAction": "allow",
                "Egress": False,
                "CidrBlock": "0.0.0.0/0",
                "PortRange": {"From": 0, "To": 0},  # ignored for all protocols, as EC2 ignores it
            },
            {
                "RuleNumber": 101,
                "Protocol": "-1",
                "RuleAction": "allow",
                "Egress": False,
                "Ipv6CidrBlock": "::/0",
            },
            {
                "RuleNumber": 100,
                "Protocol": 17,
                "RuleAction": "allow",
                "Egress": True,
                "CidrBlock": "10.0.0.0/8",
            },
        ],
    }
    (read,) = topology_from_description({"NetworkAcls": [acl]}).network_acls
    assert read == NetworkAcl(
        "acl-1",
        "vpc-1",
        (
            NetworkAclEntry(90, "6", "deny", False, "0.0.0.0/0", (22, 22)),
            NetworkAclEntry(100, "-1", "allow", False, "0.0.0.0/0"),
            NetworkAclEntry(100, "17", "allow", True, "10.0.0.0/8"),
        ),
        subnet_ids=("subnet-a",),
    )


def test_a_security_group_permission_becomes_one_rule_per_ipv4_range_prefix_list_and_group() -> None:
    group = {
        "GroupId": "sg-1",
        "VpcId": "vpc-1",
        "IpPermissions": [
            {
                "IpProtocol": "tcp",
                "FromPort": 8000,
                "ToPort": 8100,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.0.2.7/32"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                "PrefixListIds": [{"PrefixListId": "pl-1"}],
                "UserIdGroupPairs": [{"GroupId": "sg-2", "UserId": "111122223333"}],
            },
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "172.16.0.0/12"}]},
            {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ],
    }
    (read,) = topology_from_description({"SecurityGroups": [group]}).security_groups
    assert read == SecurityGroup(
        "sg-1",
        "vpc-1",
        (
            SecurityGroupRule("tcp", 8000, 8100, cidr_ipv4="10.0.0.0/8"),
            SecurityGroupRule("tcp", 8000, 8100, cidr_ipv4="192.0.2.7/32"),
            SecurityGroupRule("tcp", 8000, 8100, prefix_list_id="pl-1"),
            SecurityGroupRule("tcp", 8000, 8100, referenced_group_id="sg-2"),
            SecurityGroupRule("-1", -1, -1, cidr_ipv4="172.16.0.0/12"),
            SecurityGroupRule("icmp", 8, -1, cidr_ipv4="0.0.0.0/0"),
        ),
    )


def test_prefix_lists_keep_their_ipv4_entries() -> None:
    lists = [
        {"PrefixListId": "pl-4", "AddressFamily": "IPv4", "Entries": [{"Cidr": "198.51.100.0/24"}]},
        {"PrefixListId": "pl-6", "AddressFamily": "IPv6", "Entries": [{"Cidr": "2001:db8::/32"}]},
        {"PrefixListId": "pl-0", "Entries": []},
    ]
    assert topology_from_description({"ManagedPrefixLists": lists}).prefix_lists == (
        ManagedPrefixList("pl-4", ("198.51.100.0/24",)),
        ManagedPrefixList("pl-6", ()),
        ManagedPrefixList("pl-0", ()),
    )


def test_network_interfaces_take_attachment_groups_and_a_public_ip_of_any_address() -> None:
    interfaces = [
        {
            "NetworkInterfaceId": "eni-2",
            "SubnetId": "subnet-a",
            "PrivateIpAddress": "10.0.0.11",
            "Groups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}],
            "Attachment": {"InstanceId": "i-1", "DeviceIndex": 1},
            "PrivateIpAddresses": [
                {"PrivateIpAddress": "10.0.0.11", "Primary": True},
                {"PrivateIpAddress": "10.0.0.12", "Association": {"PublicIp": "198.51.100.12"}},
            ],
        },
        {
            "NetworkInterfaceId": "eni-lb",
            "InterfaceType": "network_load_balancer",
            "SubnetId": "subnet-a",
            "PrivateIpAddress": "10.0.0.20",
            "Groups": [],
        },
    ]
    assert topology_from_description({"NetworkInterfaces": interfaces}).network_interfaces == (
        NetworkInterface("eni-2", "subnet-a", "10.0.0.11", ("sg-1", "sg-2"), "i-1", 1, "198.51.100.12"),
        NetworkInterface("eni-lb", "subnet-a", "10.0.0.20", ()),
    )


ALB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"


def test_an_alb_listener_forwards_to_each_target_group_of_its_actions_and_rules() -> None:
    balancers = [
        {
            "LoadBalancerArn": ALB,
            "Type": "application",
            "Scheme": "internet-facing",
            "VpcId": "vpc-1",
            "AvailabilityZones": [
                {"ZoneName": "us-east-1a", "SubnetId": "subnet-a"},
                {"SubnetId": "subnet-b"},
            ],
            "SecurityGroups": ["sg-alb"],
            "Listeners": [
                {
                    "ListenerArn": LISTENER,
                    "Protocol": "HTTPS",
                    "Port": 443,
                    "DefaultActions": [
                        {"Type": "authenticate-oidc", "Order": 1},
                        {
                            "Type": "forward",
                            "TargetGroupArn": TG + "a",
                            "ForwardConfig": {
                                "TargetGroups": [{"TargetGroupArn": TG + "a"}, {"TargetGroupArn": TG + "b"}]
                            },
                        },
                    ],
                    "Rules": [
                        {"RuleArn": "r-1", "Actions": [{"Type": "forward", "TargetGroupArn": TG + "c"}]},
                        {
                            "RuleArn": "r-2",
                            "Actions": [{"Type": "redirect", "RedirectConfig": {"Port": "443"}}],
                        },
                    ],
                }
            ],
        },
        {"LoadBalancerArn": "gwlb", "Type": "gateway", "VpcId": "vpc-1", "Listeners": [{"ListenerArn": "x"}]},
    ]
    (read,) = topology_from_description({"LoadBalancers": balancers}).load_balancers
    assert read == LoadBalancer(
        ALB,
        "application",
        "internet-facing",
        "vpc-1",
        ("subnet-a", "subnet-b"),
        ("sg-alb",),
        (
            Listener(LISTENER, "HTTPS", 443, TG + "a"),
            Listener(LISTENER, "HTTPS", 443, TG + "b"),
            Listener(LISTENER, "HTTPS", 443, TG + "c"),
        ),
    )


def test_target_groups_of_instances_keep_their_targets_others_are_left_out() -> None:
    groups = [
        {
            "TargetGroupArn": TG + "a",
            "TargetType": "instance",
            "Protocol": "HTTP",
            "Port": 8080,
            "Targets": [{"Id": "i-1"}, {"Id": "i-2", "Port": 9090}],
        },
        {
            "TargetGroupArn": TG + "ip",
            "TargetType": "ip",
            "Protocol": "TCP",
            "Port": 80,
            "Targets": [{"Id": "10.0.0.9"}],
        },
        {"TargetGroupArn": TG + "fn", "TargetType": "lambda", "Targets": [{"Id": "arn:aws:lambda:x"}]},
    ]
    assert topology_from_description({"TargetGroups": groups}).target_groups == (
        TargetGroup(TG + "a", "HTTP", 8080, (Target("i-1"), Target("i-2", 9090))),
    )


def test_a_classic_load_balancer_gives_each_listener_a_target_group_of_its_instances() -> None:
    classic = {
        "LoadBalancerName": "web",
        "Scheme": "internet-facing",
        "VPCId": "vpc-1",
        "Subnets": ["subnet-a"],
        "SecurityGroups": ["sg-elb"],
        "Instances": [{"InstanceId": "i-1"}, {"InstanceId": "i-2"}],
        "ListenerDescriptions": [
            {
                "Listener": {
                    "Protocol": "HTTPS",
                    "LoadBalancerPort": 443,
                    "InstanceProtocol": "HTTP",
                    "InstancePort": 80,
                },
                "PolicyNames": [],
            },
            {"Listener": {"Protocol": "TCP", "LoadBalancerPort": 25, "InstancePort": 2525}},
        ],
    }
    ec2_classic = {"LoadBalancerName": "old", "Scheme": "internet-facing", "ListenerDescriptions": []}
    topology = topology_from_description({"LoadBalancerDescriptions": [classic, ec2_classic]})
    instances = (Target("i-1"), Target("i-2"))
    assert topology.target_groups == (
        TargetGroup("classic/vpc-1/web/443", "HTTP", 80, instances),
        TargetGroup("classic/vpc-1/web/25", "TCP", 2525, instances),
    )
    assert topology.load_balancers == (
        LoadBalancer(
            "web",
            "classic",
            "internet-facing",
            "vpc-1",
            ("subnet-a",),
            ("sg-elb",),
            (
                Listener("classic/vpc-1/web/443", "HTTPS", 443, "classic/vpc-1/web/443"),
                Listener("classic/vpc-1/web/25", "TCP", 25, "classic/vpc-1/web/25"),
            ),
        ),
    )


def test_two_classic_load_balancers_of_one_name_in_two_vpcs_are_both_read() -> None:
    def classic(vpc: str) -> dict[str, Any]:
        return {"LoadBalancerName": "web", "Scheme": "internal", "VPCId": vpc, "ListenerDescriptions": []}

    topology = topology_from_description({"LoadBalancerDescriptions": [classic("vpc-1"), classic("vpc-2")]})
    assert [lb.vpc_id for lb in topology.load_balancers] == ["vpc-1", "vpc-2"]
    assert error({"LoadBalancerDescriptions": [classic("vpc-1"), classic("vpc-1")]}) == (
        "LoadBalancerDescriptions[1].LoadBalancerName: web in vpc-1 appears more than once"
    )


def _group(**permission: Any) -> dict[str, Any]:
    return {"SecurityGroups": [{"GroupId": "sg-1", "VpcId": "vpc-1", "IpPermissions": [permission]}]}


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ([], "the description: not a mapping"),
        ({"SecurityGroup": []}, "SecurityGroup: not a member of a network description"),
        ({"Vpcs": {"VpcId": "vpc-1"}}, "Vpcs: not a list"),
        ({"Vpcs": ["vpc-1"]}, "Vpcs[0]: not a mapping"),
        ({"Vpcs": [{"CidrBlock": "10.0.0.0/16"}]}, "Vpcs[0].VpcId: missing"),
        ({"Vpcs": [{"VpcId": 7, "CidrBlock": "10.0.0.0/16"}]}, "Vpcs[0].VpcId: not a string"),
        (
            {"Vpcs": [{"VpcId": "", "CidrBlock": "10.0.0.0/16"}]},
            f"Vpcs[0].VpcId: not 1 to {MAX_TEXT} characters",
        ),
        ({"Vpcs": [{"VpcId": "vpc-1"}]}, "Vpcs[0].CidrBlock: missing"),
        (
            {"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/33"}]},
            "Vpcs[0].CidrBlock: '10.0.0.0/33' is not an IPv4 CIDR",
        ),
        (
            {
                "Vpcs": [
                    {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"},
                    {"VpcId": "vpc-1", "CidrBlock": "10.1.0.0/16"},
                ]
            },
            "Vpcs[1].VpcId: vpc-1 appears more than once",
        ),
        (
            _group(IpProtocol="tcp", FromPort="22", ToPort=22),
            "SecurityGroups[0].IpPermissions[0].FromPort: not an integer",
        ),
        (
            _group(IpProtocol="tcp", FromPort=True, ToPort=22),
            "SecurityGroups[0].IpPermissions[0].FromPort: not an integer",
        ),
        (
            _group(IpProtocol="tcp", FromPort=22.0, ToPort=22),
            "SecurityGroups[0].IpPermissions[0].FromPort: not an integer",
        ),
        (
            _group(IpProtocol="tcp", FromPort=22, ToPort=70000),
            "SecurityGroups[0].IpPermissions[0].ToPort: 70000 is not in -1..65535",
        ),
        (_group(FromPort=22, ToPort=22), "SecurityGroups[0].IpPermissions[0].IpProtocol: missing"),
        (_group(IpProtocol=["tcp"]), "SecurityGroups[0].IpPermissions[0].IpProtocol: not a protocol"),
        (
            _group(IpProtocol="tcp", IpRanges=[{"CidrIpv6": "::/0"}]),
            "SecurityGroups[0].IpPermissions[0].IpRanges[0].CidrIp: missing",
        ),
        (
            _group(IpProtocol="tcp", IpRanges=[{"CidrIp": "::/0"}]),
            "SecurityGroups[0].IpPermissions[0].IpRanges[0].CidrIp: '::/0' is not an IPv4 CIDR",
        ),
        (
            _group(IpProtocol="tcp", UserIdGroupPairs=[{"UserId": "1"}]),
            "SecurityGroups[0].IpPermissions[0].UserIdGroupPairs[0].GroupId: missing",
        ),
        (
            _group(IpProtocol="tcp", PrefixListIds="pl-1"),
            "SecurityGroups[0].IpPermissions[0].PrefixListIds: not a list",
        ),
        (
            {
                "NetworkAcls": [
                    {
                        "NetworkAclId": "acl-1",
                        "VpcId": "vpc-1",
                        "Entries": [{**ALLOW_ALL_ENTRIES[0], "RuleAction": "permit"}],
                    }
                ]
            },
            "NetworkAcls[0].Entries[0].RuleAction: 'permit' is not one of allow, deny",
        ),
        (
            {
                "NetworkAcls": [
                    {
                        "NetworkAclId": "acl-1",
                        "VpcId": "vpc-1",
                        "Entries": [{**ALLOW_ALL_ENTRIES[0], "Egress": "no"}],
                    }
                ]
            },
            "NetworkAcls[0].Entries[0].Egress: not true or false",
        ),
        (
            {
                "NetworkAcls": [
                    {
                        "NetworkAclId": "acl-1",
                        "VpcId": "vpc-1",
                        "Entries": [{**ALLOW_ALL_ENTRIES[0], "RuleNumber": 0}],
                    }
                ]
            },
            "NetworkAcls[0].Entries[0].RuleNumber: 0 is not in 1..32767",
        ),
        (
            {
                "NetworkAcls": [
                    {
                        "NetworkAclId": "acl-1",
                        "VpcId": "vpc-1",
                        "Entries": [{**ALLOW_ALL_ENTRIES[0], "Protocol": "6", "PortRange": {"From": 22}}],
                    }
                ]
            },
            "NetworkAcls[0].Entries[0].PortRange.To: missing",
        ),
        (
            {
                "RouteTables": [
                    {"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Routes": [{"GatewayId": "igw-1"}]}
                ]
            },
            "RouteTables[0].Routes[0].DestinationCidrBlock: missing",
        ),
        (
            {
                "RouteTables": [
                    {
                        "RouteTableId": "rtb-1",
                        "VpcId": "vpc-1",
                        "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "State": "on"}],
                    }
                ]
            },
            "RouteTables[0].Routes[0].State: 'on' is not one of active, blackhole",
        ),
        (
            {"RouteTables": [{"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Associations": [{"Main": "yes"}]}]},
            "RouteTables[0].Associations[0].Main: not true or false",
        ),
        (
            {
                "VpcPeeringConnections": [
                    {"VpcPeeringConnectionId": "pcx-1", "RequesterVpcInfo": {"VpcId": "vpc-1"}}
                ]
            },
            "VpcPeeringConnections[0].Status.Code: missing",
        ),
        (
            {
                "VpcPeeringConnections": [
                    {
                        "VpcPeeringConnectionId": "pcx-1",
                        "Status": {"Code": "active"},
                        "RequesterVpcInfo": {"VpcId": "vpc-1"},
                    }
                ]
            },
            "VpcPeeringConnections[0].AccepterVpcInfo.VpcId: missing",
        ),
        (
            {
                "NetworkInterfaces": [
                    {"NetworkInterfaceId": "eni-1", "SubnetId": "subnet-a", "PrivateIpAddress": "10.0.0.300"}
                ]
            },
            "NetworkInterfaces[0].PrivateIpAddress: '10.0.0.300' is not an IPv4 address",
        ),
        (
            {
                "NetworkInterfaces": [
                    {
                        "NetworkInterfaceId": "eni-1",
                        "SubnetId": "subnet-a",
                        "PrivateIpAddress": "10.0.0.3",
                        "Attachment": "i-1",
                    }
                ]
            },
            "NetworkInterfaces[0].Attachment: not a mapping",
        ),
        (
            {
                "NetworkInterfaces": [
                    {
                        "NetworkInterfaceId": "eni-1",
                        "SubnetId": "subnet-a",
                        "PrivateIpAddress": "10.0.0.3",
                        "Attachment": {"DeviceIndex": -1},
                    }
                ]
            },
            "NetworkInterfaces[0].Attachment.DeviceIndex: -1 is not in 0..1024",
        ),
        (
            {"LoadBalancers": [{"LoadBalancerArn": ALB, "Type": "classic"}]},
            "LoadBalancers[0].Type: 'classic' is not one of application, network, gateway",
        ),
        (
            {
                "LoadBalancers": [
                    {"LoadBalancerArn": ALB, "Type": "network", "Scheme": "public", "VpcId": "vpc-1"}
                ]
            },
            "LoadBalancers[0].Scheme: 'public' is not one of internet-facing, internal",
        ),
        (
            {
                "LoadBalancers": [
                    {
                        "LoadBalancerArn": ALB,
                        "Type": "network",
                        "Listeners": [{"ListenerArn": LISTENER, "Protocol": "TCP", "Port": 0}],
                    }
                ]
            },
            "LoadBalancers[0].Listeners[0].Port: 0 is not in 1..65535",
        ),
        (
            {
                "TargetGroups": [
                    {
                        "TargetGroupArn": TG,
                        "Protocol": "HTTP",
                        "Port": 80,
                        "Targets": [{"Id": "i-1", "Port": "80"}],
                    }
                ]
            },
            "TargetGroups[0].Targets[0].Port: not an integer",
        ),
        (
            {
                "LoadBalancerDescriptions": [
                    {
                        "LoadBalancerName": "web",
                        "VPCId": "vpc-1",
                        "Scheme": "internal",
                        "ListenerDescriptions": [{"Listener": {"Protocol": "TCP", "LoadBalancerPort": 80}}],
                    }
                ]
            },
            "LoadBalancerDescriptions[0].ListenerDescriptions[0].Listener.InstancePort: missing",
        ),
        (
            {"ManagedPrefixLists": [{"PrefixListId": "pl-1", "Entries": [{"Cidr": "nowhere"}]}]},
            "ManagedPrefixLists[0].Entries[0].Cidr: 'nowhere' is not a CIDR",
        ),
    ],
)
def test_a_bad_description_names_where_it_is_wrong(description: Any, message: str) -> None:
    assert error(description) == message or error(description).startswith(message + " (")


BOUND = 100_000  # a smaller bound than MAX_OBJECTS, the same counting: the suite stays fast


def test_more_objects_than_the_bound_are_refused_before_they_are_read() -> None:
    half = BOUND // 2
    subnets = [{"SubnetId": f"subnet-{i}", "VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24"} for i in range(half)]
    acl = {"NetworkAclId": "acl-1", "VpcId": "vpc-1", "Entries": [ALLOW_ALL_ENTRIES[0]] * (half + 1)}
    with pytest.raises(NetworkDescriptionError) as raised:
        topology_from_description({"Subnets": subnets, "NetworkAcls": [acl]}, max_objects=BOUND)
    assert str(raised.value) == f"NetworkAcls[0].Entries: the description holds more than {BOUND} objects"
    ten_million = [None] * 10_000_000
    assert error({"Vpcs": ten_million}) == f"Vpcs: the description holds more than {MAX_OBJECTS} objects"


def test_just_under_the_bound_is_read() -> None:
    entries = [ALLOW_ALL_ENTRIES[0]] * (BOUND - 1)
    (acl,) = topology_from_description(
        {"NetworkAcls": [{"NetworkAclId": "acl-1", "VpcId": "vpc-1", "Entries": entries}]}, max_objects=BOUND
    ).network_acls
    assert len(acl.entries) == BOUND - 1


def test_a_huge_string_is_refused() -> None:
    assert error({"Vpcs": [{"VpcId": "v" * (MAX_TEXT + 1), "CidrBlock": "10.0.0.0/16"}]}) == (
        f"Vpcs[0].VpcId: not 1 to {MAX_TEXT} characters"
    )


def test_the_digest_is_of_the_canonical_json() -> None:
    reordered = dict(reversed(list(PUBLIC_WEB_SERVER.items())))
    assert description_digest(reordered) == description_digest(PUBLIC_WEB_SERVER)
    assert len(description_digest(PUBLIC_WEB_SERVER)) == 64
    changed = described(Vpcs=[{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/17"}])
    assert description_digest(changed) != description_digest(PUBLIC_WEB_SERVER)
    assert description_digest({}) == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def test_the_digest_of_what_is_not_json_is_an_error() -> None:
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    for bad in ({"Vpcs": [{"x": float("nan")}]}, {"Vpcs": [{"x": object()}]}, {"Vpcs": nested}):
        with pytest.raises(NetworkDescriptionError, match=r"^the description: not JSON"):
            description_digest(bad)


def test_members_not_read_may_hold_anything() -> None:
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    vpc = {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "Tags": nested, "Extra": object()}
    assert topology_from_description({"Vpcs": [vpc]}).vpcs == (Vpc("vpc-1", ("10.0.0.0/16",)),)
