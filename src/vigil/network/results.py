"""What the analysis finds: one reachable port range of one interface along one path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EdgeKind = Literal["IGW", "PEERING", "VGW"]

INTERNET_GATEWAY = "AWS::EC2::InternetGateway"
PEERING_CONNECTION = "AWS::EC2::VPCPeeringConnection"
VPN_GATEWAY = "AWS::EC2::VPNGateway"
ROUTE_TABLE = "AWS::EC2::RouteTable"
NETWORK_ACL = "AWS::EC2::NetworkAcl"
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
CLASSIC_LOAD_BALANCER = "AWS::ElasticLoadBalancing::LoadBalancer"
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
NETWORK_INTERFACE = "AWS::EC2::NetworkInterface"
INSTANCE = "AWS::EC2::Instance"

_EDGE_NAMES: dict[EdgeKind, str] = {
    "IGW": "an Internet Gateway",
    "PEERING": "a VPC Peering Connection",
    "VGW": "a Virtual Private Gateway",
}


@dataclass(frozen=True, slots=True)
class Step:
    """One component on a path, as Inspector's `Step` shape names it."""

    component_id: str
    component_type: str

    def to_dict(self) -> dict[str, str]:
        return {"componentId": self.component_id, "componentType": self.component_type}


@dataclass(frozen=True, slots=True)
class Reachability:
    """Ports `begin`..`end` (inclusive, maximal) of `protocol` open on an interface from an edge."""

    instance_id: str
    network_interface_id: str
    edge: EdgeKind
    protocol: Literal["TCP", "UDP"]
    begin: int
    end: int
    steps: tuple[Step, ...]

    @property
    def title(self) -> str:
        ports = f"Port {self.begin}" if self.begin == self.end else f"Port range {self.begin} - {self.end}"
        return f"{ports} is reachable from {_EDGE_NAMES[self.edge]} - {self.protocol}"

    def network_reachability_details(self) -> dict[str, object]:
        """Inspector's `NetworkReachabilityDetails`."""
        return {
            "openPortRange": {"begin": self.begin, "end": self.end},
            "protocol": self.protocol,
            "networkPath": {"steps": [step.to_dict() for step in self.steps]},
        }


@dataclass(frozen=True, slots=True)
class Delta:
    """What an incremental update changed."""

    added: frozenset[Reachability]
    removed: frozenset[Reachability]
