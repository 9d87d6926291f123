"""A `Topology` written as the network description `vigil.network.ec2` reads: the EC2 and ELB APIs'
Describe* shapes, PascalCase as boto3 returns them, that `topology_from_description` reads back to the same
topology (up to the order the reader gives some tuples, below).

What the shapes say differently from the model:

* A security group's rules are grouped into `IpPermissions` by (protocol, from port, to port), as EC2 groups
  them; the reader gives each permission's IPv4 ranges, then its prefix lists, then its groups, so a group's
  `ingress` reads back in another order (the same rules, the same number of times).
* An application or network load balancer's `Listener`s that share a `listener_id` are one ELBv2 listener
  forwarding to each of their target groups (a weighted `ForwardConfig` when there are several); they read
  back together, in the order each listener id first appears.
* A Classic load balancer (`type="classic"`) is written in `LoadBalancerDescriptions`, from which the reader
  makes one listener and one target group per listener: their id is `classic/<VPC id>/<name>/<port>`, the
  target group has the listener's instance protocol and port and every instance of the load balancer as a
  target on that port. So a Classic load balancer can be written only in that form: each listener's
  `listener_id` and `target_group_id` are that id, its target group is in `target_groups`, and all its
  target groups have the same targets, none with a port of its own. Those target groups are not written in
  `TargetGroups` (the reader makes them); they read back after the ELBv2 ones, as Classic load balancers
  read back after the ELBv2 ones.

What the shapes cannot say raises `UndescribableTopologyError`: a Classic load balancer not in that form, a
listener, target group or target port outside 1..65535, listeners of one id with different protocols or
ports, or twice the same target group, a security-group rule without exactly one source, a VPC without a
CIDR block, a CIDR block twice in one VPC or one side of a peering connection (the reader keeps one), a
port range on an ACL entry for every protocol (EC2 ignores it), and two objects of one kind with the same id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from vigil.network.model import (
    InternetGateway,
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
    TargetGroup,
    Topology,
    Vpc,
    VpcPeeringConnection,
    VpnGateway,
)

# a route target's member, by the prefix of its id (EC2's own prefixes); any other target is a `GatewayId`,
# the member the reader looks at first ("local" is one too)
_ROUTE_TARGET_MEMBERS = (
    ("nat-", "NatGatewayId"),
    ("pcx-", "VpcPeeringConnectionId"),
    ("tgw-", "TransitGatewayId"),
    ("i-", "InstanceId"),
    ("eni-", "NetworkInterfaceId"),
    ("eigw-", "EgressOnlyInternetGatewayId"),
    ("cagw-", "CarrierGatewayId"),
    ("lgw-", "LocalGatewayId"),
    ("arn:", "CoreNetworkArn"),
)
_ALL_PROTOCOLS = ("-1", "all")  # an ACL entry's port range means nothing for these

T = TypeVar("T")


class UndescribableTopologyError(ValueError):
    """The topology holds something the EC2 and ELB shapes cannot say (so it would not read back)."""


def description_from_topology(topology: Topology) -> dict[str, Any]:
    """The network description of `topology` (every key of a description, each a list, maybe empty)."""
    vpc_of_subnet = {s.subnet_id: s.vpc_id for s in topology.subnets}
    target_groups = {tg.target_group_id: tg for tg in topology.target_groups}
    classic = [lb for lb in topology.load_balancers if lb.type == "classic"]
    written_by_classic: set[str] = set()
    classic_descriptions = []
    for lb in classic:
        written, made = _classic_load_balancer(lb, target_groups)
        classic_descriptions.append(written)
        written_by_classic.update(made)
    _unique("LoadBalancerDescriptions", [f"{lb.load_balancer_id} in {lb.vpc_id}" for lb in classic])
    elbv2 = [lb for lb in topology.load_balancers if lb.type != "classic"]
    vpc_of_target_group = {
        listener.target_group_id: lb.vpc_id for lb in elbv2 for listener in lb.listeners
    }  # an ELBv2 target group is in its load balancers' VPC (the model does not keep it)
    elbv2_groups = [tg for tg in topology.target_groups if tg.target_group_id not in written_by_classic]
    return {
        "Vpcs": _each("Vpcs", topology.vpcs, lambda v: v.vpc_id, _vpc),
        "Subnets": _each("Subnets", topology.subnets, lambda s: s.subnet_id, _subnet),
        "RouteTables": _each("RouteTables", topology.route_tables, lambda t: t.route_table_id, _route_table),
        "InternetGateways": _each(
            "InternetGateways", topology.internet_gateways, lambda g: g.internet_gateway_id, _internet_gateway
        ),
        "NatGateways": _each(
            "NatGateways",
            topology.nat_gateways,
            lambda g: g.nat_gateway_id,
            lambda g: _nat_gateway(g, vpc_of_subnet.get(g.subnet_id)),
        ),
        "VpcPeeringConnections": _each(
            "VpcPeeringConnections",
            topology.vpc_peering_connections,
            lambda p: p.vpc_peering_connection_id,
            _peering,
        ),
        "VpnGateways": _each("VpnGateways", topology.vpn_gateways, lambda g: g.vpn_gateway_id, _vpn_gateway),
        "NetworkAcls": _each("NetworkAcls", topology.network_acls, lambda a: a.network_acl_id, _network_acl),
        "SecurityGroups": _each(
            "SecurityGroups", topology.security_groups, lambda g: g.group_id, _security_group
        ),
        "ManagedPrefixLists": _each(
            "ManagedPrefixLists", topology.prefix_lists, lambda p: p.prefix_list_id, _prefix_list
        ),
        "NetworkInterfaces": _each(
            "NetworkInterfaces",
            topology.network_interfaces,
            lambda i: i.network_interface_id,
            lambda i: _network_interface(i, vpc_of_subnet.get(i.subnet_id)),
        ),
        "LoadBalancers": _each("LoadBalancers", elbv2, lambda lb: lb.load_balancer_id, _load_balancer),
        "TargetGroups": _each(
            "TargetGroups",
            elbv2_groups,
            lambda tg: tg.target_group_id,
            lambda tg: _target_group(tg, vpc_of_target_group.get(tg.target_group_id)),
        ),
        "LoadBalancerDescriptions": classic_descriptions,
    }


def _each(
    key: str, objects: Sequence[T], identity: Callable[[T], str], write: Callable[[T], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each object written, in order, after checking that no two have the same id."""
    _unique(key, [identity(o) for o in objects])
    return [write(o) for o in objects]


def _unique(key: str, ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for identifier in ids:
        if identifier in seen:
            raise UndescribableTopologyError(f"{key}: {identifier} appears more than once")
        seen.add(identifier)


def _distinct(where: str, cidrs: Sequence[str]) -> None:
    if len(set(cidrs)) != len(cidrs):
        raise UndescribableTopologyError(f"{where}: a CIDR block appears twice (the description keeps one)")


def _port(where: str, port: int) -> int:
    if not 1 <= port <= 65535:
        raise UndescribableTopologyError(f"{where}: port {port} is not in 1..65535")
    return port


def _vpc(vpc: Vpc) -> dict[str, Any]:
    """The primary block, and every block in `CidrBlockAssociationSet` (EC2 lists the primary there too)."""
    if not vpc.cidr_blocks:
        raise UndescribableTopologyError(f"VPC {vpc.vpc_id}: no CIDR block")
    _distinct(f"VPC {vpc.vpc_id}", vpc.cidr_blocks)
    return {
        "VpcId": vpc.vpc_id,
        "CidrBlock": vpc.cidr_blocks[0],
        "CidrBlockAssociationSet": [
            {"CidrBlock": cidr, "CidrBlockState": {"State": "associated"}} for cidr in vpc.cidr_blocks
        ],
        "State": "available",
    }


def _subnet(subnet: Subnet) -> dict[str, Any]:
    return {"SubnetId": subnet.subnet_id, "VpcId": subnet.vpc_id, "CidrBlock": subnet.cidr_block}


def _route(route: Route) -> dict[str, Any]:
    written: dict[str, Any] = {"DestinationCidrBlock": route.destination_cidr_block}
    if route.target_id:  # "" is a target the model does not know: no member names it
        member = next((m for p, m in _ROUTE_TARGET_MEMBERS if route.target_id.startswith(p)), "GatewayId")
        written[member] = route.target_id
    written["Origin"] = "CreateRouteTable" if route.target_id == "local" else "CreateRoute"
    written["State"] = route.state
    return written


def _route_table(table: RouteTable) -> dict[str, Any]:
    """The main association (no subnet) when the table is its VPC's main one, then one per subnet."""
    associated = {"State": "associated"}
    associations: list[dict[str, Any]] = []
    if table.main:
        associations.append(
            {"Main": True, "RouteTableId": table.route_table_id, "AssociationState": associated}
        )
    associations += [
        {"Main": False, "RouteTableId": table.route_table_id, "SubnetId": s, "AssociationState": associated}
        for s in table.subnet_ids
    ]
    return {
        "RouteTableId": table.route_table_id,
        "VpcId": table.vpc_id,
        "Associations": associations,
        "Routes": [_route(r) for r in table.routes],
    }


def _internet_gateway(gateway: InternetGateway) -> dict[str, Any]:
    return {
        "InternetGatewayId": gateway.internet_gateway_id,
        "Attachments": [{"VpcId": v, "State": "available"} for v in gateway.vpc_ids],
    }


def _nat_gateway(gateway: NatGateway, vpc_id: str | None) -> dict[str, Any]:
    written = {"NatGatewayId": gateway.nat_gateway_id, "SubnetId": gateway.subnet_id, "State": "available"}
    if vpc_id is not None:
        written["VpcId"] = vpc_id
    return written


def _peering_side(where: str, vpc_id: str, cidrs: Sequence[str]) -> dict[str, Any]:
    _distinct(where, cidrs)
    side: dict[str, Any] = {"VpcId": vpc_id}
    if cidrs:
        side["CidrBlock"] = cidrs[0]
        side["CidrBlockSet"] = [{"CidrBlock": c} for c in cidrs]
    return side


def _peering(peering: VpcPeeringConnection) -> dict[str, Any]:
    at = f"peering connection {peering.vpc_peering_connection_id}"
    return {
        "VpcPeeringConnectionId": peering.vpc_peering_connection_id,
        "Status": {"Code": peering.status},
        "RequesterVpcInfo": _peering_side(
            f"{at}, requester", peering.requester_vpc_id, peering.requester_cidr_blocks
        ),
        "AccepterVpcInfo": _peering_side(
            f"{at}, accepter", peering.accepter_vpc_id, peering.accepter_cidr_blocks
        ),
    }


def _vpn_gateway(gateway: VpnGateway) -> dict[str, Any]:
    return {
        "VpnGatewayId": gateway.vpn_gateway_id,
        "State": "available",
        "Type": "ipsec.1",
        "VpcAttachments": [{"VpcId": v, "State": "attached"} for v in gateway.vpc_ids],
    }


def _acl_entry(acl_id: str, entry: NetworkAclEntry) -> dict[str, Any]:
    written: dict[str, Any] = {
        "RuleNumber": entry.rule_number,
        "Protocol": entry.protocol,
        "RuleAction": entry.rule_action,
        "Egress": entry.egress,
        "CidrBlock": entry.cidr_block,
    }
    if entry.port_range is not None:
        if entry.protocol in _ALL_PROTOCOLS:
            raise UndescribableTopologyError(
                f"network ACL {acl_id}, rule {entry.rule_number}: a port range for every protocol"
            )
        written["PortRange"] = {"From": entry.port_range[0], "To": entry.port_range[1]}
    return written


def _network_acl(acl: NetworkAcl) -> dict[str, Any]:
    return {
        "NetworkAclId": acl.network_acl_id,
        "VpcId": acl.vpc_id,
        "IsDefault": acl.is_default,
        "Entries": [_acl_entry(acl.network_acl_id, e) for e in acl.entries],
        "Associations": [{"NetworkAclId": acl.network_acl_id, "SubnetId": s} for s in acl.subnet_ids],
    }


def _security_group(group: SecurityGroup) -> dict[str, Any]:
    """One permission per (protocol, from port, to port), in the order each first appears; its sources in
    the order of the rules. Ports are left out where EC2 leaves them out: protocol "-1" with no ports."""
    permissions: dict[tuple[str, int, int], dict[str, Any]] = {}
    for rule in group.ingress:
        key = (rule.ip_protocol, rule.from_port, rule.to_port)
        permission = permissions.get(key)
        if permission is None:
            permission = permissions[key] = {"IpProtocol": rule.ip_protocol}
            if (rule.ip_protocol, rule.from_port, rule.to_port) != ("-1", -1, -1):
                permission["FromPort"], permission["ToPort"] = rule.from_port, rule.to_port
            permission.update(IpRanges=[], Ipv6Ranges=[], PrefixListIds=[], UserIdGroupPairs=[])
        member, source = _source(group.group_id, rule)
        permission[member].append(source)
    return {"GroupId": group.group_id, "VpcId": group.vpc_id, "IpPermissions": list(permissions.values())}


def _source(group_id: str, rule: SecurityGroupRule) -> tuple[str, dict[str, str]]:
    sources = [
        (member, {key: value})
        for member, key, value in (
            ("IpRanges", "CidrIp", rule.cidr_ipv4),
            ("PrefixListIds", "PrefixListId", rule.prefix_list_id),
            ("UserIdGroupPairs", "GroupId", rule.referenced_group_id),
        )
        if value is not None
    ]
    if len(sources) != 1:
        raise UndescribableTopologyError(
            f"security group {group_id}: a rule with {len(sources)} sources (one is needed): {rule}"
        )
    return sources[0]


def _prefix_list(prefix_list: ManagedPrefixList) -> dict[str, Any]:
    return {
        "PrefixListId": prefix_list.prefix_list_id,
        "AddressFamily": "IPv4",
        "Entries": [{"Cidr": c} for c in prefix_list.cidrs],
    }


def _network_interface(interface: NetworkInterface, vpc_id: str | None) -> dict[str, Any]:
    """The public address on the primary private address. An attachment is written when there is an instance
    or a device index other than 0 (an interface a service attached, as a load balancer's, has an attachment
    without an instance)."""
    association = {"PublicIp": interface.public_ip} if interface.public_ip is not None else None
    primary: dict[str, Any] = {"PrivateIpAddress": interface.private_ip_address, "Primary": True}
    written: dict[str, Any] = {
        "NetworkInterfaceId": interface.network_interface_id,
        "SubnetId": interface.subnet_id,
        "PrivateIpAddress": interface.private_ip_address,
        "Groups": [{"GroupId": g} for g in interface.groups],
        "InterfaceType": "interface",
    }
    if vpc_id is not None:
        written["VpcId"] = vpc_id
    if interface.instance_id is not None or interface.device_index != 0:
        attachment: dict[str, Any] = {"DeviceIndex": interface.device_index, "Status": "attached"}
        if interface.instance_id is not None:
            attachment["InstanceId"] = interface.instance_id
        written["Attachment"] = attachment
        written["Status"] = "in-use"
    else:
        written["Status"] = "available"
    if association is not None:
        written["Association"] = association
        primary["Association"] = dict(association)
    written["PrivateIpAddresses"] = [primary]
    return written


def _load_balancer(lb: LoadBalancer) -> dict[str, Any]:
    """An application or network load balancer with its listeners (DescribeListeners' shape)."""
    at = f"load balancer {lb.load_balancer_id}"
    by_id: dict[str, tuple[str, int, list[str]]] = {}
    for listener in lb.listeners:
        protocol, port, groups = by_id.setdefault(
            listener.listener_id,
            (listener.protocol, _port(f"{at}, {listener.listener_id}", listener.port), []),
        )
        if (protocol, port) != (listener.protocol, listener.port):
            raise UndescribableTopologyError(
                f"{at}: listener {listener.listener_id} with two protocols or ports "
                "(an ELBv2 listener has one)"
            )
        if listener.target_group_id in groups:
            raise UndescribableTopologyError(
                f"{at}: listener {listener.listener_id} forwards to {listener.target_group_id} twice"
            )
        groups.append(listener.target_group_id)
    written: dict[str, Any] = {
        "LoadBalancerArn": lb.load_balancer_id,
        "Type": lb.type,
        "Scheme": lb.scheme,
        "VpcId": lb.vpc_id,
        "State": {"Code": "active"},
        "AvailabilityZones": [{"SubnetId": s} for s in lb.subnet_ids],
    }
    if lb.security_groups or lb.type == "application":  # a network load balancer may have none
        written["SecurityGroups"] = list(lb.security_groups)
    written["Listeners"] = [
        {
            "ListenerArn": listener_id,
            "LoadBalancerArn": lb.load_balancer_id,
            "Protocol": protocol,
            "Port": port,
            "DefaultActions": [_forward(groups)],
        }
        for listener_id, (protocol, port, groups) in by_id.items()
    ]
    return written


def _forward(target_groups: Sequence[str]) -> dict[str, Any]:
    if len(target_groups) == 1:
        return {"Type": "forward", "Order": 1, "TargetGroupArn": target_groups[0]}
    weighted = [{"TargetGroupArn": tg, "Weight": 1} for tg in target_groups]
    return {"Type": "forward", "Order": 1, "ForwardConfig": {"TargetGroups": weighted}}


def _target_group(tg: TargetGroup, vpc_id: str | None) -> dict[str, Any]:
    """An instance target group with its targets (DescribeTargetHealth's `Target`s): a target without a port
    of its own is written without one."""
    at = f"target group {tg.target_group_id}"
    written: dict[str, Any] = {
        "TargetGroupArn": tg.target_group_id,
        "TargetType": "instance",
        "Protocol": tg.protocol,
        "Port": _port(at, tg.port),
    }
    if vpc_id is not None:
        written["VpcId"] = vpc_id
    written["Targets"] = [
        {"Id": t.id} if t.port is None else {"Id": t.id, "Port": _port(f"{at}, target {t.id}", t.port)}
        for t in tg.targets
    ]
    return written


def classic_target_group_id(vpc_id: str, name: str, port: int) -> str:
    """The id the reader gives a Classic load balancer's listener and its target group."""
    return f"classic/{vpc_id}/{name}/{port}"


def _classic_load_balancer(
    lb: LoadBalancer, target_groups: dict[str, TargetGroup]
) -> tuple[dict[str, Any], list[str]]:
    """The Classic load balancer's description, and the ids of the target groups it stands for."""
    at = f"Classic load balancer {lb.load_balancer_id} in {lb.vpc_id}"
    listeners, made = [], []
    instances: tuple[str, ...] | None = None
    for listener in lb.listeners:
        port = _port(at, listener.port)
        expected = classic_target_group_id(lb.vpc_id, lb.load_balancer_id, port)
        if listener.listener_id != expected or listener.target_group_id != expected:
            raise UndescribableTopologyError(
                f"{at}: its listener on port {port} must be and forward to {expected} (its instances on the "
                f"instance port), not {listener.listener_id} to {listener.target_group_id}"
            )
        if expected in made:
            raise UndescribableTopologyError(f"{at}: two listeners on port {port}")
        tg = target_groups.get(expected)
        if tg is None:
            raise UndescribableTopologyError(f"{at}: no target group {expected} gives its instance port")
        if any(t.port is not None for t in tg.targets):
            raise UndescribableTopologyError(f"{at}: a target of {expected} has a port of its own")
        ids = tuple(t.id for t in tg.targets)
        if instances is not None and ids != instances:
            raise UndescribableTopologyError(f"{at}: its target groups have different instances")
        instances = ids
        made.append(expected)
        listeners.append(
            {
                "Listener": {
                    "Protocol": listener.protocol,
                    "LoadBalancerPort": port,
                    "InstanceProtocol": tg.protocol,
                    "InstancePort": _port(f"{at}, {expected}", tg.port),
                },
                "PolicyNames": [],
            }
        )
    description = {
        "LoadBalancerName": lb.load_balancer_id,
        "VPCId": lb.vpc_id,
        "Scheme": lb.scheme,
        "Subnets": list(lb.subnet_ids),
        "SecurityGroups": list(lb.security_groups),
        "ListenerDescriptions": listeners,
        "Instances": [{"InstanceId": i} for i in instances or ()],
    }
    return description, made
