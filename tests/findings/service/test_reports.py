"""Findings reports (CSV, JSON) and SBOM exports (CycloneDX 1.4, SPDX 2.3) written under the exports folder,
with their status and cancellation, through the handlers (checked against botocore's inspector2 model)."""

from __future__ import annotations

import csv
import json

import pytest
from tests.findings.botocore_model import call
from tests.findings.service.conftest import ADMIN, MEMBER, OTHER, instance

from vigil.api.context import Caller
from vigil.api.errors import ResourceNotFoundException, ValidationException
from vigil.api.inspector_ops import reports as reports_ops
from vigil.findings.service.reports import ReportsService

WEB = instance("i-0a1b2c3d4e5f60001", tags={"Name": '=HYPERLINK("x")'})
APP = instance("i-0a1b2c3d4e5f60003", account=MEMBER, tags={"team": "blue"})
STRANGER = instance("i-0a1b2c3d4e5f60009", account=OTHER)
ADMIN_CALLER = Caller(ADMIN, frozenset({MEMBER}))
KMS = "arn:aws:kms:us-east-1:111111111111:key/0000"


class Jobs:
    """The executor, run by hand: reports wait until the test runs them."""

    def __init__(self):
        self.waiting = []
        self.service = None

    def submit(self, report_id):
        self.waiting.append(report_id)

    def run(self):
        while self.waiting:
            self.service.run(self.waiting.pop(0))


class Inventories:
    """An InventorySource over the test's instances; it hands out whatever it holds, whoever asks."""

    def __init__(self, pairs):
        self.pairs = pairs
        self.asked = []

    def latest(self, account_ids, instance_ids=None):
        self.asked.append((sorted(account_ids), instance_ids))
        yield from self.pairs


@pytest.fixture
def exports(tmp_path):
    folder = tmp_path / "exports"
    (folder / "reports").mkdir(parents=True)
    return folder


@pytest.fixture
def jobs():
    return Jobs()


@pytest.fixture
def sources(inventories):
    return Inventories(
        [(WEB, inventories["bullseye"]), (APP, inventories["apps"]), (STRANGER, inventories["buster"])]
    )


@pytest.fixture
def ops(sessions, clock, exports, jobs, sources):
    jobs.service = ReportsService(sessions, clock, exports, sources, jobs.submit)
    return reports_ops.operations(jobs.service)


@pytest.fixture
def fleet(scan):
    scan(WEB, "bullseye")
    scan(APP, "apps")
    scan(STRANGER, "buster")


def _destination(prefix="vigil/weekly"):
    return {"bucketName": "reports", "keyPrefix": prefix, "kmsKeyArn": KMS}


def test_a_json_report_holds_the_callers_findings_that_match(ops, jobs, fleet, exports):
    report_id = call(ops, "CreateFindingsReport", ADMIN_CALLER, reportFormat="JSON", s3Destination=_destination(),
                     filterCriteria={"severity": [{"comparison": "EQUALS", "value": "HIGH"}]})["reportId"]  # fmt: skip
    assert call(ops, "GetFindingsReportStatus", ADMIN_CALLER, reportId=report_id)["status"] == "IN_PROGRESS"
    jobs.run()
    status = call(ops, "GetFindingsReportStatus", ADMIN_CALLER, reportId=report_id)
    assert status["status"] == "SUCCEEDED" and status["destination"]["bucketName"] == "reports"
    document = json.loads((exports / "reports" / "vigil" / "weekly" / f"{report_id}.json").read_text())
    found = {
        (f["awsAccountId"], f["packageVulnerabilityDetails"]["vulnerabilityId"]) for f in document["findings"]
    }
    assert found == {(MEMBER, "CVE-2020-36518"), (MEMBER, "CVE-2022-24999")}
    assert document["findings"][0]["firstObservedAt"].endswith("Z")
    assert [p.name for p in (exports / "reports" / "vigil" / "weekly").iterdir()] == [f"{report_id}.json"]


def test_a_csv_report_has_a_row_per_finding_and_no_formula(ops, jobs, fleet, exports):
    report_id = call(
        ops, "CreateFindingsReport", Caller(ADMIN), reportFormat="CSV", s3Destination=_destination("")
    )["reportId"]
    jobs.run()
    with (exports / "reports" / f"{report_id}.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 and {r["AWS Account Id"] for r in rows} == {ADMIN}
    curl = next(r for r in rows if r["Vulnerability Id"] == "CVE-2022-32221")
    assert curl["Affected Packages"] == "curl; libcurl4" and curl["Resource ID"] == WEB.instance_id


def test_a_cell_a_spreadsheet_would_run_is_written_as_text(ops, jobs, fleet, exports, sessions):
    import io

    from vigil.findings.service.criteria import NO_CRITERIA
    from vigil.findings.service.exports import write_csv
    from vigil.findings.service.listing import iter_findings

    (finding, *_) = next(iter_findings(sessions, [ADMIN], NO_CRITERIA))
    out = io.StringIO()
    write_csv(out, [[finding | {"title": '=HYPERLINK("https://example.invalid")'}]])
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert row["Title"] == '\'=HYPERLINK("https://example.invalid")'


def test_a_report_without_its_bucket_folder_or_findings_fails_with_inspectors_code(ops, jobs, fleet, clock):
    missing = call(ops, "CreateFindingsReport", Caller(ADMIN), reportFormat="JSON",
                   s3Destination={"bucketName": "nowhere", "kmsKeyArn": KMS})["reportId"]  # fmt: skip
    clock.advance(seconds=1)
    empty = call(ops, "CreateFindingsReport", Caller(ADMIN), reportFormat="JSON", s3Destination=_destination(),
                 filterCriteria={"vulnerabilityId": [{"comparison": "EQUALS", "value": "CVE-1999-0001"}]})["reportId"]  # fmt: skip
    jobs.run()
    failed = call(ops, "GetFindingsReportStatus", Caller(ADMIN), reportId=missing)
    assert (failed["status"], failed["errorCode"]) == ("FAILED", "BUCKET_NOT_FOUND") and "nowhere" in failed[
        "errorMessage"
    ]
    nothing = call(ops, "GetFindingsReportStatus", Caller(ADMIN))  # the latest
    assert (nothing["reportId"], nothing["status"], nothing["errorCode"]) == (
        empty,
        "FAILED",
        "NO_FINDINGS_FOUND",
    )


def test_a_destination_outside_the_bucket_is_refused(ops):
    for prefix in ("../escape", "a/../../b", ".hidden", "a\\b"):
        with pytest.raises(ValidationException):
            ops["CreateFindingsReport"](
                Caller(ADMIN), {"reportFormat": "CSV", "s3Destination": _destination(prefix)}
            )
    with pytest.raises(ValidationException):
        ops["CreateFindingsReport"](
            Caller(ADMIN), {"reportFormat": "CSV", "s3Destination": {"bucketName": "..", "kmsKeyArn": KMS}}
        )


def test_a_cancelled_report_leaves_no_file(ops, jobs, fleet, exports):
    report_id = call(
        ops, "CreateFindingsReport", Caller(ADMIN), reportFormat="CSV", s3Destination=_destination()
    )["reportId"]
    assert call(ops, "CancelFindingsReport", Caller(ADMIN), reportId=report_id) == {"reportId": report_id}
    jobs.run()
    assert call(ops, "GetFindingsReportStatus", Caller(ADMIN), reportId=report_id)["status"] == "CANCELLED"
    assert not any(p.is_file() for p in (exports / "reports").rglob("*"))


def test_another_accounts_report_is_not_found(ops, fleet):
    report_id = call(
        ops, "CreateFindingsReport", Caller(ADMIN), reportFormat="CSV", s3Destination=_destination()
    )["reportId"]
    for operation in ("GetFindingsReportStatus", "CancelFindingsReport"):
        with pytest.raises(ResourceNotFoundException):
            ops[operation](Caller(MEMBER), {"reportId": report_id})


def test_reports_a_stopped_server_left_unfinished_fail_at_start(
    sessions, clock, exports, jobs, sources, ops, fleet
):
    report_id = call(
        ops, "CreateFindingsReport", Caller(ADMIN), reportFormat="CSV", s3Destination=_destination()
    )["reportId"]
    restarted = ReportsService(sessions, clock, exports, sources, jobs.submit)
    assert restarted.recover() == 1
    jobs.run()
    status = call(ops, "GetFindingsReportStatus", Caller(ADMIN), reportId=report_id)
    assert (status["status"], status["errorCode"]) == ("FAILED", "INTERNAL_ERROR")


def test_sbom_exports_in_cyclonedx_and_spdx_cover_only_the_callers_instances(ops, jobs, exports, sources):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    cyclonedx = call(
        ops,
        "CreateSbomExport",
        ADMIN_CALLER,
        reportFormat="CYCLONEDX_1_4",
        s3Destination=_destination("sbom"),
    )["reportId"]
    spdx = call(ops, "CreateSbomExport", ADMIN_CALLER, reportFormat="SPDX_2_3", s3Destination=_destination("sbom"),
                resourceFilterCriteria={"ec2InstanceTags": [{"comparison": "EQUALS", "key": "team", "value": "blue"}]})["reportId"]  # fmt: skip
    jobs.run()
    for report_id, report_format in ((cyclonedx, "CYCLONEDX_1_4"), (spdx, "SPDX_2_3")):
        status = call(ops, "GetSbomExport", ADMIN_CALLER, reportId=report_id)
        assert (status["status"], status["format"]) == ("SUCCEEDED", report_format)
    written = sorted(
        p.relative_to(exports / "reports" / "sbom") for p in (exports / "reports" / "sbom").rglob("*.json")
    )
    assert [str(p) for p in written] == sorted([f"{cyclonedx}/{ADMIN}/{WEB.instance_id}.json", f"{cyclonedx}/{MEMBER}/{APP.instance_id}.json",
                                                f"{spdx}/{MEMBER}/{APP.instance_id}.json"])  # fmt: skip
    bom = (exports / "reports" / "sbom" / cyclonedx / ADMIN / f"{WEB.instance_id}.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_4).validate_str(bom) is None
    assert json.loads(bom)["specVersion"] == "1.4"
    document = parse_file(str(exports / "reports" / "sbom" / spdx / MEMBER / f"{APP.instance_id}.json"))
    assert validate_full_spdx_document(document) == [] and document.creation_info.spdx_version == "SPDX-2.3"
    assert all(OTHER not in accounts for accounts, _ in sources.asked)


def test_an_sbom_export_asks_the_source_for_the_named_instances_only(ops, jobs, sources):
    report_id = call(ops, "CreateSbomExport", Caller(ADMIN), reportFormat="SPDX_2_3", s3Destination=_destination(),
                     resourceFilterCriteria={"resourceId": [{"comparison": "EQUALS", "value": "i-0000000000000000f"}]})["reportId"]  # fmt: skip
    jobs.run()
    assert sources.asked == [([ADMIN], ["i-0000000000000000f"])]
    status = call(ops, "GetSbomExport", Caller(ADMIN), reportId=report_id)
    assert (status["status"], status["errorCode"]) == ("FAILED", "NO_FINDINGS_FOUND")
    with pytest.raises(ResourceNotFoundException):
        ops["CancelSbomExport"](Caller(MEMBER), {"reportId": report_id})
