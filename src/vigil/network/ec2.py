"""A network description (the EC2 and ELB APIs' own Describe* shapes) read into a `Topology`.

A description is a mapping whose keys are Describe* response members, each a list of that API's objects,
PascalCase as boto3 returns them: `Vpcs`, `Subnets`, `RouteTables`, `InternetGateways`, `NatGateways`,
`VpcPeeringConnections`, `VpnGateways`, `NetworkAcls`, `SecurityGroups`, `ManagedPrefixLists` (each with
the `Entries` of GetManagedPrefixListEntries), `NetworkInterfaces`, `LoadBalancers` (ELBv2, each with the
`Listeners` of DescribeListeners, each listener optionally with the `Rules` of DescribeRules),
`TargetGroups` (ELBv2, each with `Targets`: DescribeTargetHealth's `TargetHealthDescriptions[].Target`)
and `LoadBalancerDescriptions` (Classic ELB). Every key is optional; members the analysis does not read
are ignored, so `aws ec2 describe-security-groups` output can be pasted as it is.

The model is IPv4 only: IPv6 sources, routes, ACL entries and prefix-list entries are left out, as are
gateway load balancers and target groups whose targets are not instances (ip, lambda, alb). A route to a
prefix list stands for one route per CIDR of the list (as EC2 matches it), when the list is described.
Inactive peering connections and blackhole routes are kept with their state: the analysis decides.

Bad input is a `NetworkDescriptionError` naming where (`SecurityGroups[3].IpPermissions[0].FromPort: not
an integer`), never a KeyError or TypeError; at most `MAX_OBJECTS` list items are read in all.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, TypeVar

from vigil.network.model import (
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
    Scheme,
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

MAX_OBJECTS = 1_000_000  # list items in a whole description (about 4 per instance: 250,000 instances)
MAX_TEXT = 2048  # characters of one string (ARNs are the longest)

# each top-level key's identity: the members that name one of its objects (a Classic load balancer's name is
# unique only in its region, its VPC id makes it unique)
IDENTITY: dict[str, tuple[str, ...]] = {
    "Vpcs": ("VpcId",),
    "Subnets": ("SubnetId",),
    "RouteTables": ("RouteTableId",),
    "InternetGateways": ("InternetGatewayId",),
    "NatGateways": ("NatGatewayId",),
    "VpcPeeringConnections": ("VpcPeeringConnectionId",),
    "VpnGateways": ("VpnGatewayId",),
    "NetworkAcls": ("NetworkAclId",),
    "SecurityGroups": ("GroupId",),
    "ManagedPrefixLists": ("PrefixListId",),
    "NetworkInterfaces": ("NetworkInterfaceId",),
    "LoadBalancers": ("LoadBalancerArn",),
    "TargetGroups": ("TargetGroupArn",),
    "LoadBalancerDescriptions": ("LoadBalancerName", "VPCId"),
}
KEYS = tuple(IDENTITY)
# a route's target, in the order EC2 fills them (a NAT instance's route names both instance and interface)
ROUTE_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "VpcPeeringConnectionId",
    "TransitGatewayId",
    "InstanceId",
    "NetworkInterfaceId",
    "EgressOnlyInternetGatewayId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
)
_ATTACHED = frozenset({"attached", "available"})  # an internet gateway's attachment says "available"

T = TypeVar("T")


class NetworkDescriptionError(ValueError):
    """A network description that cannot be read: `where` names the member, `problem` what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def description_digest(description: Mapping[str, Any]) -> str:
    """The sha256 (hex) of the description's canonical JSON: sorted keys, no spaces, UTF-8."""
    try:
        text = json.dumps(
            description, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError, RecursionError) as exc:
        raise NetworkDescriptionError("the description", f"not JSON: {exc}") from None
    return hashlib.sha256(text.encode()).hexdigest()


def topology_from_description(description: Mapping[str, Any], *, max_objects: int = MAX_OBJECTS) -> Topology:
    """The topology `description` describes; `NetworkDescriptionError` at the first problem found (more
    than `max_objects` list items in all is one)."""
    if not isinstance(description, Mapping):
        raise NetworkDescriptionError("the description", "not a mapping")
    unknown = sorted(str(k) for k in description if k not in KEYS)
    if unknown:
        raise NetworkDescriptionError(
            unknown[0], f"not a member of a network description ({', '.join(KEYS)})"
        )
    r = _Reader(description, max_objects)
    prefix_lists = r.each("ManagedPrefixLists", _prefix_list)
    cidrs = {p.prefix_list_id: p.cidrs for p in prefix_lists}
    classic = r.each("LoadBalancerDescriptions", _classic_load_balancer)
    return Topology(
        vpcs=r.each("Vpcs", _vpc),
        subnets=r.each("Subnets", _subnet),
        route_tables=r.each("RouteTables", lambda r, at, item: _route_table(r, at, item, cidrs)),
        internet_gateways=r.each("InternetGateways", _internet_gateway),
        nat_gateways=r.each("NatGateways", _nat_gateway),
        vpc_peering_connections=r.each("VpcPeeringConnections", _peering),
        vpn_gateways=r.each("VpnGateways", _vpn_gateway),
        network_acls=r.each("NetworkAcls", _network_acl),
        security_groups=r.each("SecurityGroups", _security_group),
        prefix_lists=prefix_lists,
        network_interfaces=r.each("NetworkInterfaces", _network_interface),
        load_balancers=(
            *r.each("LoadBalancers", _load_balancer),
            *(lb for lb, _ in classic),
        ),
        target_groups=(
            *r.each("TargetGroups", _target_group),
            *(tg for _, tgs in classic for tg in tgs),
        ),
    )


class _Reader:
    """Typed access to a description's members, each problem named by where it is; counts list items."""

    def __init__(self, description: Mapping[str, Any], max_objects: int) -> None:
        self.description = description
        self.max_objects = self.left = max_objects

    def each(self, key: str, parse: Callable[[_Reader, str, Mapping[str, Any]], T | None]) -> tuple[T, ...]:
        """Every object under the top-level `key` parsed (None: left out), unique by its `IDENTITY`."""
        id_members = IDENTITY[key]
        seen: set[tuple[str | None, ...]] = set()
        parsed = []
        for at, item in self.maps(self.description, key, ""):
            identifier: tuple[str | None, ...] = (
                self.text(item, id_members[0], at),
                *(self.optional_text(item, member, at) for member in id_members[1:]),
            )
            if identifier in seen:
                shown = " in ".join(i for i in identifier if i is not None)
                raise NetworkDescriptionError(f"{at}.{id_members[0]}", f"{shown} appears more than once")
            seen.add(identifier)
            value = parse(self, at, item)
            if value is not None:
                parsed.append(value)
        return tuple(parsed)

    def items(self, obj: Mapping[str, Any], key: str, at: str) -> Iterator[tuple[str, Any]]:
        """The items of the list `obj[key]` (none when absent or null) with where each is."""
        value = obj.get(key)
        where = f"{at}.{key}" if at else key
        if value is None:
            return
        if not isinstance(value, list | tuple):
            raise NetworkDescriptionError(where, "not a list")
        self.left -= len(value)
        if self.left < 0:
            raise NetworkDescriptionError(
                where, f"the description holds more than {self.max_objects} objects"
            )
        for i, item in enumerate(value):
            yield f"{where}[{i}]", item

    def maps(self, obj: Mapping[str, Any], key: str, at: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for where, item in self.items(obj, key, at):
            if not isinstance(item, Mapping):
                raise NetworkDescriptionError(where, "not a mapping")
            yield where, item

    def texts(self, obj: Mapping[str, Any], key: str, at: str) -> tuple[str, ...]:
        """A list of strings (a load balancer's `SecurityGroups`, `Subnets`)."""
        return tuple(_checked_text(item, where) for where, item in self.items(obj, key, at))

    def mapping(self, obj: Mapping[str, Any], key: str, at: str) -> Mapping[str, Any]:
        """The nested mapping `obj[key]`, empty when absent."""
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise NetworkDescriptionError(f"{at}.{key}", "not a mapping")
        return value

    def text(self, obj: Mapping[str, Any], key: str, at: str) -> str:
        value = self.optional_text(obj, key, at)
        if value is None:
            raise NetworkDescriptionError(f"{at}.{key}", "missing")
        return value

    def optional_text(self, obj: Mapping[str, Any], key: str, at: str) -> str | None:
        value = obj.get(key)
        return None if value is None else _checked_text(value, f"{at}.{key}")

    def integer(self, obj: Mapping[str, Any], key: str, at: str, low: int, high: int) -> int:
        value = self.optional_integer(obj, key, at, low, high)
        if value is None:
            raise NetworkDescriptionError(f"{at}.{key}", "missing")
        return value

    def optional_integer(self, obj: Mapping[str, Any], key: str, at: str, low: int, high: int) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise NetworkDescriptionError(f"{at}.{key}", "not an integer")
        if not low <= value <= high:
            raise NetworkDescriptionError(f"{at}.{key}", f"{value} is not in {low}..{high}")
        return value

    def flag(self, obj: Mapping[str, Any], key: str, at: str, default: bool | None = None) -> bool:
        value = obj.get(key, default)
        if value is None:
            raise NetworkDescriptionError(f"{at}.{key}", "missing")
        if not isinstance(value, bool):
            raise NetworkDescriptionError(f"{at}.{key}", "not true or false")
        return value

    def choice(self, obj: Mapping[str, Any], key: str, at: str, allowed: tuple[str, ...]) -> str:
        value = self.text(obj, key, at)
        if value not in allowed:
            raise NetworkDescriptionError(f"{at}.{key}", f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def protocol(self, obj: Mapping[str, Any], key: str, at: str) -> str:
        """An IP protocol as EC2 writes it ("-1", "6", "tcp"); a YAML number is taken as its digits."""
        value = obj.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value or len(value) > 16:
            raise NetworkDescriptionError(f"{at}.{key}", "missing" if value is None else "not a protocol")
        return value

    def cidr(self, obj: Mapping[str, Any], key: str, at: str) -> str | None:
        """An IPv4 CIDR member; None when absent."""
        value = self.optional_text(obj, key, at)
        if value is None:
            return None
        try:
            ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            raise NetworkDescriptionError(f"{at}.{key}", f"{value!r} is not an IPv4 CIDR") from None
        return value

    def address(self, obj: Mapping[str, Any], key: str, at: str) -> str | None:
        """An IPv4 address member; None when absent."""
        value = self.optional_text(obj, key, at)
        if value is None:
            return None
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise NetworkDescriptionError(f"{at}.{key}", f"{value!r} is not an IPv4 address") from None
        return value

    def state(self, obj: Mapping[str, Any], key: str, at: str) -> str | None:
        """`obj[key].State` (a state or status mapping), None when absent."""
        return self.optional_text(self.mapping(obj, key, at), "State", f"{at}.{key}")


def _checked_text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise NetworkDescriptionError(where, "not a string")
    if not value or len(value) > MAX_TEXT:
        raise NetworkDescriptionError(where, f"not 1 to {MAX_TEXT} characters")
    return value


def _vpc(r: _Reader, at: str, item: Mapping[str, Any]) -> Vpc:
    """The primary CIDR and every associated one."""
    cidrs = [r.cidr(item, "CidrBlock", at)]
    for where, block in r.maps(item, "CidrBlockAssociationSet", at):
        if r.state(block, "CidrBlockState", where) in (None, "associated"):
            cidrs.append(r.cidr(block, "CidrBlock", where))
    found = tuple(dict.fromkeys(c for c in cidrs if c is not None))
    if not found:
        raise NetworkDescriptionError(f"{at}.CidrBlock", "missing")
    return Vpc(r.text(item, "VpcId", at), found)


def _subnet(r: _Reader, at: str, item: Mapping[str, Any]) -> Subnet | None:
    """None for an IPv6-only subnet: it has no IPv4 CIDR."""
    cidr = r.cidr(item, "CidrBlock", at)
    if cidr is None and r.flag(item, "Ipv6Native", at, default=False):
        return None
    if cidr is None:
        raise NetworkDescriptionError(f"{at}.CidrBlock", "missing")
    return Subnet(r.text(item, "SubnetId", at), r.text(item, "VpcId", at), cidr)


def _route_table(
    r: _Reader, at: str, item: Mapping[str, Any], prefix_lists: Mapping[str, tuple[str, ...]]
) -> RouteTable:
    routes: list[Route] = []
    for where, route in r.maps(item, "Routes", at):
        routes += _routes(r, where, route, prefix_lists)
    main, subnet_ids = False, []
    for where, association in r.maps(item, "Associations", at):
        if r.state(association, "AssociationState", where) not in (None, "associated"):
            continue
        main = main or r.flag(association, "Main", where, default=False)
        subnet_id = r.optional_text(association, "SubnetId", where)
        if subnet_id is not None:
            subnet_ids.append(subnet_id)
    return RouteTable(
        r.text(item, "RouteTableId", at), r.text(item, "VpcId", at), tuple(routes), main, tuple(subnet_ids)
    )


def _routes(
    r: _Reader, at: str, route: Mapping[str, Any], prefix_lists: Mapping[str, tuple[str, ...]]
) -> list[Route]:
    """One route, a prefix-list route one per CIDR of its list (none if the list is not described), an
    IPv6 route none. A target the model does not know is kept as a target that is no edge ("")."""
    state = r.optional_text(route, "State", at) or "active"
    if state not in ("active", "blackhole"):
        raise NetworkDescriptionError(f"{at}.State", f"{state!r} is not one of active, blackhole")
    target = next((t for k in ROUTE_TARGETS if (t := r.optional_text(route, k, at)) is not None), "")
    cidr = r.cidr(route, "DestinationCidrBlock", at)
    prefix_list = r.optional_text(route, "DestinationPrefixListId", at)
    if cidr is not None:
        destinations: tuple[str, ...] = (cidr,)
    elif prefix_list is not None:
        destinations = prefix_lists.get(prefix_list, ())
    elif r.optional_text(route, "DestinationIpv6CidrBlock", at) is not None:
        destinations = ()
    else:
        raise NetworkDescriptionError(f"{at}.DestinationCidrBlock", "missing")
    return [Route(d, target, "active" if state == "active" else "blackhole") for d in destinations]


def _internet_gateway(r: _Reader, at: str, item: Mapping[str, Any]) -> InternetGateway:
    return InternetGateway(r.text(item, "InternetGatewayId", at), _attached_vpcs(r, at, item, "Attachments"))


def _vpn_gateway(r: _Reader, at: str, item: Mapping[str, Any]) -> VpnGateway | None:
    if r.optional_text(item, "State", at) in ("deleting", "deleted"):
        return None
    return VpnGateway(r.text(item, "VpnGatewayId", at), _attached_vpcs(r, at, item, "VpcAttachments"))


def _attached_vpcs(r: _Reader, at: str, item: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """The VPCs of the attachments that are attached (an attachment without a State counts)."""
    return tuple(
        r.text(attachment, "VpcId", where)
        for where, attachment in r.maps(item, key, at)
        if r.optional_text(attachment, "State", where) in (None, *_ATTACHED)
    )


def _nat_gateway(r: _Reader, at: str, item: Mapping[str, Any]) -> NatGateway | None:
    if r.optional_text(item, "State", at) in ("deleting", "deleted", "failed"):
        return None
    return NatGateway(r.text(item, "NatGatewayId", at), r.text(item, "SubnetId", at))


def _peering(r: _Reader, at: str, item: Mapping[str, Any]) -> VpcPeeringConnection:
    """Both sides, whatever the status (`Status.Code`): only an active one is an edge."""
    status = r.text(r.mapping(item, "Status", at), "Code", f"{at}.Status")
    sides = []
    for key in ("RequesterVpcInfo", "AccepterVpcInfo"):
        info, where = r.mapping(item, key, at), f"{at}.{key}"
        cidrs = [r.cidr(info, "CidrBlock", where)]
        cidrs += [r.cidr(block, "CidrBlock", w) for w, block in r.maps(info, "CidrBlockSet", where)]
        sides.append((r.text(info, "VpcId", where), tuple(dict.fromkeys(c for c in cidrs if c is not None))))
    (requester, requester_cidrs), (accepter, accepter_cidrs) = sides
    return VpcPeeringConnection(
        r.text(item, "VpcPeeringConnectionId", at),
        requester,
        requester_cidrs,
        accepter,
        accepter_cidrs,
        status,
    )


def _network_acl(r: _Reader, at: str, item: Mapping[str, Any]) -> NetworkAcl:
    entries = tuple(
        entry for where, e in r.maps(item, "Entries", at) if (entry := _acl_entry(r, where, e)) is not None
    )
    subnet_ids = tuple(
        r.text(association, "SubnetId", where) for where, association in r.maps(item, "Associations", at)
    )
    return NetworkAcl(
        r.text(item, "NetworkAclId", at),
        r.text(item, "VpcId", at),
        entries,
        r.flag(item, "IsDefault", at, default=False),
        subnet_ids,
    )


def _acl_entry(r: _Reader, at: str, entry: Mapping[str, Any]) -> NetworkAclEntry | None:
    """None for an IPv6 entry. A port range means nothing for all protocols ("-1"): EC2 ignores it."""
    protocol = r.protocol(entry, "Protocol", at)
    rule_number = r.integer(entry, "RuleNumber", at, 1, 32767)
    action = r.choice(entry, "RuleAction", at, ("allow", "deny"))
    egress = r.flag(entry, "Egress", at)
    cidr = r.cidr(entry, "CidrBlock", at)
    if cidr is None:
        if r.optional_text(entry, "Ipv6CidrBlock", at) is not None:
            return None
        raise NetworkDescriptionError(f"{at}.CidrBlock", "missing")
    ports = r.mapping(entry, "PortRange", at)
    port_range = None
    if ports and protocol not in ("-1", "all"):
        where = f"{at}.PortRange"
        port_range = (r.integer(ports, "From", where, 0, 65535), r.integer(ports, "To", where, 0, 65535))
    return NetworkAclEntry(
        rule_number, protocol, "allow" if action == "allow" else "deny", egress, cidr, port_range
    )


def _security_group(r: _Reader, at: str, item: Mapping[str, Any]) -> SecurityGroup:
    """Each inbound permission as one rule per source (IPv4 range, prefix list, group); no IPv6 ranges."""
    rules: list[SecurityGroupRule] = []
    for where, permission in r.maps(item, "IpPermissions", at):
        protocol = r.protocol(permission, "IpProtocol", where)
        first = r.optional_integer(permission, "FromPort", where, -1, 65535)
        last = r.optional_integer(permission, "ToPort", where, -1, 65535)
        ports = (protocol, -1 if first is None else first, -1 if last is None else last)
        for w, source in r.maps(permission, "IpRanges", where):
            rules.append(
                SecurityGroupRule(*ports, cidr_ipv4=r.cidr(source, "CidrIp", w) or _missing(w, "CidrIp"))
            )
        for w, source in r.maps(permission, "PrefixListIds", where):
            rules.append(SecurityGroupRule(*ports, prefix_list_id=r.text(source, "PrefixListId", w)))
        for w, source in r.maps(permission, "UserIdGroupPairs", where):
            rules.append(SecurityGroupRule(*ports, referenced_group_id=r.text(source, "GroupId", w)))
    return SecurityGroup(r.text(item, "GroupId", at), r.text(item, "VpcId", at), tuple(rules))


def _missing(at: str, key: str) -> NoReturn:
    raise NetworkDescriptionError(f"{at}.{key}", "missing")


def _prefix_list(r: _Reader, at: str, item: Mapping[str, Any]) -> ManagedPrefixList:
    """The IPv4 entries (an IPv6 list's entries are left out)."""
    cidrs = []
    for where, entry in r.maps(item, "Entries", at):
        cidr = r.text(entry, "Cidr", where)
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise NetworkDescriptionError(f"{where}.Cidr", f"{cidr!r} is not a CIDR") from None
        if network.version == 4:
            cidrs.append(cidr)
    return ManagedPrefixList(r.text(item, "PrefixListId", at), tuple(cidrs))


def _network_interface(r: _Reader, at: str, item: Mapping[str, Any]) -> NetworkInterface:
    """The public IPv4 is the primary address's association, else a secondary address's (an Elastic IP on
    a secondary address makes the interface just as reachable)."""
    attachment = r.mapping(item, "Attachment", at)
    public_ip = r.address(r.mapping(item, "Association", at), "PublicIp", f"{at}.Association")
    for where, address in r.maps(item, "PrivateIpAddresses", at):
        association = r.mapping(address, "Association", where)
        public_ip = public_ip or r.address(association, "PublicIp", f"{where}.Association")
    private_ip = r.address(item, "PrivateIpAddress", at) or _missing(at, "PrivateIpAddress")
    return NetworkInterface(
        network_interface_id=r.text(item, "NetworkInterfaceId", at),
        subnet_id=r.text(item, "SubnetId", at),
        private_ip_address=private_ip,
        groups=tuple(r.text(group, "GroupId", where) for where, group in r.maps(item, "Groups", at)),
        instance_id=r.optional_text(attachment, "InstanceId", f"{at}.Attachment"),
        device_index=r.optional_integer(attachment, "DeviceIndex", f"{at}.Attachment", 0, 1024) or 0,
        public_ip=public_ip,
    )


def _scheme(r: _Reader, item: Mapping[str, Any], at: str) -> Scheme:
    scheme = r.choice(item, "Scheme", at, ("internet-facing", "internal"))
    return "internet-facing" if scheme == "internet-facing" else "internal"


def _load_balancer(r: _Reader, at: str, item: Mapping[str, Any]) -> LoadBalancer | None:
    """An application or network load balancer (None for a gateway one: it has no listener ports)."""
    kind = r.choice(item, "Type", at, ("application", "network", "gateway"))
    if kind == "gateway":
        return None
    listeners = [
        listener
        for where, listener_item in r.maps(item, "Listeners", at)
        for listener in _listeners(r, where, listener_item)
    ]
    return LoadBalancer(
        load_balancer_id=r.text(item, "LoadBalancerArn", at),
        type="application" if kind == "application" else "network",
        scheme=_scheme(r, item, at),
        vpc_id=r.text(item, "VpcId", at),
        subnet_ids=tuple(r.text(z, "SubnetId", where) for where, z in r.maps(item, "AvailabilityZones", at)),
        security_groups=r.texts(item, "SecurityGroups", at),
        listeners=tuple(listeners),
    )


def _listeners(r: _Reader, at: str, item: Mapping[str, Any]) -> list[Listener]:
    """One `Listener` per target group the listener forwards to, by its default actions or its rules."""
    listener_id = r.text(item, "ListenerArn", at)
    protocol, port = r.text(item, "Protocol", at), r.integer(item, "Port", at, 1, 65535)
    actions = list(r.maps(item, "DefaultActions", at))
    for where, rule in r.maps(item, "Rules", at):
        actions += r.maps(rule, "Actions", where)
    target_groups: dict[str, None] = {}
    for where, action in actions:
        if r.text(action, "Type", where) != "forward":
            continue
        single = r.optional_text(action, "TargetGroupArn", where)
        if single is not None:
            target_groups[single] = None
        config, w = r.mapping(action, "ForwardConfig", where), f"{where}.ForwardConfig"
        for w2, group in r.maps(config, "TargetGroups", w):
            target_groups[r.text(group, "TargetGroupArn", w2)] = None
    return [Listener(listener_id, protocol, port, tg) for tg in target_groups]


def _target_group(r: _Reader, at: str, item: Mapping[str, Any]) -> TargetGroup | None:
    """An instance target group (None for ip, lambda and alb ones: their targets are no instances)."""
    if (r.optional_text(item, "TargetType", at) or "instance") != "instance":
        return None
    targets = tuple(
        Target(r.text(t, "Id", where), r.optional_integer(t, "Port", where, 1, 65535))
        for where, t in r.maps(item, "Targets", at)
    )
    return TargetGroup(
        r.text(item, "TargetGroupArn", at),
        r.text(item, "Protocol", at),
        r.integer(item, "Port", at, 1, 65535),
        targets,
    )


def _classic_load_balancer(
    r: _Reader, at: str, item: Mapping[str, Any]
) -> tuple[LoadBalancer, tuple[TargetGroup, ...]] | None:
    """A Classic load balancer in a VPC (None for EC2-Classic's, which have none) and, per listener, a target
    group of its instances on the listener's instance port. A Classic name is unique only in its region, so
    the listener and its target group are named `classic/<VPC id>/<name>/<port>`."""
    vpc_id = r.optional_text(item, "VPCId", at)
    if vpc_id is None:
        return None
    name = r.text(item, "LoadBalancerName", at)
    instances = tuple(Target(r.text(i, "InstanceId", where)) for where, i in r.maps(item, "Instances", at))
    listeners, target_groups = [], []
    for where, description in r.maps(item, "ListenerDescriptions", at):
        listener, w = r.mapping(description, "Listener", where), f"{where}.Listener"
        port = r.integer(listener, "LoadBalancerPort", w, 1, 65535)
        protocol = r.text(listener, "Protocol", w)
        tg_id = f"classic/{vpc_id}/{name}/{port}"
        target_groups.append(
            TargetGroup(
                tg_id,
                r.optional_text(listener, "InstanceProtocol", w) or protocol,
                r.integer(listener, "InstancePort", w, 1, 65535),
                instances,
            )
        )
        listeners.append(Listener(tg_id, protocol, port, tg_id))
    load_balancer = LoadBalancer(
        load_balancer_id=name,
        type="classic",
        scheme=_scheme(r, item, at),
        vpc_id=vpc_id,
        subnet_ids=r.texts(item, "Subnets", at),
        security_groups=r.texts(item, "SecurityGroups", at),
        listeners=tuple(listeners),
    )
    return load_balancer, tuple(target_groups)
