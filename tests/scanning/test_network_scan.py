"""Network reachability scans in the fleet service, on both store backends, with the real findings service:
a fleet file's `network:` section analysed on its schedule and after a change, NETWORK_REACHABILITY findings
with their lifecycle, NETWORK coverage, package findings' Inspector scores lowered where nothing is
reachable, and a listening process named in both kinds of findings."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from tests.scanning.fleetkit import ACCOUNT, instance, volume
from tests.support.cli import vigil

from vigil.findings.service import FindingsService
from vigil.findings.service.exposures import FindingExposures
from vigil.findings.service.listing import finding_json, select_findings
from vigil.fleet import discovery
from vigil.fleet.instances import get_instance
from vigil.fleet.providers import FleetDescription
from vigil.scanning.operations import FleetOperations
from vigil.store.engine import transaction
from vigil.store.findings import FindingRow
from vigil.store.network import ListenerReportRow, NetworkDescriptionRow

WEB, VPN, APP = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"
URLLIB3 = Path(__file__).parent / "fixtures" / "urllib3"
URLLIB3_CVE = "CVE-2023-43804"
VPC, IGW = "vpc-0a1b2c3d4e5f60001", "igw-0a1b2c3d4e5f60001"
PUBLIC, PRIVATE = "subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"
WEB_SG, VPN_SG, APP_SG = "sg-0a1b2c3d4e5f60001", "sg-0a1b2c3d4e5f60002", "sg-0a1b2c3d4e5f60003"


def _ingress(protocol: str, port: int, cidr: str | None = None, group: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"IpProtocol": protocol, "FromPort": port, "ToPort": port}
    rule["IpRanges"] = [{"CidrIp": cidr}] if cidr else []
    rule["UserIdGroupPairs"] = [{"GroupId": group}] if group else []
    return rule


def _interface(eni: str, instance_id: str, subnet: str, address: str, group: str, public: str | None):
    interface: dict[str, Any] = {
        "NetworkInterfaceId": eni,
        "SubnetId": subnet,
        "VpcId": VPC,
        "PrivateIpAddress": address,
        "Groups": [{"GroupId": group}],
        "Attachment": {"InstanceId": instance_id, "DeviceIndex": 0},
    }
    if public:
        interface["Association"] = {"PublicIp": public}
    return interface


NETWORK: dict[str, Any] = {
    "Vpcs": [{"VpcId": VPC, "CidrBlock": "10.0.0.0/16"}],
    "Subnets": [
        {"SubnetId": PUBLIC, "VpcId": VPC, "CidrBlock": "10.0.1.0/24"},
        {"SubnetId": PRIVATE, "VpcId": VPC, "CidrBlock": "10.0.2.0/24"},
    ],
    "InternetGateways": [{"InternetGatewayId": IGW, "Attachments": [{"VpcId": VPC, "State": "available"}]}],
    "RouteTables": [
        {
            "RouteTableId": "rtb-0a1b2c3d4e5f60001",
            "VpcId": VPC,
            "Associations": [{"Main": True}],
            "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"}],
        },
        {
            "RouteTableId": "rtb-0a1b2c3d4e5f60002",
            "VpcId": VPC,
            "Associations": [{"Main": False, "SubnetId": PUBLIC}],
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": IGW, "State": "active"},
            ],
        },
    ],
    "NetworkAcls": [
        {
            "NetworkAclId": "acl-0a1b2c3d4e5f60001",
            "VpcId": VPC,
            "IsDefault": True,
            "Associations": [],
            "Entries": [
                {
                    "RuleNumber": 100,
                    "Protocol": "-1",
                    "RuleAction": "allow",
                    "Egress": False,
                    "CidrBlock": "0.0.0.0/0",
                },
                {
                    "RuleNumber": 100,
                    "Protocol": "-1",
                    "RuleAction": "allow",
                    "Egress": True,
                    "CidrBlock": "0.0.0.0/0",
                },
            ],
        }
    ],
    "SecurityGroups": [
        {
            "GroupId": WEB_SG,
            "VpcId": VPC,
            "IpPermissions": [_ingress("tcp", 22, "0.0.0.0/0"), _ingress("tcp", 443, "0.0.0.0/0")],
        },
        {
            "GroupId": VPN_SG,
            "VpcId": VPC,
            "IpPermissions": [_ingress("udp", 500, "0.0.0.0/0"), _ingress("udp", 4500, "0.0.0.0/0")],
        },
        {"GroupId": APP_SG, "VpcId": VPC, "IpPermissions": [_ingress("tcp", 8080, group=WEB_SG)]},
    ],
    "NetworkInterfaces": [
        _interface("eni-0a1b2c3d4e5f60001", WEB, PUBLIC, "10.0.1.10", WEB_SG, "203.0.113.10"),
        _interface("eni-0a1b2c3d4e5f60002", VPN, PUBLIC, "10.0.1.20", VPN_SG, "203.0.113.20"),
        _interface("eni-0a1b2c3d4e5f60003", APP, PRIVATE, "10.0.2.30", APP_SG, None),
    ],
}


def _fleet(folder: Path, network: dict[str, Any]) -> Path:
    path = folder / "fleet.yaml"
    document = {
        "instances": [
            instance(WEB, [volume("images/web.qcow2", "vol-01")]),
            instance(VPN, [volume("images/vpn.qcow2", "vol-02")]),
            instance(APP, [volume("images/web.qcow2", "vol-03")]),
        ],
        "network": network,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _findings(world, instance_id: str) -> list[dict[str, Any]]:
    with world.services.sessions() as session:
        rows = session.execute(
            select_findings().where(FindingRow.account_id == ACCOUNT, FindingRow.resource_id == instance_id)
        ).all()
    return [finding_json(row) for row in rows]


def _network(world, instance_id: str) -> dict[tuple[str, int, int], dict[str, Any]]:
    found = {}
    for f in _findings(world, instance_id):
        if f["type"] == "NETWORK_REACHABILITY":
            details = f["networkReachabilityDetails"]
            ports = details["openPortRange"]
            found[(details["protocol"], ports["begin"], ports["end"])] = f
    return found


def _package(world, instance_id: str, vulnerability: str) -> dict[str, Any]:
    (found,) = [
        f
        for f in _findings(world, instance_id)
        if f.get("packageVulnerabilityDetails", {}).get("vulnerabilityId") == vulnerability
    ]
    return found


def test_network_findings_coverage_and_scores_follow_the_network_and_its_listeners(world, fleet_dir):
    recorder = FindingsService(world.services.sessions)
    world.services.findings = world.services.scanner.findings = recorder
    vigil("db", "import", str(URLLIB3), "--db", str(world.advisories.path))
    fleet = FleetOperations(world.services, world.executor)
    report = fleet.attach_local(ACCOUNT, str(_fleet(fleet_dir, NETWORK)))
    assert report.network_changed
    submitted = world.scheduler.tick()  # scans every instance, then analyses the account's network
    assert f"analyze_network:{ACCOUNT}" in submitted

    web = _network(world, WEB)
    assert set(web) == {("TCP", 22, 22), ("TCP", 443, 443)}
    ssh = web[("TCP", 22, 22)]
    assert ssh["title"] == "Port 22 is reachable from an Internet Gateway - TCP"
    assert ssh["severity"] == "MEDIUM" and web[("TCP", 443, 443)]["severity"] == "LOW"
    assert ssh["status"] == "ACTIVE"
    steps = [
        (s["componentType"], s["componentId"])
        for s in ssh["networkReachabilityDetails"]["networkPath"]["steps"]
    ]
    assert steps[0] == ("AWS::EC2::InternetGateway", IGW)
    assert ("AWS::EC2::SecurityGroup", WEB_SG) in steps
    assert steps[-2:] == [
        ("AWS::EC2::NetworkInterface", "eni-0a1b2c3d4e5f60001"),
        ("AWS::EC2::Instance", WEB),
    ]
    assert set(_network(world, VPN)) == {("UDP", 500, 500), ("UDP", 4500, 4500)}
    assert _network(world, APP) == {}  # private, and only the web tier's group may reach it

    # the Inspector score: lowered where no port is reachable from outside the VPC, and only there
    web_urllib3, app_urllib3 = _package(world, WEB, URLLIB3_CVE), _package(world, APP, URLLIB3_CVE)
    base = web_urllib3["inspectorScoreDetails"]["adjustedCvss"]
    assert "/AV:N/" in base["scoringVector"] and base["adjustments"] == []
    lowered = app_urllib3["inspectorScoreDetails"]["adjustedCvss"]
    assert lowered["scoringVector"] == base["scoringVector"].replace("/AV:N/", "/AV:A/")
    assert [a["metric"] for a in lowered["adjustments"]] == ["AV"]
    assert app_urllib3["inspectorScore"] == lowered["score"] < web_urllib3["inspectorScore"] == base["score"]
    assert app_urllib3["description"] == web_urllib3["description"]  # nothing listens: no text added

    # ListFindings filters and sorts them
    queries = world_queries(world)
    page = queries(
        {"filterCriteria": {"findingType": [{"comparison": "EQUALS", "value": "NETWORK_REACHABILITY"}],
                            "portRange": [{"beginInclusive": 20, "endInclusive": 30}]}}
    )  # fmt: skip
    assert [f["findingArn"] for f in page] == [ssh["findingArn"]]
    through = queries({"filterCriteria": {"componentId": [{"comparison": "EQUALS", "value": WEB_SG}]}})
    assert {(f["resources"][0]["id"], f["title"]) for f in through} == {
        (WEB, "Port 22 is reachable from an Internet Gateway - TCP"),
        (WEB, "Port 443 is reachable from an Internet Gateway - TCP"),
    }  # every path through the web tier's group, whatever its place in the path
    elsewhere = queries({"filterCriteria": {
        "componentId": [{"comparison": "NOT_EQUALS", "value": WEB_SG}],
        "findingType": [{"comparison": "EQUALS", "value": "NETWORK_REACHABILITY"}],
    }})  # fmt: skip
    assert {f["resources"][0]["id"] for f in elsewhere} == {VPN}
    typed = queries(
        {"filterCriteria": {"componentType": [{"comparison": "PREFIX", "value": "AWS::EC2::Internet"}]}}
    )
    assert len(typed) == 4
    udp = queries({"filterCriteria": {"networkProtocol": [{"comparison": "EQUALS", "value": "UDP"}]}})
    assert {f["resources"][0]["id"] for f in udp} == {VPN}
    scored = queries(
        {"filterCriteria": {"vulnerabilityId": [{"comparison": "EQUALS", "value": URLLIB3_CVE}]},
         "sortCriteria": {"field": "INSPECTOR_SCORE", "sortOrder": "ASC"}}
    )  # fmt: skip
    assert scored[0]["resources"][0]["id"] == APP
    low = queries({"filterCriteria": {"inspectorScore": [{"upperInclusive": lowered["score"]}],
                                      "vulnerabilityId": [{"comparison": "EQUALS", "value": URLLIB3_CVE}]}})  # fmt: skip
    assert [f["resources"][0]["id"] for f in low] == [APP]

    # coverage: a NETWORK entry per instance beside its PACKAGE one
    listed = world.services.coverage.listed([ACCOUNT])
    network = {c.instance.instance_id: c for c in listed if c.scan_type == "NETWORK"}
    assert set(network) == {WEB, VPN, APP}
    entry = network[WEB].to_json()
    assert entry["scanType"] == "NETWORK" and entry["scanStatus"] == {
        "statusCode": "ACTIVE",
        "reason": "SUCCESSFUL",
    }
    assert "scanMode" not in entry and entry["lastScannedAt"] == int(world.clock.now.timestamp())
    page = world.services.coverage.page(
        [ACCOUNT], {"scanType": [{"comparison": "EQUALS", "value": "NETWORK"}]}, max_results=2
    )
    rest = world.services.coverage.page(
        [ACCOUNT], {"scanType": [{"comparison": "EQUALS", "value": "NETWORK"}]}, next_token=page.next_token
    )
    assert [c.instance.instance_id for c in (*page.resources, *rest.resources)] == [WEB, VPN, APP]

    # the VPN's agent says pluto, of libreswan, listens on UDP 500: named in the network finding and in
    # libreswan's package findings; the analysis runs again at the next check
    with world.services.sessions() as session:
        record = get_instance(session, ACCOUNT, VPN)
    libreswan = next(
        p for p in world.services.inventories.get(record.inventory_hash).packages if p.name == "libreswan"
    )
    listener = {
        "protocol": "udp", "address": "0.0.0.0", "port": 500, "pid": 812, "process": "pluto",
        "executable": "/usr/libexec/ipsec/pluto",
        "package": {"name": "libreswan", "version": libreswan.version, "purl": libreswan.purl},
    }  # fmt: skip
    world.clock.advance(minutes=5)
    with transaction(world.services.sessions) as session:
        session.add(
            ListenerReportRow(
                account_id=ACCOUNT, instance_id=VPN, listeners=[listener], firewall=None,
                reported_at=world.clock.now,
            )
        )  # fmt: skip
    assert f"analyze_network:{ACCOUNT}" in world.scheduler.tick()
    isakmp = _network(world, VPN)[("UDP", 500, 500)]
    assert "pluto (/usr/libexec/ipsec/pluto) of package libreswan" in isakmp["description"]
    assert "no process listening" in _network(world, VPN)[("UDP", 4500, 4500)]["description"]
    exposed = [
        f
        for f in _findings(world, VPN)
        if any(
            p["name"] == "libreswan"
            for p in f.get("packageVulnerabilityDetails", {}).get("vulnerablePackages", [])
        )
    ]
    assert exposed and all(f["description"].startswith("Exposed: pluto") for f in exposed)
    view = FindingExposures(world.services.sessions).of({ACCOUNT}, exposed[0]["findingArn"])
    assert view["listening"] == [
        {"protocol": "UDP", "port": 500, "reachableFrom": ["IGW"], "process": "pluto", "pid": 812,
         "executable": "/usr/libexec/ipsec/pluto",
         "package": {"name": "libreswan", "version": libreswan.version, "purl": libreswan.purl}}
    ]  # fmt: skip
    assert view["reachableFromOutside"] is True
    network_view = FindingExposures(world.services.sessions).of({ACCOUNT}, isakmp["findingArn"])
    assert network_view["listeners"][0]["packageFindings"] == sorted(f["findingArn"] for f in exposed)
    try:
        FindingExposures(world.services.sessions).of({"999999999999"}, isakmp["findingArn"])
        raise AssertionError("another account read the exposure")
    except LookupError:
        pass

    # port 22 closed in the security group: discovery sees the change, its finding closes, 443's stays
    first_443 = web[("TCP", 443, 443)]
    changed = copy.deepcopy(NETWORK)
    changed["SecurityGroups"][0]["IpPermissions"] = [_ingress("tcp", 443, "0.0.0.0/0")]
    _fleet(fleet_dir, changed)
    world.clock.advance(hours=1)
    world.scheduler.tick()
    after = _network(world, WEB)
    assert after[("TCP", 22, 22)]["status"] == "CLOSED"
    assert after[("TCP", 443, 443)]["status"] == "ACTIVE"
    assert after[("TCP", 443, 443)]["firstObservedAt"] == first_443["firstObservedAt"]

    # opened again within 7 days: the same finding reopens, first observed when it first was
    _fleet(fleet_dir, NETWORK)
    world.clock.advance(hours=1)
    world.scheduler.tick()
    reopened = _network(world, WEB)[("TCP", 22, 22)]
    assert reopened["findingArn"] == ssh["findingArn"] and reopened["status"] == "ACTIVE"
    assert reopened["firstObservedAt"] == ssh["firstObservedAt"]

    # the period: analysed again after 24 hours without any change
    world.clock.advance(hours=23)
    assert f"analyze_network:{ACCOUNT}" not in world.scheduler.tick()
    before = _network(world, WEB)[("TCP", 443, 443)]
    world.clock.advance(hours=1, seconds=30)
    assert f"analyze_network:{ACCOUNT}" in world.scheduler.tick()
    seen = _network(world, WEB)[("TCP", 443, 443)]  # found again as it was: observed, not updated
    assert seen["lastObservedAt"] == int(world.clock.now.timestamp()) > before["lastObservedAt"]
    assert seen["updatedAt"] == before["updatedAt"] and seen["description"] == before["description"]


def world_queries(world):
    from tests.findings.service.conftest import Requester

    from vigil.findings.service.listing import FindingsQueries
    from vigil.findings.service.tokens import PageTokens

    queries = FindingsQueries(world.services.sessions, PageTokens(b"k" * 32), page_limit=100)

    def ask(request: dict[str, Any]) -> list[dict[str, Any]]:
        return queries.list_findings(Requester(ACCOUNT), {"maxResults": 100, **request}).items

    return ask


class _Provider:
    """A provider whose network reads succeed or fail as the test says."""

    kind = "local"

    def __init__(self) -> None:
        self.network: dict[str, Any] | None = NETWORK
        self.error: str | None = None

    def describe(self, account_id: str) -> FleetDescription:
        return FleetDescription((), (), self.network, network_error=self.error)

    def config(self) -> dict[str, Any]:
        return {"path": "unused"}


def test_a_network_that_cannot_be_read_now_keeps_the_last_description_and_one_gone_is_forgotten(world):
    provider = _Provider()
    first = discovery.attach(world.services.sessions, ACCOUNT, provider, world.clock.now)
    assert first.network_changed
    provider.network, provider.error = None, "elasticloadbalancing:DescribeLoadBalancers: access denied"
    kept = discovery.attach(world.services.sessions, ACCOUNT, provider, world.clock.advance(hours=1))
    assert not kept.network_changed
    with world.services.sessions() as session:
        row = session.get(NetworkDescriptionRow, (ACCOUNT, "local"))
        assert row is not None and row.description == NETWORK
    provider.error = None  # read, and there is no network any more
    gone = discovery.attach(world.services.sessions, ACCOUNT, provider, world.clock.advance(hours=1))
    assert gone.network_changed
    with world.services.sessions() as session:
        assert session.get(NetworkDescriptionRow, (ACCOUNT, "local")) is None
