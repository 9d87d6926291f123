"""The findings lifecycle (DESIGN §4) on both backends, with the clock moved by hand."""

from __future__ import annotations

from tests.findings.botocore_model import call_pages, violations
from tests.findings.service.conftest import ADMIN, MEMBER, Requester, instance

from vigil.api.inspector_ops import findings as findings_ops
from vigil.findings.model import epoch

WEB = instance("i-0a1b2c3d4e5f60001", tags={"Name": "web-01", "team": "blue"})


def _listed(queries, account=ADMIN):
    page = queries.list_findings(Requester(account), {})
    return {f["packageVulnerabilityDetails"]["vulnerabilityId"]: f for f in page.items}


def test_a_first_evaluation_makes_active_findings_in_inspectors_shape(scan, queries, clock):
    scan(WEB, "bullseye")
    listed = _listed(queries)
    assert len(listed) == 16
    for finding in listed.values():
        assert violations(finding) == []
        assert finding["status"] == "ACTIVE"
        assert finding["firstObservedAt"] == finding["lastObservedAt"] == epoch(clock.now)
    (resource,) = listed["CVE-2022-32221"]["resources"]
    assert resource["tags"] == {"Name": "web-01", "team": "blue"}
    assert resource["region"] == "us-east-1" and resource["partition"] == "aws"
    assert resource["details"]["awsEc2Instance"]["imageId"] == "ami-0123456789abcdef0"
    assert resource["details"]["awsEc2Instance"]["platform"] == "DEBIAN_11"


def test_seen_again_a_finding_keeps_its_arn_and_first_observation(scan, queries, clock):
    scan(WEB, "bullseye")
    first = _listed(queries)
    later = clock.advance(hours=24)
    scan(WEB, "bullseye")
    again = _listed(queries)
    assert {v: f["findingArn"] for v, f in again.items()} == {v: f["findingArn"] for v, f in first.items()}
    curl = again["CVE-2022-32221"]
    assert curl["firstObservedAt"] == first["CVE-2022-32221"]["firstObservedAt"]
    assert curl["lastObservedAt"] == epoch(later)
    assert curl["updatedAt"] == first["CVE-2022-32221"]["updatedAt"]  # nothing about it changed


def test_a_finding_gone_from_the_latest_evaluation_is_closed(scan, queries, clock):
    scan(WEB, "bullseye")
    closed_at = clock.advance(hours=2)
    scan(WEB, "patched")  # the kernel was replaced: its findings are remediated, curl's stay
    listed = _listed(queries)
    kernel = listed["CVE-2023-0266"]
    assert kernel["status"] == "CLOSED" and kernel["updatedAt"] == epoch(closed_at)
    assert listed["CVE-2022-32221"]["status"] == "ACTIVE"


def test_a_finding_back_within_seven_days_reopens_as_the_same_finding(scan, queries, clock):
    scan(WEB, "bullseye")
    opened = _listed(queries)["CVE-2023-0266"]
    clock.advance(hours=1)
    scan(WEB, "patched")
    clock.advance(days=6, hours=23)
    scan(WEB, "bullseye")
    back = _listed(queries)["CVE-2023-0266"]
    assert back["status"] == "ACTIVE"
    assert back["findingArn"] == opened["findingArn"]
    assert back["firstObservedAt"] == opened["firstObservedAt"]


def test_a_finding_back_after_seven_days_starts_over(scan, queries, clock):
    scan(WEB, "bullseye")
    clock.advance(hours=1)
    scan(WEB, "patched")
    returned = clock.advance(days=7, hours=1)
    scan(WEB, "bullseye")
    back = _listed(queries)["CVE-2023-0266"]
    assert back["status"] == "ACTIVE" and back["firstObservedAt"] == epoch(returned)


def test_closed_remediated_findings_are_deleted_after_30_days(scan, findings, queries, clock):
    scan(WEB, "bullseye")
    clock.advance(hours=1)
    scan(WEB, "patched")
    assert findings.purge(clock.advance(days=29, hours=23)) == 0
    purged = findings.purge(clock.advance(hours=2))
    assert purged == 13  # the kernel's findings
    assert "CVE-2023-0266" not in _listed(queries) and "CVE-2022-32221" in _listed(queries)


def test_findings_of_a_terminated_instance_close_and_go_after_3_days(scan, findings, queries, clock):
    scan(WEB, "bullseye")
    scan(instance("i-0a1b2c3d4e5f60002"), "alma")
    findings.close_instance(ADMIN, WEB.instance_id, clock.advance(hours=1), reason="RESOURCE_TERMINATED")
    statuses = {
        f["resources"][0]["id"]: f["status"] for f in queries.list_findings(Requester(ADMIN), {}).items
    }
    assert statuses == {WEB.instance_id: "CLOSED", "i-0a1b2c3d4e5f60002": "ACTIVE"}
    assert findings.purge(clock.advance(days=2, hours=23)) == 0
    assert findings.purge(clock.advance(hours=2)) == 16
    assert [f["resources"][0]["id"] for f in queries.list_findings(Requester(ADMIN), {}).items] == [
        "i-0a1b2c3d4e5f60002"
    ]


def test_closing_an_instance_shortens_the_wait_of_its_remediated_findings(scan, findings, clock):
    scan(WEB, "bullseye")
    clock.advance(hours=1)
    scan(WEB, "patched")  # kernel findings closed: 30 days to go
    findings.close_instance(ADMIN, WEB.instance_id, clock.advance(days=1), reason="EXCLUDED_BY_TAG")
    assert findings.purge(clock.advance(days=3, hours=1)) == 16


def test_the_same_vulnerability_on_two_instances_and_accounts_is_two_findings(scan, queries):
    scan(WEB, "bullseye")
    scan(instance("i-0a1b2c3d4e5f60002"), "bullseye")
    scan(instance("i-0a1b2c3d4e5f60001", account=MEMBER), "bullseye")
    ops = findings_ops.operations(queries)
    admin = call_pages(ops, "ListFindings", Requester(ADMIN), "findings", maxResults=100)
    member = call_pages(ops, "ListFindings", Requester(MEMBER), "findings")
    assert len(admin) == 32 and len(member) == 16
    assert len({f["findingArn"] for f in admin + member}) == 48
    assert {f["awsAccountId"] for f in member} == {MEMBER}


def test_an_evaluation_of_another_instance_is_refused(findings, advisory_db, inventories, clock):
    from vigil.findings import evaluate

    evaluation = evaluate(
        inventories["alma"], advisory_db, now=clock.now, account_id=ADMIN, resource_id="i-x"
    )
    try:
        findings.record(WEB, evaluation, clock.now)
    except ValueError as exc:
        assert "is not a finding of" in str(exc)
    else:
        raise AssertionError("an evaluation of another instance was recorded")


def test_an_evaluation_without_findings_closes_every_open_one(scan, findings, queries, clock):
    from vigil.findings.evaluate import Evaluation

    scan(WEB, "bullseye")
    findings.record(WEB, Evaluation((), (), 0, clock.advance(hours=1)), clock.now)
    assert {f["status"] for f in _listed(queries).values()} == {"CLOSED"}
