"""A member's keys against every other operation the server serves (findings, filters, reports, coverage,
usage, the Vigil API's fleet routes), aimed at another member's instance, findings, filter, reports and
fleet file: each is refused or answers nothing of it, and nothing of the other member changes.

(The accounts group's operations are tried the same way in tests/api/test_member_isolation.py.)
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from tests.api.organization import build_organization
from tests.service.test_fleet_end_to_end import FIXTURES, WEB, _fleet_file, _until
from tests.support.cli import vigil
from tests.support.server import LiveServer, init_server

from vigil.api.inspector_ops import accounts, coverage, filters, findings, reports
from vigil.demo import build_demo_image

EVERYTHING = {"findingType": [{"comparison": "EQUALS", "value": "PACKAGE_VULNERABILITY"}]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Member B of an organization with a scanned instance, a filter, a findings report and an SBOM export;
    member A with nothing."""
    work = tmp_path_factory.mktemp("isolation")
    directory = work / "vigil"
    server = LiveServer(directory, init_server(directory))
    server.update_settings(schedule={"reevaluate": dt.timedelta(seconds=1)})
    vigil("db", "import", FIXTURES / "debian" / "DSA-list", "--db", directory / "advisories.db")
    server.start()
    org = build_organization(server)
    b = org.b
    fleet = _fleet_file(directory / "fleets" / b.account_id, build_demo_image(work / "images"))
    client = server.client(b)
    client.enable(resourceTypes=["EC2"])
    attached = server.request("PUT", "/vigil/v1/providers/local", json_body={"path": str(fleet)}, keys=b)
    assert attached.status_code == 200, attached.text
    queued = server.request("POST", "/vigil/v1/scans", json_body={"instanceId": WEB}, keys=b)
    assert queued.status_code == 202, queued.text
    scan = queued.json()

    def done():
        record = server.request("GET", f"/vigil/v1/scans/{scan['scanId']}", keys=b).json()
        return record if record["status"] not in ("QUEUED", "RUNNING") else None

    assert _until(done, "B's scan")["status"] == "SUCCEEDED"
    (directory / "exports" / "bucket-b").mkdir(parents=True)
    destination = {"bucketName": "bucket-b", "kmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/k"}
    state = {
        "findings": _all_findings(client),
        "filter": client.create_filter(action="NONE", name="b-watch", filterCriteria=EVERYTHING)["arn"],
        "report": client.create_findings_report(reportFormat="JSON", s3Destination=destination)["reportId"],
        "sbom": client.create_sbom_export(reportFormat="CYCLONEDX_1_4", s3Destination=destination)[
            "reportId"
        ],
        "scan": scan["scanId"],
        "fleet": str(fleet),
    }
    assert state["findings"]
    yield server, org, state
    server.stop()


def _all_findings(client):
    return sorted(
        (f["findingArn"], f["status"]) for page in client.get_paginator("list_findings").paginate()
        for f in page["findings"]
    )  # fmt: skip


def _refused(server, keys, operation, **kwargs):
    with pytest.raises(ClientError) as excinfo:
        getattr(server.client(keys), xform_name(operation))(**kwargs)
    return excinfo.value.response["Error"]["Code"]


def test_a_member_cannot_read_or_change_another_members_findings_filters_and_reports(world):
    server, org, state = world
    a, b = org.a, org.b
    client = server.client(a)
    arn = state["findings"][0][0]
    assert _all_findings(client) == []
    assert client.list_finding_aggregations(aggregationType="AWS_EC2_INSTANCE")["responses"] == []
    details = client.batch_get_finding_details(findingArns=[arn])
    assert details["findingDetails"] == [] and [e["findingArn"] for e in details["errors"]] == [arn]
    assert [f["arn"] for f in client.list_filters()["filters"]] == []
    for operation, kwargs in (
        ("UpdateFilter", {"filterArn": state["filter"], "action": "SUPPRESS"}),
        ("DeleteFilter", {"arn": state["filter"]}),
        ("GetFindingsReportStatus", {"reportId": state["report"]}),
        ("CancelFindingsReport", {"reportId": state["report"]}),
        ("GetSbomExport", {"reportId": state["sbom"]}),
        ("CancelSbomExport", {"reportId": state["sbom"]}),
    ):
        code = _refused(server, a, operation, **kwargs)
        assert code in ("AccessDeniedException", "ResourceNotFoundException", "ValidationException"), (
            operation
        )
    # A's own filter suppressing everything suppresses nothing of B's
    client.create_filter(action="SUPPRESS", name="a-everything", filterCriteria=EVERYTHING)
    assert _all_findings(server.client(b)) == state["findings"]


def test_a_members_report_or_export_holds_nothing_of_another_member(world):
    server, org, _ = world
    (server.dir / "exports" / "bucket-a").mkdir(exist_ok=True)
    destination = {"bucketName": "bucket-a", "kmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/k"}
    client = server.client(org.a)
    only_b = {"awsAccountId": [{"comparison": "EQUALS", "value": org.b.account_id}]}
    report = client.create_findings_report(
        reportFormat="JSON", s3Destination=destination, filterCriteria=only_b
    )
    status = _until(
        lambda: (
            (s := client.get_findings_report_status(reportId=report["reportId"]))["status"] != "IN_PROGRESS"
            and s
        ),
        "A's report",
    )
    assert status["status"] == "FAILED" and status["errorCode"] == "NO_FINDINGS_FOUND"
    written = [p for p in (server.dir / "exports" / "bucket-a").rglob("*") if p.is_file()]
    assert all(org.b.account_id not in p.read_text() for p in written)


def test_a_member_sees_no_coverage_usage_instances_scans_or_providers_of_another(world):
    server, org, state = world
    a, b = org.a, org.b
    client = server.client(a)
    assert client.list_coverage()["coveredResources"] == []
    assert client.list_coverage_statistics()["totalCounts"] == 0
    assert _refused(server, a, "ListUsageTotals", accountIds=[b.account_id]) == "AccessDeniedException"
    assert all(t["accountId"] == a.account_id for t in client.list_usage_totals()["totals"])
    for path in ("/vigil/v1/instances", "/vigil/v1/scans", "/vigil/v1/providers"):
        listed = server.request("GET", path, keys=a).json()
        assert WEB not in json.dumps(listed) and b.account_id not in json.dumps(listed), path
    assert server.request("GET", f"/vigil/v1/scans/{state['scan']}", keys=a).status_code == 404
    assert server.request("GET", f"/vigil/v1/instances/{WEB}", keys=a).status_code == 404
    assert server.request("POST", "/vigil/v1/scans", json_body={"instanceId": WEB}, keys=a).status_code == 404
    stolen = server.request("PUT", "/vigil/v1/providers/local", json_body={"path": state["fleet"]}, keys=a)
    assert (
        stolen.status_code == 403
    )  # B's fleet file is in B's folder: A cannot have B's disks read as its own
    assert server.request("DELETE", "/vigil/v1/providers/local", keys=a).status_code == 404
    arn = state["findings"][0][0]  # one of B's findings: its exposure is B's (and its administrator's)
    assert server.request("GET", f"/vigil/v1/findings/{arn}/exposure", keys=a).status_code == 404
    assert server.request("GET", f"/vigil/v1/findings/{arn}/exposure", keys=b).status_code == 200


def test_after_all_that_the_other_member_is_as_it_was(world):
    server, org, state = world
    client = server.client(org.b)
    assert _all_findings(client) == state["findings"]
    assert [f["arn"] for f in client.list_filters()["filters"]] == [state["filter"]]
    assert [r["resourceId"] for r in client.list_coverage()["coveredResources"] if r["resourceId"] == WEB]
    providers = server.request("GET", "/vigil/v1/providers", keys=org.b).json()["providers"]
    assert [p["config"]["path"] for p in providers] == [state["fleet"]]


def test_every_operation_the_server_serves_is_tried_by_one_isolation_test():
    tried_here = {
        "ListFindings", "ListFindingAggregations", "BatchGetFindingDetails", "ListFilters", "CreateFilter",
        "UpdateFilter", "DeleteFilter", "GetFindingsReportStatus", "CancelFindingsReport", "GetSbomExport",
        "CancelSbomExport", "CreateFindingsReport", "CreateSbomExport", "ListCoverage",
        "ListCoverageStatistics", "ListUsageTotals",
    }  # fmt: skip
    served = set()
    for group in (findings, filters, reports, coverage):
        served |= set(group.operations(*([None] * group.operations.__code__.co_argcount)))
    assert served <= tried_here
    accounts_group = set(accounts.operations(None, None))  # type: ignore[arg-type]
    assert not accounts_group & tried_here  # tried in tests/api/test_member_isolation.py
