"""The Inspector score's base and adjustment, an instance's exposure (reachable ranges through its host
firewall, listening packages), and NETWORK_REACHABILITY findings in botocore's inspector2 model."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from tests.findings.botocore_model import parsed_by_boto3, violations

from vigil.findings.exposure import exposure_of, firewall_admits, overlay
from vigil.findings.inspector import Resource
from vigil.findings.inspector_score import NVD, adjust, base_score, from_document, unadjusted
from vigil.findings.model import PACKAGE_VULNERABILITY
from vigil.findings.network import network_finding, network_key, severity
from vigil.findings.scoring import CvssScore
from vigil.network.results import Reachability, Step

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
# CVE-2023-44487 (HTTP/2 rapid reset): NVD's vector, and a vendor's (Debian's) lower one
NVD_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
DEBIAN_VECTOR = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H"
SCORES = (
    CvssScore(7.5, NVD_VECTOR, "3.1", NVD),
    CvssScore(5.9, DEBIAN_VECTOR, "3.1", "osv-debian"),
    CvssScore(5.0, "AV:N/AC:L/Au:N/C:N/I:N/A:P", "2.0", NVD),
)
RESOURCE = Resource("111122223333", "us-east-1", "i-0a1b2c3d4e5f60001", "DEBIAN_12")


def test_the_base_is_the_vendors_v3_score_else_nvds_and_ubuntu_has_none():
    assert base_score(SCORES, "debian").source == "osv-debian"
    assert base_score(SCORES[::2], "debian") == SCORES[0]  # no vendor score: NVD's
    ghsa = CvssScore(6.1, "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "3.1", "osv-pypi")
    assert base_score((ghsa,), "debian") == ghsa  # a language advisory's own, when nobody else scored it
    assert base_score(SCORES, "ubuntu") is None
    assert base_score(SCORES[2:], "debian") is None  # v2 only


def test_a_network_vector_is_lowered_only_where_nothing_is_reachable_and_never_for_an_exploited_one():
    base = unadjusted(SCORES[0])
    lowered = adjust(base, reachable=False, exploited=False)
    assert lowered.scoring_vector == NVD_VECTOR.replace("AV:N", "AV:A")
    assert lowered.score == 6.5  # the CVSS 3.1 calculator's score of the adjacent vector
    assert [m for m, _ in lowered.adjustments] == ["AV"]
    assert adjust(base, reachable=True, exploited=False) == base
    assert adjust(base, reachable=None, exploited=False) == base  # network not known
    assert adjust(base, reachable=False, exploited=True) == base  # CISA KEV: known to travel in networks
    local = unadjusted(CvssScore(7.8, "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "3.1", NVD))
    assert adjust(local, reachable=False, exploited=False) == local
    assert from_document({"adjustedCvss": lowered.to_json()}) == lowered


def _reachable(protocol: str, begin: int, end: int, edge: str = "IGW") -> dict[str, object]:
    return {"edge": edge, "protocol": protocol, "begin": begin, "end": end, "networkInterfaceId": "eni-1"}


DROP_ALL_BUT_443 = {
    "tool": "nftables",
    "inputPolicy": "drop",
    "rules": [{"protocol": "tcp", "from": 443, "to": 443, "action": "accept", "family": "any"}],
    "exact": True,
    "notes": [],
}


def test_the_host_firewall_takes_ranges_it_drops_entirely_out_of_the_exposure():
    assert firewall_admits(None, "TCP", 22, 22)
    assert not firewall_admits(DROP_ALL_BUT_443, "TCP", 22, 22)
    assert firewall_admits(DROP_ALL_BUT_443, "TCP", 400, 500)  # 443 is in it
    assert not firewall_admits(DROP_ALL_BUT_443, "UDP", 443, 443)
    unknown = {**DROP_ALL_BUT_443, "rules": [{**DROP_ALL_BUT_443["rules"][0], "action": "unknown"}]}
    assert firewall_admits(unknown, "TCP", 443, 443)  # not surely dropped
    assert exposure_of([_reachable("TCP", 22, 22)], [], DROP_ALL_BUT_443).reachable is False
    assert exposure_of([_reachable("TCP", 22, 22)], None, None).reachable is True
    assert exposure_of([], None, None).reachable is False
    assert exposure_of(None, None, None).reachable is None


NGINX = {"name": "nginx", "version": "1.22.1-9", "purl": "pkg:deb/debian/nginx@1.22.1-9?arch=amd64"}


def _package_finding(packages, *, exploited: bool = False) -> dict[str, object]:
    return {
        "type": PACKAGE_VULNERABILITY,
        "description": "HTTP/2 rapid reset.",
        "exploitAvailable": "YES" if exploited else "NO",
        "inspectorScoreDetails": {"adjustedCvss": unadjusted(SCORES[0]).to_json()},
        "packageVulnerabilityDetails": {"vulnerablePackages": packages},
    }


def test_a_listening_vulnerable_package_is_named_and_keeps_its_score():
    listeners = [
        {"protocol": "tcp", "address": "0.0.0.0", "port": 443, "pid": 10, "process": "nginx",
         "executable": "/usr/sbin/nginx", "package": {**NGINX, "purl": NGINX["purl"] + "&distro=debian-12"}},
        {"protocol": "tcp", "address": "0.0.0.0", "port": 8080, "pid": 11, "process": "java",
         "executable": "/usr/bin/java", "package": {"name": "openjdk-17-jre-headless"}},
    ]  # fmt: skip
    exposure = exposure_of(
        [_reachable("TCP", 443, 443), _reachable("TCP", 443, 443, "PEERING")], listeners, None
    )
    (listening,) = exposure.listening
    assert (listening.package, listening.port, listening.edges) == ("nginx", 443, ("IGW", "PEERING"))
    changed = overlay(_package_finding([{**NGINX, "purl": NGINX["purl"] + "&distro=debian-12"}]), exposure)
    assert changed == {
        "description": "Exposed: nginx (/usr/sbin/nginx) of package nginx listens on TCP port 443, reachable "
        "from an Internet Gateway, a VPC Peering Connection. HTTP/2 rapid reset."
    }
    other = overlay(_package_finding([{"name": "curl", "purl": "pkg:deb/debian/curl@7.88.1-10"}]), exposure)
    assert other is None  # reachable, curl does not listen: nothing changes

    closed = exposure_of([], listeners, None)
    lowered = overlay(_package_finding([NGINX]), closed)
    assert lowered is not None and lowered["inspectorScore"] == 6.5
    assert "description" not in lowered
    assert overlay(_package_finding([NGINX], exploited=True), closed) is None
    assert overlay(_package_finding([NGINX]), None) is None


REACHABILITY = Reachability(
    instance_id=RESOURCE.resource_id,
    network_interface_id="eni-0a1b2c3d4e5f60001",
    edge="IGW",
    protocol="TCP",
    begin=22,
    end=22,
    steps=(
        Step("igw-1", "AWS::EC2::InternetGateway"),
        Step("acl-1", "AWS::EC2::NetworkAcl"),
        Step("sg-1", "AWS::EC2::SecurityGroup"),
        Step("eni-0a1b2c3d4e5f60001", "AWS::EC2::NetworkInterface"),
        Step(RESOURCE.resource_id, "AWS::EC2::Instance"),
    ),
)


@pytest.mark.parametrize(
    ("edge", "begin", "end", "expected"),
    [("IGW", 22, 22, "MEDIUM"), ("IGW", 443, 443, "LOW"), ("IGW", 3000, 4000, "MEDIUM"),
     ("PEERING", 22, 22, "INFORMATIONAL"), ("VGW", 3389, 3389, "INFORMATIONAL")],
)  # fmt: skip
def test_network_severity(edge, begin, end, expected):
    reachability = Reachability("i-1", "eni-1", edge, "TCP", begin, end, ())
    assert severity(reachability).value == expected


def test_network_findings_are_in_the_model_stable_and_name_what_listens():
    listeners = [
        {"protocol": "tcp", "address": "0.0.0.0", "port": 22, "pid": 700, "process": "sshd",
         "executable": "/usr/sbin/sshd", "package": {"name": "openssh-server", "version": "1:9.2p1-2"}}
    ]  # fmt: skip
    finding = network_finding(REACHABILITY, RESOURCE, NOW, listeners=listeners, firewall=None)
    assert violations(finding) == []
    (parsed,) = parsed_by_boto3([finding])
    assert parsed["networkReachabilityDetails"]["openPortRange"] == {"begin": 22, "end": 22}
    assert parsed["title"] == "Port 22 is reachable from an Internet Gateway - TCP"
    assert "sshd (/usr/sbin/sshd) of package openssh-server 1:9.2p1-2 on TCP 22" in finding["description"]
    again = network_finding(REACHABILITY, RESOURCE, NOW + dt.timedelta(days=1))
    assert again["findingArn"] == finding["findingArn"]
    assert "agent" not in again["description"]  # no agent: nothing said of listeners
    quiet = network_finding(REACHABILITY, RESOURCE, NOW, listeners=[], firewall=DROP_ALL_BUT_443)
    assert "no process listening" in quiet["description"]
    assert "The host firewall (nftables) drops new connections there." in quiet["description"]
    through_peer = dataclasses.replace(REACHABILITY, steps=(Step("pcx-1", "AWS::EC2::VPCPeeringConnection"),
                                                           *REACHABILITY.steps[1:]))  # fmt: skip
    assert network_key(through_peer) != network_key(REACHABILITY)  # another path, another finding
    assert network_key(dataclasses.replace(REACHABILITY, end=23)) != network_key(REACHABILITY)
