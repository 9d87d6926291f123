"""Network reachability as a user sees it: the README's fleet file (a web tier behind an ALB, a private app
tier, a peered VPC) attached with `vigil server fleet`, `vigil server run` as a real process analysing it,
and boto3, the AWS CLI and the Vigil API as the only clients."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest
from tests.fleet.test_network_fleet_file import EXAMPLE, WEB_1, WEB_2
from tests.support.cli import vigil
from tests.support.server import LiveServer, init_server, until


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("network-service") / "vigil"
    served = LiveServer(directory, init_server(directory))
    served.update_settings(schedule={"reevaluate": dt.timedelta(seconds=1)})
    fleet = directory / "fleets" / "net" / "fleet.yaml"
    fleet.parent.mkdir(parents=True)
    fleet.write_text(EXAMPLE)
    attached = json.loads(
        vigil("server", "fleet", directory, "--account", served.root.account_id, "--local", fleet).stdout
    )
    assert attached["networkChanged"] is True
    served.start()
    served.client().enable(resourceTypes=["EC2"])
    yield served
    served.stop()


def _network_findings(server, keys=None, **criteria):
    criteria["findingType"] = [{"comparison": "EQUALS", "value": "NETWORK_REACHABILITY"}]
    pages = server.client(keys).get_paginator("list_findings").paginate(filterCriteria=criteria)
    return [finding for page in pages for finding in page["findings"]]


@pytest.fixture(scope="module")
def analysed(server):
    return until(
        lambda: len(_network_findings(server)) == 4 and _network_findings(server), "the analysis", 60
    )


def test_boto3_lists_each_reachable_port_with_its_path(server, analysed):
    seen = {
        (f["resources"][0]["id"], f["networkReachabilityDetails"]["protocol"],
         f["networkReachabilityDetails"]["openPortRange"]["begin"], f["title"])
        for f in analysed
    }  # fmt: skip
    assert seen == {
        (WEB_1, "TCP", 8080, "Port 8080 is reachable from an Internet Gateway - TCP"),
        (WEB_2, "TCP", 8080, "Port 8080 is reachable from an Internet Gateway - TCP"),
        (WEB_1, "TCP", 22, "Port 22 is reachable from a VPC Peering Connection - TCP"),
        (WEB_2, "TCP", 22, "Port 22 is reachable from a VPC Peering Connection - TCP"),
    }
    alb = next(f for f in analysed if f["networkReachabilityDetails"]["openPortRange"]["begin"] == 8080)
    types = [s["componentType"] for s in alb["networkReachabilityDetails"]["networkPath"]["steps"]]
    assert types[:4] == [
        "AWS::EC2::InternetGateway",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
    ]
    assert isinstance(alb["firstObservedAt"], dt.datetime) and alb["status"] == "ACTIVE"


def test_coverage_lists_a_network_entry_per_instance(server, analysed):
    covered = server.client().list_coverage(
        filterCriteria={"scanType": [{"comparison": "EQUALS", "value": "NETWORK"}]}
    )["coveredResources"]
    assert sorted(r["resourceId"] for r in covered) == sorted([WEB_1, WEB_2, "i-0a1b2c3d4e5f60003"])
    assert {(r["scanStatus"]["statusCode"], r["scanStatus"]["reason"]) for r in covered} == {
        ("ACTIVE", "SUCCESSFUL")
    }


def test_the_aws_cli_filters_by_port_range_and_protocol(server, analysed):
    criteria = {
        "portRange": [{"beginInclusive": 20, "endInclusive": 25}],
        "networkProtocol": [{"comparison": "EQUALS", "value": "TCP"}],
    }
    result = server.aws("inspector2", "list-findings", "--filter-criteria", json.dumps(criteria))
    assert result.returncode == 0, result.stderr
    assert sorted(f["resources"][0]["id"] for f in result.json()["findings"]) == [WEB_1, WEB_2]


def test_the_exposure_route_gives_the_path_to_its_account_only(server, analysed):
    finding = analysed[0]
    path = f"/vigil/v1/findings/{quote(finding['findingArn'], safe=':')}/exposure"
    answer = server.request("GET", path)
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert (
        view["findingType"] == "NETWORK_REACHABILITY" and view["instanceId"] == finding["resources"][0]["id"]
    )
    assert view["networkPath"] == json.loads(json.dumps(finding["networkReachabilityDetails"]["networkPath"]))
    assert view["listeners"] is None  # no agent: nothing known of what listens
    stranger = server.new_account("stranger")
    assert server.request("GET", path, keys=stranger).status_code == 404
    assert _network_findings(server, stranger) == []
