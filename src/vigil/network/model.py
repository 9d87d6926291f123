"""The network of an account as the EC2 and ELB APIs describe it (IPv4 only), frozen.

Field names follow the EC2/ELB API members in snake case. Only what reachability needs is kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

RuleAction = Literal["allow", "deny"]
LoadBalancerType = Literal["application", "network", "classic"]
Scheme = Literal["internet-facing", "internal"]


@dataclass(frozen=True, slots=True)
class Vpc:
    vpc_id: str
    cidr_blocks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    cidr_block: str


@dataclass(frozen=True, slots=True)
class Route:
    """`target_id` is the route's GatewayId / NatGatewayId / VpcPeeringConnectionId / ... or "local"."""

    destination_cidr_block: str
    target_id: str
    state: Literal["active", "blackhole"] = "active"


@dataclass(frozen=True, slots=True)
class RouteTable:
    """`main` is the VPC's main table (used by subnets without an explicit association)."""

    route_table_id: str
    vpc_id: str
    routes: tuple[Route, ...]
    main: bool = False
    subnet_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InternetGateway:
    internet_gateway_id: str
    vpc_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NatGateway:
    nat_gateway_id: str
    subnet_id: str


@dataclass(frozen=True, slots=True)
class VpcPeeringConnection:
    """Each side's CIDR blocks are carried here: the peer VPC may be in another account."""

    vpc_peering_connection_id: str
    requester_vpc_id: str
    requester_cidr_blocks: tuple[str, ...]
    accepter_vpc_id: str
    accepter_cidr_blocks: tuple[str, ...]
    status: str = "active"


@dataclass(frozen=True, slots=True)
class VpnGateway:
    vpn_gateway_id: str
    vpc_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NetworkAclEntry:
    """`protocol` as EC2 gives it ("-1", "6", "17", "tcp", ...); `port_range` None means every port."""

    rule_number: int
    protocol: str
    rule_action: RuleAction
    egress: bool
    cidr_block: str
    port_range: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class NetworkAcl:
    """`is_default` is the VPC's default ACL (used by subnets without an explicit association)."""

    network_acl_id: str
    vpc_id: str
    entries: tuple[NetworkAclEntry, ...]
    is_default: bool = False
    subnet_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SecurityGroupRule:
    """One inbound rule with exactly one source: a CIDR, a prefix list or another group."""

    ip_protocol: str
    from_port: int = -1
    to_port: int = -1
    cidr_ipv4: str | None = None
    prefix_list_id: str | None = None
    referenced_group_id: str | None = None


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    group_id: str
    vpc_id: str
    ingress: tuple[SecurityGroupRule, ...] = ()


@dataclass(frozen=True, slots=True)
class ManagedPrefixList:
    prefix_list_id: str
    cidrs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NetworkInterface:
    """`public_ip` is the association's public IPv4 or Elastic IP; `device_index` 0 is the primary."""

    network_interface_id: str
    subnet_id: str
    private_ip_address: str
    groups: tuple[str, ...]
    instance_id: str | None = None
    device_index: int = 0
    public_ip: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """An instance target; `port` None means the target group's port."""

    id: str
    port: int | None = None


@dataclass(frozen=True, slots=True)
class TargetGroup:
    target_group_id: str
    protocol: str
    port: int
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class Listener:
    """For a Classic load balancer, give each listener a target group of its instances and instance port."""

    listener_id: str
    protocol: str
    port: int
    target_group_id: str


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    load_balancer_id: str
    type: LoadBalancerType
    scheme: Scheme
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_groups: tuple[str, ...]
    listeners: tuple[Listener, ...]


@dataclass(frozen=True, slots=True)
class Topology:
    """Everything the analysis reads, for one or more VPCs."""

    vpcs: tuple[Vpc, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    internet_gateways: tuple[InternetGateway, ...] = ()
    nat_gateways: tuple[NatGateway, ...] = ()
    vpc_peering_connections: tuple[VpcPeeringConnection, ...] = ()
    vpn_gateways: tuple[VpnGateway, ...] = ()
    network_acls: tuple[NetworkAcl, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    prefix_lists: tuple[ManagedPrefixList, ...] = ()
    network_interfaces: tuple[NetworkInterface, ...] = ()
    load_balancers: tuple[LoadBalancer, ...] = ()
    target_groups: tuple[TargetGroup, ...] = ()

    def with_security_group(self, group: SecurityGroup) -> Topology:
        """This topology with `group` replacing the group of the same id (or added)."""
        others = tuple(g for g in self.security_groups if g.group_id != group.group_id)
        return dataclasses.replace(self, security_groups=(*others, group))
