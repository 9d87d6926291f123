"""The fleet service as a user runs it: `vigil server init`, a local fleet attached with `vigil server fleet`,
`vigil server run` as a real process, and boto3 / the AWS CLI / the Vigil API as the only clients.

One server for the module: the demo instance (a Debian 11 web server behind on its updates, on a GPT disk
image), an instance excluded by tag and a stopped one; advisories from Debian's real DSA list, then its
then PyPI's records imported while the server runs (continuous re-evaluation).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from tests.support.cli import vigil
from tests.support.server import LiveServer, init_server, until

from vigil.demo import build_demo_image

FIXTURES = Path(__file__).resolve().parents[1] / "advisories" / "importers" / "fixtures"
WEB, EXCLUDED, STOPPED = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"
WAIT = 90.0  # seconds a scan or a re-evaluation may take here, at most


def _fleet_file(folder: Path, image: Path) -> Path:
    (folder / "images").mkdir(parents=True)
    shutil.copyfile(image, folder / "images" / "web-01.img")
    fleet = {
        "instances": [
            {"instanceId": WEB, "state": "running", "platform": "LINUX", "imageId": "ami-0123456789abcdef0",
             "tags": {"Name": "web-01"}, "volumes": [{"volumeId": "vol-01", "device": "/dev/xvda",
             "file": "images/web-01.img"}]},
            {"instanceId": EXCLUDED, "state": "running", "tags": {"InspectorEc2Exclusion": ""},
             "volumes": [{"volumeId": "vol-02", "device": "/dev/xvda", "file": "images/web-01.img"}]},
            {"instanceId": STOPPED, "state": "stopped",
             "volumes": [{"volumeId": "vol-03", "device": "/dev/xvda", "file": "images/web-01.img"}]},
        ]
    }  # fmt: skip
    path = folder / "fleet.yaml"
    path.write_text(json.dumps(fleet))  # YAML is a superset of JSON
    return path


def _until(condition, what: str, timeout: float = WAIT):
    return until(condition, what, timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("fleet-service")
    directory = work / "vigil"
    served = LiveServer(directory, init_server(directory))
    served.update_settings(schedule={"reevaluate": dt.timedelta(seconds=1)})
    vigil("db", "import", FIXTURES / "debian" / "DSA-list", "--db", directory / "advisories.db")
    fleet = _fleet_file(directory / "fleets" / "demo", build_demo_image(work / "images"))
    attached = json.loads(
        vigil("server", "fleet", directory, "--account", served.root.account_id, "--local", fleet).stdout
    )
    assert sorted(attached["new"]) == [WEB, EXCLUDED, STOPPED]
    served.start()
    served.client().enable(resourceTypes=["EC2"])
    yield served
    served.stop()


@pytest.fixture(scope="module")
def scanned(server):
    """The web instance scanned now (`POST /vigil/v1/scans`), and the scan's record."""
    queued = server.request("POST", "/vigil/v1/scans", json_body={"instanceId": WEB})
    assert queued.status_code == 202, queued.text
    scan_id = queued.json()["scanId"]

    def finished():
        record = server.request("GET", f"/vigil/v1/scans/{scan_id}").json()
        return record if record["status"] not in ("QUEUED", "RUNNING") else None

    record = _until(finished, f"scan {scan_id} of {WEB} finished")
    assert record["status"] == "SUCCEEDED", record
    return record


def _findings(server, keys=None, **criteria):
    client = server.client(keys)
    pages = client.get_paginator("list_findings").paginate(filterCriteria=criteria)
    return [finding for page in pages for finding in page["findings"]]


def _mine(value):
    return [{"comparison": "EQUALS", "value": value}]


def test_an_agentless_scan_gives_findings_in_inspectors_shape(server, scanned):
    findings = _findings(server, resourceId=_mine(WEB))
    assert len(findings) > 10
    ids = {f["packageVulnerabilityDetails"]["vulnerabilityId"] for f in findings}
    assert {"DEBIAN-11-END-OF-LIFE", "CVE-2023-23916"} <= ids  # curl 7.74.0-1.3+deb11u3: DSA-5365
    (curl,) = [f for f in findings if f["packageVulnerabilityDetails"]["vulnerabilityId"] == "CVE-2023-23916"]
    assert curl["awsAccountId"] == server.root.account_id and curl["status"] == "ACTIVE"
    assert curl["resources"][0]["details"]["awsEc2Instance"]["imageId"] == "ami-0123456789abcdef0"
    assert isinstance(curl["firstObservedAt"], dt.datetime)  # boto3 parsed Inspector's timestamps
    packages = curl["packageVulnerabilityDetails"]["vulnerablePackages"]
    assert {p["name"]: p["fixedInVersion"] for p in packages} == {
        "curl": "7.74.0-1.3+deb11u7", "libcurl4": "7.74.0-1.3+deb11u7",
    }  # fmt: skip


def test_coverage_says_why_each_instance_is_or_is_not_scanned(server, scanned):
    covered = {
        r["resourceId"]: r
        for page in server.client().get_paginator("list_coverage").paginate()
        for r in page["coveredResources"]
    }
    web = covered[WEB]
    assert (web["scanStatus"]["statusCode"], web["scanStatus"]["reason"]) == ("ACTIVE", "SUCCESSFUL")
    assert web["scanMode"] == "EC2_AGENTLESS" and web["lastScannedAt"] and web["scanType"] == "PACKAGE"
    assert covered[EXCLUDED]["scanStatus"] == {"statusCode": "INACTIVE", "reason": "EXCLUDED_BY_TAG"}
    assert covered[STOPPED]["scanStatus"] == {"statusCode": "INACTIVE", "reason": "EC2_INSTANCE_STOPPED"}
    counts = server.client().list_coverage_statistics(groupBy="SCAN_STATUS_REASON")
    assert counts["totalCounts"] == 3


def test_the_aws_cli_lists_the_same_findings(server, scanned):
    result = server.aws(
        "inspector2", "list-findings", "--filter-criteria",
        json.dumps({"resourceId": _mine(WEB), "severity": _mine("UNTRIAGED")}),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    listed = {f["findingArn"] for f in result.json()["findings"]}
    expected = {
        f["findingArn"] for f in _findings(server, resourceId=_mine(WEB), severity=_mine("UNTRIAGED"))
    }
    assert listed and listed == expected


def test_a_suppression_filter_suppresses_and_its_removal_restores(server, scanned):
    client = server.client()
    target = _mine("CVE-2023-23916")
    arn = client.create_filter(
        action="SUPPRESS", name="accepted-risk", filterCriteria={"vulnerabilityId": target}
    )["arn"]
    (finding,) = _findings(server, vulnerabilityId=target)
    assert finding["status"] == "SUPPRESSED"
    client.delete_filter(arn=arn)
    (finding,) = _findings(server, vulnerabilityId=target)
    assert finding["status"] == "ACTIVE"


def test_aggregations_and_details(server, scanned):
    client = server.client()
    by_instance = client.list_finding_aggregations(aggregationType="AWS_EC2_INSTANCE")["responses"]
    assert [r["ec2InstanceAggregation"]["instanceId"] for r in by_instance] == [WEB]
    arns = [f["findingArn"] for f in _findings(server, resourceId=_mine(WEB))][:3]
    details = client.batch_get_finding_details(findingArns=arns)
    assert {d["findingArn"] for d in details["findingDetails"]} == set(arns)


def test_another_account_sees_none_of_it(server, scanned):
    stranger = server.new_account("stranger")
    assert _findings(server, stranger) == []
    assert server.client(stranger).list_coverage()["coveredResources"] == []
    arn = _findings(server, resourceId=_mine(WEB))[0]["findingArn"]
    details = server.client(stranger).batch_get_finding_details(findingArns=[arn])
    assert details["findingDetails"] == [] and details["errors"][0]["findingArn"] == arn
    scan = server.request("POST", "/vigil/v1/scans", json_body={"instanceId": WEB}, keys=stranger)
    assert scan.status_code == 404 and scan.json()["message"] == f"no instance {WEB}"
    assert server.request("GET", "/vigil/v1/instances", keys=stranger).json() == {"instances": []}
    with pytest.raises(ClientError) as refused:
        server.client(stranger).get_member(accountId=server.root.account_id)
    assert refused.value.response["Error"]["Code"] in ("AccessDeniedException", "ResourceNotFoundException")


def test_a_new_advisory_version_reevaluates_the_stored_inventory_within_30_seconds(server, scanned):
    before = {
        f["packageVulnerabilityDetails"]["vulnerabilityId"] for f in _findings(server, resourceId=_mine(WEB))
    }
    scanned_at = server.client().list_coverage(filterCriteria={"resourceId": _mine(WEB)})["coveredResources"][
        0
    ]["lastScannedAt"]
    # the demo application's aiohttp 3.8.4 (under /opt: agentless scans read every path) meets PyPI's records
    vigil("db", "import", FIXTURES / "osv" / "pypi", "--db", server.dir / "advisories.db")

    def new_findings():
        now = {
            f["packageVulnerabilityDetails"]["vulnerabilityId"]
            for f in _findings(server, resourceId=_mine(WEB))
        }
        return now - before

    added = _until(new_findings, "findings from PyPI's advisories", timeout=30)
    assert "CVE-2023-37276" in added
    covered = server.client().list_coverage(filterCriteria={"resourceId": _mine(WEB)})["coveredResources"][0]
    assert covered["lastScannedAt"] > scanned_at
