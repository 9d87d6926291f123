"""A fleet file's `network:` section: the README's example read through the local provider and analysed,
and every problem in the section reported with the file and where it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.scanning.fleetkit import ACCOUNT

from vigil.fleet.providers import ProviderError
from vigil.fleet.providers.local import LocalProvider
from vigil.network import SecurityGroup, SecurityGroupRule, analyze, topology_from_description

README = Path(__file__).parents[2] / "README.md"
WEB_1, WEB_2, APP_1 = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"
ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
ALB = ARN + "loadbalancer/app/web/50dc6c495c0c9188"
LISTENER = ARN + "listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
TARGET_GROUP = ARN + "targetgroup/web/73e2d6bc24d8a067"
# the README's example, word for word (`test_the_readme_shows_the_example_tested_here`)
EXAMPLE = """\
instances:
  - {instanceId: i-0a1b2c3d4e5f60001, state: running, tags: {Name: web-1}}
  - {instanceId: i-0a1b2c3d4e5f60002, state: running, tags: {Name: web-2}}
  - {instanceId: i-0a1b2c3d4e5f60003, state: running, tags: {Name: app-1}}
network:
  Vpcs:
    - {VpcId: vpc-app, CidrBlock: 10.0.0.0/16}
  Subnets:
    - {SubnetId: subnet-web-a, VpcId: vpc-app, CidrBlock: 10.0.0.0/24}
    - {SubnetId: subnet-web-b, VpcId: vpc-app, CidrBlock: 10.0.1.0/24}
    - {SubnetId: subnet-app, VpcId: vpc-app, CidrBlock: 10.0.10.0/24}
  InternetGateways:
    - InternetGatewayId: igw-app
      Attachments: [{VpcId: vpc-app, State: available}]
  VpcPeeringConnections:            # to the operations VPC of another account
    - VpcPeeringConnectionId: pcx-ops
      Status: {Code: active}
      RequesterVpcInfo: {VpcId: vpc-app, CidrBlock: 10.0.0.0/16}
      AccepterVpcInfo: {VpcId: vpc-ops, CidrBlock: 10.1.0.0/16, OwnerId: "111122223333"}
  RouteTables:
    - RouteTableId: rtb-web         # the web subnets: the internet gateway, and the peer VPC
      VpcId: vpc-app
      Routes:
        - {DestinationCidrBlock: 10.0.0.0/16, GatewayId: local, State: active}
        - {DestinationCidrBlock: 10.1.0.0/16, VpcPeeringConnectionId: pcx-ops, State: active}
        - {DestinationCidrBlock: 0.0.0.0/0, GatewayId: igw-app, State: active}
      Associations: [{SubnetId: subnet-web-a}, {SubnetId: subnet-web-b}]
    - RouteTableId: rtb-app         # the main table: no route to the internet gateway
      VpcId: vpc-app
      Routes:
        - {DestinationCidrBlock: 10.0.0.0/16, GatewayId: local, State: active}
        - {DestinationCidrBlock: 10.1.0.0/16, VpcPeeringConnectionId: pcx-ops, State: active}
      Associations: [{Main: true}]
  NetworkAcls:
    - NetworkAclId: acl-default     # the web subnets: everything
      VpcId: vpc-app
      IsDefault: true
      Associations: [{SubnetId: subnet-web-a}, {SubnetId: subnet-web-b}]
      Entries:
        - {RuleNumber: 100, Protocol: "-1", RuleAction: allow, Egress: false, CidrBlock: 0.0.0.0/0}
        - {RuleNumber: 100, Protocol: "-1", RuleAction: allow, Egress: true, CidrBlock: 0.0.0.0/0}
    - NetworkAclId: acl-app         # the app subnet: 8443 from this VPC and the peer VPC, replies to them
      VpcId: vpc-app
      IsDefault: false
      Associations: [{SubnetId: subnet-app}]
      Entries:
        - {RuleNumber: 100, Protocol: "6", RuleAction: allow, Egress: false, CidrBlock: 10.0.0.0/16,
           PortRange: {From: 8443, To: 8443}}
        - {RuleNumber: 110, Protocol: "6", RuleAction: allow, Egress: false, CidrBlock: 10.1.0.0/16,
           PortRange: {From: 8443, To: 8443}}
        - {RuleNumber: 100, Protocol: "6", RuleAction: allow, Egress: true, CidrBlock: 10.0.0.0/15,
           PortRange: {From: 1024, To: 65535}}
  SecurityGroups:
    - GroupId: sg-alb
      VpcId: vpc-app
      IpPermissions:
        - {IpProtocol: tcp, FromPort: 443, ToPort: 443, IpRanges: [{CidrIp: 0.0.0.0/0}]}
    - GroupId: sg-web
      VpcId: vpc-app
      IpPermissions:
        - {IpProtocol: tcp, FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{GroupId: sg-alb}]}
        - {IpProtocol: tcp, FromPort: 22, ToPort: 22, IpRanges: [{CidrIp: 10.1.0.0/16}]}
    - GroupId: sg-app
      VpcId: vpc-app
      IpPermissions:
        - {IpProtocol: tcp, FromPort: 8443, ToPort: 8443, UserIdGroupPairs: [{GroupId: sg-web}]}
  NetworkInterfaces:
    - NetworkInterfaceId: eni-web-1
      SubnetId: subnet-web-a
      PrivateIpAddress: 10.0.0.10
      Groups: [{GroupId: sg-web}]
      Attachment: {InstanceId: i-0a1b2c3d4e5f60001, DeviceIndex: 0}
      Association: {PublicIp: 203.0.113.10}
    - NetworkInterfaceId: eni-web-2
      SubnetId: subnet-web-b
      PrivateIpAddress: 10.0.1.10
      Groups: [{GroupId: sg-web}]
      Attachment: {InstanceId: i-0a1b2c3d4e5f60002, DeviceIndex: 0}
      Association: {PublicIp: 203.0.113.11}
    - NetworkInterfaceId: eni-app-1   # no public IP
      SubnetId: subnet-app
      PrivateIpAddress: 10.0.10.10
      Groups: [{GroupId: sg-app}]
      Attachment: {InstanceId: i-0a1b2c3d4e5f60003, DeviceIndex: 0}
  LoadBalancers:
    - LoadBalancerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188
      Type: application
      Scheme: internet-facing
      VpcId: vpc-app
      AvailabilityZones: [{SubnetId: subnet-web-a}, {SubnetId: subnet-web-b}]
      SecurityGroups: [sg-alb]
      Listeners:
        - ListenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2
          Protocol: HTTPS
          Port: 443
          DefaultActions:
            - {Type: forward, TargetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067"}
  TargetGroups:
    - TargetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067
      TargetType: instance
      Protocol: HTTP
      Port: 8080
      Targets: [{Id: i-0a1b2c3d4e5f60001}, {Id: i-0a1b2c3d4e5f60002}]
"""


def _read(tmp_path: Path, text: str):
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return LocalProvider(path).describe(ACCOUNT)


def _problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ProviderError) as raised:
        _read(tmp_path, text)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'fleet.yaml'}: invalid fleet file:")
    return message


def _with_network(change) -> str:
    """The example with its `network:` section changed by `change(network)`."""
    document = yaml.safe_load(EXAMPLE)
    change(document["network"])
    return yaml.safe_dump(document)


def _steps(finding) -> list[tuple[str, str]]:
    return [(s.component_id, s.component_type.rsplit("::", 1)[-1]) for s in finding.steps]


def test_the_readme_shows_the_example_tested_here():
    assert f"```yaml\n{EXAMPLE}```\n" in README.read_text()


def test_the_example_reaches_8080_through_the_alb_and_22_through_the_peering_on_each_web_instance(tmp_path):
    fleet = _read(tmp_path, EXAMPLE)
    assert [i.instance_id for i in fleet.instances] == [WEB_1, WEB_2, APP_1]
    assert fleet.network == yaml.safe_load(EXAMPLE)["network"]
    findings = analyze(topology_from_description(fleet.network)).findings
    assert {(f.instance_id, f.edge, f.protocol, f.begin, f.end) for f in findings} == {
        (WEB_1, "IGW", "TCP", 8080, 8080),
        (WEB_1, "PEERING", "TCP", 22, 22),
        (WEB_2, "IGW", "TCP", 8080, 8080),
        (WEB_2, "PEERING", "TCP", 22, 22),
    }
    assert len(findings) == 4
    by_path = {(f.instance_id, f.edge): f for f in findings}
    assert by_path[WEB_1, "IGW"].title == "Port 8080 is reachable from an Internet Gateway - TCP"
    assert _steps(by_path[WEB_1, "IGW"]) == [
        ("igw-app", "InternetGateway"),
        (ALB, "LoadBalancer"),
        (LISTENER, "Listener"),
        (TARGET_GROUP, "TargetGroup"),
        ("acl-default", "NetworkAcl"),
        ("sg-web", "SecurityGroup"),
        ("eni-web-1", "NetworkInterface"),
        (WEB_1, "Instance"),
    ]
    assert by_path[WEB_2, "PEERING"].title == "Port 22 is reachable from a VPC Peering Connection - TCP"
    assert _steps(by_path[WEB_2, "PEERING"]) == [
        ("pcx-ops", "VPCPeeringConnection"),
        ("rtb-web", "RouteTable"),
        ("acl-default", "NetworkAcl"),
        ("sg-web", "SecurityGroup"),
        ("eni-web-2", "NetworkInterface"),
        (WEB_2, "Instance"),
    ]


def test_the_app_tier_is_closed_only_by_its_group_the_route_and_acl_admit_the_peer_vpc(tmp_path):
    analysis = analyze(topology_from_description(_read(tmp_path, EXAMPLE).network))
    assert analysis.for_interface("eni-app-1") == ()
    opened = SecurityGroup(
        "sg-app",
        "vpc-app",
        (
            SecurityGroupRule("tcp", 8443, 8443, referenced_group_id="sg-web"),
            SecurityGroupRule("tcp", 8443, 9000, cidr_ipv4="10.1.0.0/16"),
        ),
    )
    delta = analysis.update(opened)
    ((added,),) = (tuple(delta.added),)
    # the ACL lets only 8443 in: 8444-9000 stay closed
    assert (added.instance_id, added.edge, added.begin, added.end) == (APP_1, "PEERING", 8443, 8443)
    assert _steps(added) == [
        ("pcx-ops", "VPCPeeringConnection"),
        ("rtb-app", "RouteTable"),
        ("acl-app", "NetworkAcl"),
        ("sg-app", "SecurityGroup"),
        ("eni-app-1", "NetworkInterface"),
        (APP_1, "Instance"),
    ]


def test_a_fleet_file_without_a_network_section_has_no_network(tmp_path):
    fleet = _read(tmp_path, "instances:\n  - {instanceId: i-0a1b2c3d4e5f60001, state: running}\n")
    assert fleet.network is None


def test_a_bad_member_is_named_with_its_place_in_the_network_section(tmp_path):
    def bad_port(network):
        network["SecurityGroups"][1]["IpPermissions"][0]["FromPort"] = "8080"

    assert "\n  network.SecurityGroups[1].IpPermissions[0].FromPort: not an integer" in _problems(
        tmp_path, _with_network(bad_port)
    )


def test_an_unknown_key_of_the_network_section_is_refused(tmp_path):
    def typo(network):
        network["SecurityGroup"] = network.pop("SecurityGroups")

    assert "network.SecurityGroup: not a member of a network description" in _problems(
        tmp_path, _with_network(typo)
    )


def test_an_interface_of_an_instance_the_file_does_not_list_is_refused(tmp_path):
    def stray(network):
        network["NetworkInterfaces"][2]["Attachment"]["InstanceId"] = "i-0fffffffffffffff9"

    assert (
        "network: network interface eni-app-1 is attached to i-0fffffffffffffff9, which is not one of instances"
        in _problems(tmp_path, _with_network(stray))
    )


def test_a_yaml_timestamp_in_the_network_section_must_be_quoted(tmp_path):
    text = EXAMPLE.replace(
        "      Status: {Code: active}\n",
        "      Status: {Code: active}\n      ExpirationTime: 2026-03-02T09:00:00Z\n",
    )
    assert "ExpirationTime" in text
    assert "network: not JSON" in _problems(tmp_path, text)


def test_a_network_section_that_is_not_a_mapping_is_refused(tmp_path):
    text = "instances: []\nnetwork: [Vpcs]\n"
    assert "\n  network: Input should be a valid dictionary" in _problems(tmp_path, text)
