"""Network reachability: which ports of which instances are open from outside their VPC, and how.

A pure library: `analyze(Topology)` gives an `Analysis` whose `findings` are `Reachability` records;
`Analysis.update(group)` re-analyses after one security group changes.
"""

from vigil.network.analysis import Analysis, analyze
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
from vigil.network.results import Delta, Reachability, Step

__all__ = [
    "Analysis",
    "Delta",
    "InternetGateway",
    "Listener",
    "LoadBalancer",
    "ManagedPrefixList",
    "NatGateway",
    "NetworkAcl",
    "NetworkAclEntry",
    "NetworkInterface",
    "Reachability",
    "Route",
    "RouteTable",
    "SecurityGroup",
    "SecurityGroupRule",
    "Step",
    "Subnet",
    "Target",
    "TargetGroup",
    "Topology",
    "Vpc",
    "VpcPeeringConnection",
    "VpnGateway",
    "analyze",
]
