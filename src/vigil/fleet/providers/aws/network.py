"""The network of an account's regions as the EC2 and ELB APIs describe it, in the shapes `vigil.network.ec2`
reads: every Describe* answer paginated, regions merged into one description.

Only the members the analysis reads are kept (and a few names), so that the description stays small and its
digest changes when reachability may have, not when an interface's attach time or a tag does. AWS-managed
prefix lists (`com.amazonaws.*`) are left out unless a security group or a route refers to one. An object
that two regions both describe (an inter-region peering connection) is kept once. Top-level lists are
sorted by their objects' ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from vigil.fleet.providers.aws.access import AwsAccess, problem
from vigil.network.ec2 import IDENTITY, ROUTE_TARGETS

# the largest page each operation takes (its MaxResults / PageSize bound)
_MAX_PAGE = {
    "describe_volumes": 500,
    "describe_route_tables": 100,
    "describe_managed_prefix_lists": 100,
    "get_managed_prefix_list_entries": 100,
    "elb": 400,
    "elbv2": 400,
}
_EC2_LISTS = (
    ("Vpcs", "describe_vpcs"),
    ("Subnets", "describe_subnets"),
    ("RouteTables", "describe_route_tables"),
    ("InternetGateways", "describe_internet_gateways"),
    ("NatGateways", "describe_nat_gateways"),
    ("VpcPeeringConnections", "describe_vpc_peering_connections"),
    ("NetworkAcls", "describe_network_acls"),
    ("SecurityGroups", "describe_security_groups"),
    ("NetworkInterfaces", "describe_network_interfaces"),
)

Spec = Mapping[str, "Spec | None"]


def _keep(*members: str, **nested: Spec) -> Spec:
    """Members kept as they are, and members whose mapping (or list of mappings) is projected in turn."""
    return {**dict.fromkeys(members), **nested}


_STATE = _keep("State")
_CIDR = _keep("CidrBlock")
_PEER = _keep("VpcId", "OwnerId", "Region", "CidrBlock", CidrBlockSet=_CIDR)
_FORWARD = _keep("TargetGroupArn")
_ACTION = _keep("Type", "TargetGroupArn", ForwardConfig=_keep(TargetGroups=_FORWARD))
_PUBLIC_IP = _keep("PublicIp")
KEPT: dict[str, Spec] = {
    "Vpcs": _keep("VpcId", "CidrBlock", CidrBlockAssociationSet=_keep("CidrBlock", CidrBlockState=_STATE)),
    "Subnets": _keep("SubnetId", "VpcId", "CidrBlock", "Ipv6Native"),
    "RouteTables": _keep(
        "RouteTableId",
        "VpcId",
        Routes=_keep(
            "DestinationCidrBlock",
            "DestinationIpv6CidrBlock",
            "DestinationPrefixListId",
            *ROUTE_TARGETS,
            "State",
        ),
        Associations=_keep("Main", "SubnetId", AssociationState=_STATE),
    ),
    "InternetGateways": _keep("InternetGatewayId", Attachments=_keep("VpcId", "State")),
    "NatGateways": _keep("NatGatewayId", "SubnetId", "State"),
    "VpcPeeringConnections": _keep(
        "VpcPeeringConnectionId", Status=_keep("Code"), RequesterVpcInfo=_PEER, AccepterVpcInfo=_PEER
    ),
    "VpnGateways": _keep("VpnGatewayId", "State", VpcAttachments=_keep("VpcId", "State")),
    "NetworkAcls": _keep(
        "NetworkAclId",
        "VpcId",
        "IsDefault",
        Associations=_keep("SubnetId"),
        Entries=_keep(
            "RuleNumber",
            "Protocol",
            "RuleAction",
            "Egress",
            "CidrBlock",
            "Ipv6CidrBlock",
            PortRange=_keep("From", "To"),
        ),
    ),
    "SecurityGroups": _keep(
        "GroupId",
        "GroupName",
        "VpcId",
        IpPermissions=_keep(
            "IpProtocol",
            "FromPort",
            "ToPort",
            IpRanges=_keep("CidrIp"),
            Ipv6Ranges=_keep("CidrIpv6"),
            PrefixListIds=_keep("PrefixListId"),
            UserIdGroupPairs=_keep("GroupId", "UserId", "VpcId", "VpcPeeringConnectionId"),
        ),
    ),
    "ManagedPrefixLists": _keep(
        "PrefixListId", "PrefixListName", "OwnerId", "AddressFamily", Entries=_keep("Cidr")
    ),
    "NetworkInterfaces": _keep(
        "NetworkInterfaceId",
        "InterfaceType",
        "SubnetId",
        "VpcId",
        "PrivateIpAddress",
        Groups=_keep("GroupId"),
        Attachment=_keep("InstanceId", "DeviceIndex"),
        Association=_PUBLIC_IP,
        PrivateIpAddresses=_keep("PrivateIpAddress", Association=_PUBLIC_IP),
    ),
    "LoadBalancers": _keep(
        "LoadBalancerArn",
        "LoadBalancerName",
        "Type",
        "Scheme",
        "VpcId",
        "SecurityGroups",
        AvailabilityZones=_keep("SubnetId"),
        Listeners=_keep(
            "ListenerArn",
            "Protocol",
            "Port",
            DefaultActions=_ACTION,
            Rules=_keep("RuleArn", Actions=_ACTION),
        ),
    ),
    "TargetGroups": _keep(
        "TargetGroupArn",
        "TargetGroupName",
        "TargetType",
        "Protocol",
        "Port",
        "VpcId",
        Targets=_keep("Id", "Port"),
    ),
    "LoadBalancerDescriptions": _keep(
        "LoadBalancerName",
        "Scheme",
        "VPCId",
        "Subnets",
        "SecurityGroups",
        Instances=_keep("InstanceId"),
        ListenerDescriptions=_keep(
            Listener=_keep("Protocol", "LoadBalancerPort", "InstanceProtocol", "InstancePort")
        ),
    ),
}


def paginate(
    client: Any, operation: str, member: str, region: str, page_size: int, **params: Any
) -> Iterator[Any]:
    """Every item of `member` in every page of `operation`; a failure is a `ProviderError` saying which
    permission the call needs. Throttling and transient errors are retried by the client (`AwsAccess`)."""
    action = _action(client, operation)
    service = client.meta.service_model.service_name  # ec2, elb, elbv2
    size = min(page_size, _MAX_PAGE.get(operation, _MAX_PAGE.get(service, 1000)))
    pages = client.get_paginator(operation).paginate(**params, PaginationConfig={"PageSize": size})
    try:
        for page in pages:
            yield from page.get(member, [])
    except (ClientError, BotoCoreError) as exc:
        raise problem(exc, f"{action} in {region}", action) from None


def _call(client: Any, operation: str, region: str, **params: Any) -> Any:
    """One call of an operation that has no pages."""
    action = _action(client, operation)
    try:
        return getattr(client, operation)(**params)
    except (ClientError, BotoCoreError) as exc:
        raise problem(exc, f"{action} in {region}", action) from None


def _action(client: Any, operation: str) -> str:
    """The IAM action of a client's operation: `ec2:DescribeVpcs`, `elasticloadbalancing:DescribeRules`."""
    prefix = client.meta.service_model.signing_name  # elb and elbv2 both sign as elasticloadbalancing
    return f"{prefix}:" + "".join(part.title() for part in operation.split("_"))


def describe_network(access: AwsAccess, page_size: int) -> dict[str, list[dict[str, Any]]]:
    """The network of every region of `access`, merged; `ProviderError` when any part cannot be read."""
    merged: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {key: {} for key in IDENTITY}
    for region in access.regions:
        for key, items in describe_region(access, region, page_size).items():
            for item in items:
                kept = _project(item, KEPT[key])
                merged[key].setdefault(tuple(str(kept.get(m, "")) for m in IDENTITY[key]), kept)
    return {key: [objects[k] for k in sorted(objects)] for key, objects in merged.items() if objects}


def describe_region(access: AwsAccess, region: str, page_size: int) -> dict[str, list[dict[str, Any]]]:
    """One region's Describe* answers by description key, as the APIs give them."""
    ec2 = access.client("ec2", region)
    found = {key: list(paginate(ec2, operation, key, region, page_size)) for key, operation in _EC2_LISTS}
    found["VpnGateways"] = _call(ec2, "describe_vpn_gateways", region).get("VpnGateways", [])
    found["ManagedPrefixLists"] = _prefix_lists(ec2, region, page_size, found)
    elbv2 = access.client("elbv2", region)
    found["LoadBalancers"] = _load_balancers(elbv2, region, page_size)
    found["TargetGroups"] = _target_groups(elbv2, region, page_size)
    elb = access.client("elb", region)
    found["LoadBalancerDescriptions"] = list(
        paginate(elb, "describe_load_balancers", "LoadBalancerDescriptions", region, page_size)
    )
    return found


def _prefix_lists(
    ec2: Any, region: str, page_size: int, found: Mapping[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The account's own prefix lists and the AWS-managed ones a security group or route refers to, each
    with its entries."""
    used = {
        pl.get("PrefixListId")
        for group in found["SecurityGroups"]
        for permission in group.get("IpPermissions", [])
        for pl in permission.get("PrefixListIds", [])
    } | {
        route.get("DestinationPrefixListId")
        for table in found["RouteTables"]
        for route in table.get("Routes", [])
    }
    lists = []
    for prefix_list in paginate(ec2, "describe_managed_prefix_lists", "PrefixLists", region, page_size):
        aws_managed = prefix_list.get("OwnerId") == "AWS" or str(
            prefix_list.get("PrefixListName", "")
        ).startswith("com.amazonaws.")
        if aws_managed and prefix_list.get("PrefixListId") not in used:
            continue
        entries = paginate(
            ec2,
            "get_managed_prefix_list_entries",
            "Entries",
            region,
            page_size,
            PrefixListId=prefix_list["PrefixListId"],
        )
        lists.append({**prefix_list, "Entries": list(entries)})
    return lists


def _load_balancers(elbv2: Any, region: str, page_size: int) -> list[dict[str, Any]]:
    """Application and network load balancers with their listeners (an application one's with its rules:
    a rule may forward to a target group no default action names); a gateway one has no listener ports."""
    balancers = []
    for lb in paginate(elbv2, "describe_load_balancers", "LoadBalancers", region, page_size):
        listeners = []
        if lb.get("Type") in ("application", "network"):
            for listener in paginate(
                elbv2,
                "describe_listeners",
                "Listeners",
                region,
                page_size,
                LoadBalancerArn=lb["LoadBalancerArn"],
            ):
                if lb.get("Type") == "application":
                    rules = paginate(
                        elbv2,
                        "describe_rules",
                        "Rules",
                        region,
                        page_size,
                        ListenerArn=listener["ListenerArn"],
                    )
                    listener = {**listener, "Rules": list(rules)}
                listeners.append(listener)
        balancers.append({**lb, "Listeners": listeners})
    return balancers


def _target_groups(elbv2: Any, region: str, page_size: int) -> list[dict[str, Any]]:
    """Target groups with their registered targets (an instance target group's: other kinds are not read)."""
    groups = []
    for group in paginate(elbv2, "describe_target_groups", "TargetGroups", region, page_size):
        targets = []
        if group.get("TargetType", "instance") == "instance":
            health = _call(elbv2, "describe_target_health", region, TargetGroupArn=group["TargetGroupArn"])
            targets = [d["Target"] for d in health.get("TargetHealthDescriptions", []) if "Target" in d]
        groups.append({**group, "Targets": targets})
    return groups


def _project(value: Any, spec: Spec) -> Any:
    """`value` with only the members `spec` names (in a list, each item's)."""
    if isinstance(value, list):
        return [_project(item, spec) for item in value]
    if not isinstance(value, Mapping):
        return value
    return {
        member: value[member] if nested is None else _project(value[member], nested)
        for member, nested in spec.items()
        if member in value
    }
