"""Network reachability: which ports of which instances are open from outside their VPC, and how.

A pure library: `analyze(Topology)` gives an `Analysis` whose `findings` are `Reachability` records;
`Analysis.update(group)` re-analyses after one security group changes. `topology_from_description` reads a
network description (the EC2 and ELB APIs' Describe* shapes) into a `Topology`; `description_digest` tells
whether a description changed.
"""

from vigil.network.analysis import Analysis, analyze
from vigil.network.ec2 import NetworkDescriptionError, description_digest, topology_from_description
from vigil.network.ec2_writer import description_from_topology
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
    "NetworkDescriptionError",
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
    "description_digest",
    "description_from_topology",
    "topology_from_description",
]
