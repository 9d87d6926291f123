"""The `aws` provider's network description against moto's server: a VPC built through boto3 (subnets, an
internet gateway, route tables, a network ACL, security groups with a group reference and prefix lists,
instances with and without public addresses, an ALB and a Classic ELB), described by `AwsProvider` and
analysed; regions merged; and a network that cannot be read leaving the instances described."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import httpx
import pytest
from tests.support.moto import REGION, aws_client, moto, moto_server

from vigil.fleet.providers.aws.access import AwsAccess
from vigil.fleet.providers.aws.provider import AwsProvider
from vigil.network import analyze, description_digest, topology_from_description

__all__ = ["moto", "moto_server"]  # fixtures

ACCOUNT = "111122223333"
LINUX_AMI = "ami-760aaa0f"  # moto's Amazon Linux image
EU = "eu-west-1"


def _id(answer: dict[str, Any], kind: str, member: str) -> str:
    return str(answer[kind][member])


def _group(ec2: Any, vpc: str, name: str, *permissions: dict[str, Any]) -> str:
    group = str(ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"])
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=list(permissions))
    return group


def _tcp(port: int, **source: Any) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **source}


def _run(ec2: Any, subnet: str, group: str, *, public: bool) -> str:
    interface = {"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group], "AssociatePublicIpAddress": public}
    made = ec2.run_instances(ImageId=LINUX_AMI, MinCount=1, MaxCount=1, NetworkInterfaces=[interface])
    return str(made["Instances"][0]["InstanceId"])


def build_web_vpc(endpoint: str) -> dict[str, str]:
    """Two public subnets (the second behind an ACL that denies 22) and a private one; an ALB (80 → 8080)
    before two web instances, a Classic ELB (9443 → 9000) before an app instance: the ids by name."""
    ec2, elbv2, elb = (aws_client(s, endpoint) for s in ("ec2", "elbv2", "elb"))
    ids: dict[str, str] = {}
    vpc = ids["vpc"] = _id(ec2.create_vpc(CidrBlock="10.0.0.0/16"), "Vpc", "VpcId")
    for name, cidr, zone in (
        ("web-a", "10.0.0.0/24", "a"),
        ("web-b", "10.0.1.0/24", "b"),
        ("app", "10.0.2.0/24", "a"),
    ):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=REGION + zone)
        ids[name] = _id(subnet, "Subnet", "SubnetId")
    igw = ids["igw"] = _id(ec2.create_internet_gateway(), "InternetGateway", "InternetGatewayId")
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public = ids["rtb-public"] = _id(ec2.create_route_table(VpcId=vpc), "RouteTable", "RouteTableId")
    ec2.create_route(RouteTableId=public, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    for subnet in ("web-a", "web-b"):
        ec2.associate_route_table(RouteTableId=public, SubnetId=ids[subnet])

    acl = ids["acl-web-b"] = _id(ec2.create_network_acl(VpcId=vpc), "NetworkAcl", "NetworkAclId")
    for number, action, egress, ports in (
        (90, "deny", False, (22, 22)),
        (100, "allow", False, None),
        (100, "allow", True, None),
    ):
        entry: dict[str, Any] = (
            {"Protocol": "6", "PortRange": {"From": ports[0], "To": ports[1]}}
            if ports
            else {"Protocol": "-1"}
        )
        ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=number,
            RuleAction=action,
            Egress=egress,
            CidrBlock="0.0.0.0/0",
            **entry,
        )
    for existing in ec2.describe_network_acls()["NetworkAcls"]:
        for association in existing["Associations"]:
            if association["SubnetId"] == ids["web-b"]:
                ec2.replace_network_acl_association(
                    AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl
                )

    ops = ec2.create_managed_prefix_list(
        PrefixListName="ops", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "198.51.100.0/24"}]
    )
    ids["pl-ops"] = _id(ops, "PrefixList", "PrefixListId")
    aws_lists = {
        p["PrefixListName"]: p["PrefixListId"] for p in ec2.describe_managed_prefix_lists()["PrefixLists"]
    }
    ids["pl-s3"] = aws_lists[f"com.amazonaws.{REGION}.s3"]
    alb_group = ids["sg-alb"] = _group(ec2, vpc, "alb", _tcp(80, IpRanges=[{"CidrIp": "0.0.0.0/0"}]))
    elb_group = ids["sg-elb"] = _group(ec2, vpc, "elb", _tcp(9443, IpRanges=[{"CidrIp": "0.0.0.0/0"}]))
    web_group = ids["sg-web"] = _group(
        ec2,
        vpc,
        "web",
        _tcp(8080, UserIdGroupPairs=[{"GroupId": alb_group}]),
        _tcp(22, PrefixListIds=[{"PrefixListId": ids["pl-ops"]}]),
        _tcp(80, IpRanges=[{"CidrIp": "0.0.0.0/0"}]),
    )
    app_group = ids["sg-app"] = _group(
        ec2,
        vpc,
        "app",
        _tcp(5432, UserIdGroupPairs=[{"GroupId": web_group}]),
        _tcp(9000, UserIdGroupPairs=[{"GroupId": elb_group}]),
        _tcp(443, PrefixListIds=[{"PrefixListId": ids["pl-s3"]}]),
    )
    ids["web-1"] = _run(ec2, ids["web-a"], web_group, public=True)
    ids["web-2"] = _run(ec2, ids["web-b"], web_group, public=True)
    ids["web-3"] = _run(ec2, ids["web-a"], web_group, public=False)
    ids["app-1"] = _run(ec2, ids["app"], app_group, public=False)

    alb = elbv2.create_load_balancer(
        Name="web", Subnets=[ids["web-a"], ids["web-b"]], SecurityGroups=[alb_group], Scheme="internet-facing"
    )
    ids["alb"] = alb["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(
        Name="web", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance"
    )
    ids["tg"] = group["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=ids["tg"], Targets=[{"Id": ids["web-1"]}, {"Id": ids["web-2"]}])
    listener = elbv2.create_listener(
        LoadBalancerArn=ids["alb"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": ids["tg"]}],
    )
    ids["listener"] = listener["Listeners"][0]["ListenerArn"]
    elb.create_load_balancer(
        LoadBalancerName="app",
        Listeners=[
            {"Protocol": "TCP", "LoadBalancerPort": 9443, "InstanceProtocol": "TCP", "InstancePort": 9000}
        ],
        Subnets=[ids["web-a"], ids["web-b"]],
        SecurityGroups=[elb_group],
        Scheme="internet-facing",
    )
    elb.register_instances_with_load_balancer(
        LoadBalancerName="app", Instances=[{"InstanceId": ids["app-1"]}]
    )
    return ids


def _provider(endpoint: str, *regions: str, **session: str) -> AwsProvider:
    access = AwsAccess(
        regions or [REGION], endpoint_url=endpoint, session=lambda: boto3.session.Session(**session)
    )
    return AwsProvider(access, page_size=5)  # small pages: every paginated call turns pages


def _reachable(network: Any) -> set[tuple[str, str, int, str]]:
    return {
        (f.instance_id, f.edge, f.begin, f.steps[1].component_type.rsplit("::", 1)[-1])
        for f in analyze(topology_from_description(network)).findings
    }


def test_the_described_network_reaches_exactly_the_ports_its_groups_acls_and_load_balancers_open(moto):
    ids = build_web_vpc(moto)
    fleet = _provider(moto).describe(ACCOUNT)
    assert {i.instance_id for i in fleet.instances} == {ids[n] for n in ("web-1", "web-2", "web-3", "app-1")}
    assert fleet.network is not None
    findings = analyze(topology_from_description(fleet.network)).findings
    # (instance, edge, port, what the path enters through after the gateway)
    assert {(f.instance_id, f.edge, f.protocol, f.begin, f.end) for f in findings} == {
        (ids["web-1"], "IGW", "TCP", 22, 22),  # the ops prefix list, through the internet gateway
        (ids["web-1"], "IGW", "TCP", 80, 80),
        (ids["web-1"], "IGW", "TCP", 8080, 8080),  # through the ALB
        (ids["web-2"], "IGW", "TCP", 80, 80),  # 22 denied by its subnet's ACL
        (ids["web-2"], "IGW", "TCP", 8080, 8080),
        (
            ids["app-1"],
            "IGW",
            "TCP",
            9000,
            9000,
        ),  # through the Classic ELB; web-3 has no public IP, no target
    }
    assert _reachable(fleet.network) == {
        (ids["web-1"], "IGW", 22, "RouteTable"),
        (ids["web-1"], "IGW", 80, "RouteTable"),
        (ids["web-1"], "IGW", 8080, "LoadBalancer"),
        (ids["web-2"], "IGW", 80, "RouteTable"),
        (ids["web-2"], "IGW", 8080, "LoadBalancer"),
        (ids["app-1"], "IGW", 9000, "LoadBalancer"),
    }
    through_alb = next(f for f in findings if f.begin == 8080 and f.instance_id == ids["web-2"])
    assert [s.component_id for s in through_alb.steps][:5] == [
        ids["igw"],
        ids["alb"],
        ids["listener"],
        ids["tg"],
        ids["acl-web-b"],
    ]
    through_elb = next(f for f in findings if f.instance_id == ids["app-1"])
    assert [s.component_id for s in through_elb.steps][:2] == [ids["igw"], "app"]


def test_the_description_keeps_the_read_members_and_only_the_prefix_lists_in_use(moto):
    ids = build_web_vpc(moto)
    network = _provider(moto).describe(ACCOUNT).network
    assert network is not None
    assert set(network) <= {
        "Vpcs", "Subnets", "RouteTables", "InternetGateways", "NatGateways", "VpcPeeringConnections",
        "VpnGateways", "NetworkAcls", "SecurityGroups", "ManagedPrefixLists", "NetworkInterfaces",
        "LoadBalancers", "TargetGroups", "LoadBalancerDescriptions",
    }  # fmt: skip
    lists = {p["PrefixListId"]: p for p in network["ManagedPrefixLists"]}
    # the account's own list, and the one AWS-managed list a group refers to (moto has six of them)
    assert set(lists) == {ids["pl-ops"], ids["pl-s3"]}
    assert lists[ids["pl-ops"]]["Entries"] == [{"Cidr": "198.51.100.0/24"}]
    assert lists[ids["pl-s3"]]["Entries"]
    (alb,) = network["LoadBalancers"]
    assert [listener["ListenerArn"] for listener in alb["Listeners"]] == [ids["listener"]]
    assert alb["Listeners"][0]["Rules"]  # DescribeRules' default rule
    (group,) = network["TargetGroups"]
    assert sorted(t["Id"] for t in group["Targets"]) == sorted([ids["web-1"], ids["web-2"]])
    (interface,) = [
        i for i in network["NetworkInterfaces"] if i.get("Attachment", {}).get("InstanceId") == ids["web-1"]
    ]
    assert set(interface) <= {
        "NetworkInterfaceId", "InterfaceType", "SubnetId", "VpcId", "PrivateIpAddress", "Groups", "Attachment",
        "Association", "PrivateIpAddresses",
    }  # fmt: skip
    assert interface["Attachment"] == {"InstanceId": ids["web-1"], "DeviceIndex": 0}  # no AttachTime
    # JSON as it is, and the same digest when nothing changed
    assert description_digest(network) == description_digest(_provider(moto).describe(ACCOUNT).network or {})


def test_a_change_of_a_security_group_changes_the_digest_and_the_reachable_ports(moto):
    ids = build_web_vpc(moto)
    before = _provider(moto).describe(ACCOUNT).network or {}
    ec2 = aws_client("ec2", moto)
    ec2.authorize_security_group_ingress(
        GroupId=ids["sg-web"], IpPermissions=[_tcp(8443, IpRanges=[{"CidrIp": "0.0.0.0/0"}])]
    )
    after = _provider(moto).describe(ACCOUNT).network or {}
    assert description_digest(after) != description_digest(before)
    added = _reachable(after) - _reachable(before)
    assert added == {(ids["web-1"], "IGW", 8443, "RouteTable"), (ids["web-2"], "IGW", 8443, "RouteTable")}


def test_regions_are_merged_into_one_description_an_inter_region_peering_once(moto):
    ids = build_web_vpc(moto)
    eu = aws_client("ec2", moto, EU)
    eu_vpc = eu.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    us = aws_client("ec2", moto)
    peering = us.create_vpc_peering_connection(VpcId=ids["vpc"], PeerVpcId=eu_vpc, PeerRegion=EU)
    peering_id = peering["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    in_eu = [
        p["VpcPeeringConnectionId"] for p in eu.describe_vpc_peering_connections()["VpcPeeringConnections"]
    ]
    network = _provider(moto, REGION, EU).describe(ACCOUNT).network
    assert network is not None
    assert {ids["vpc"], eu_vpc} <= {v["VpcId"] for v in network["Vpcs"]}
    assert [p["VpcPeeringConnectionId"] for p in network["VpcPeeringConnections"]] == [peering_id]
    # moto lists the connection in both regions, as EC2 does: the merge keeps one
    assert in_eu == [peering_id]
    topology = topology_from_description(network)
    (connection,) = topology.vpc_peering_connections
    assert (connection.requester_vpc_id, connection.accepter_vpc_id) == (ids["vpc"], eu_vpc)


@pytest.fixture
def enforced_iam(moto):
    """moto checking every request against IAM from now on (back to no checks afterwards)."""
    yield lambda: httpx.post(f"{moto}/moto-api/reset-auth", content=b"0", timeout=30).raise_for_status()
    httpx.post(f"{moto}/moto-api/reset-auth", content=b"inf", timeout=30).raise_for_status()


def test_without_load_balancer_permissions_the_instances_are_described_and_the_network_is_not(
    moto, enforced_iam, caplog
):
    ids = build_web_vpc(moto)
    iam = aws_client("iam", moto)
    iam.create_user(UserName="scanner")
    iam.put_user_policy(
        UserName="scanner",
        PolicyName="ec2-only",
        PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*", '
        '"ec2:GetManagedPrefixListEntries", "kms:*"], "Resource": "*"}]}',
    )
    key = iam.create_access_key(UserName="scanner")["AccessKey"]
    enforced_iam()
    provider = _provider(
        moto, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    with caplog.at_level(logging.WARNING, logger="vigil.fleet"):
        fleet = provider.describe(ACCOUNT)
    assert {i.instance_id for i in fleet.instances} == {ids[n] for n in ("web-1", "web-2", "web-3", "app-1")}
    assert fleet.network is None
    assert fleet.network_error is not None and "access denied" in fleet.network_error
    (record,) = [r for r in caplog.records if r.name == "vigil.fleet"]
    assert "elasticloadbalancing:DescribeLoadBalancers" in record.getMessage()
    assert "access denied" in record.getMessage()
