"""`ListCoverage`, `ListCoverageStatistics` and `ListUsageTotals` as handlers: requests that botocore's
inspector2 model accepts, answers in its output shapes that boto3's parser reads, for the accounts the
caller may see."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.parsers import create_parser
from botocore.validate import ParamValidator
from tests.findings.botocore_model import MODEL, violations
from tests.scanning.fleetkit import ACCOUNT, OTHER, attach, instance, volume, write_fleet

from vigil.api.context import Caller
from vigil.api.errors import AccessDeniedException, ValidationException
from vigil.api.inspector_ops.coverage import operations
from vigil.scanning.usage import UsageReports

WEB, VPN, STOPPED, WINDOWS, BIG, GONE, BOOTING = (f"i-0a1b2c3d4e5f6000{n}" for n in range(1, 8))
ADMIN = Caller(ACCOUNT, frozenset({OTHER}))
MEMBER = Caller(OTHER)


@pytest.fixture
def fleet(world, fleet_dir):
    """Seven instances of ACCOUNT, each with another reason, and one of OTHER; the running ones scanned."""
    big = [volume("images/vpn.qcow2", f"vol-b{i}", device=f"/dev/xvd{chr(97 + i)}") for i in range(8)]
    attach(world, write_fleet(fleet_dir / "fleet.yaml", [
        instance(WEB, [volume("images/web.qcow2", "vol-01")], tags={"Team": "web"}, imageId="ami-0123456789abcdef0"),
        instance(VPN, [volume("images/vpn.qcow2", "vol-02")], tags={"Team": "net", "InspectorEc2Exclusion": ""}),
        instance(STOPPED, [volume("images/vpn.qcow2", "vol-03")], state="stopped", tags={"Team": "net"}),
        instance(WINDOWS, [volume("images/vpn.qcow2", "vol-04")], platform="WINDOWS"),
        instance(BIG, big),
        instance(GONE, [], state="terminated"),
        instance(BOOTING, [volume("images/vpn.qcow2", "vol-05")], state="pending"),
    ]))  # fmt: skip
    attach(
        world,
        write_fleet(fleet_dir / "other.yaml", [instance(WEB, [volume("images/web.qcow2", "vol-09")])]),
        OTHER,
    )
    world.scheduler.tick()
    handlers = operations(world.services.coverage, UsageReports(world.services.sessions, world.clock))
    return world, handlers


def _call(handlers, name, caller, request):
    operation = MODEL.operation_model(name)
    report = ParamValidator().validate(request, operation.input_shape)
    assert not report.has_errors(), report.generate_report()
    response = handlers[name](caller, request)
    assert violations(response, operation.output_shape, name) == []
    body = {"status_code": 200, "headers": {}, "body": json.dumps(response).encode()}
    create_parser("rest-json").parse(body, operation.output_shape)  # boto3 reads it
    return response


def _ids(response):
    return [(r["accountId"], r["resourceId"]) for r in response["coveredResources"]]


def _reasons(handlers, caller, criteria):
    response = _call(handlers, "ListCoverage", caller, {"filterCriteria": criteria})
    return sorted(r["resourceId"] for r in response["coveredResources"] if r["accountId"] == ACCOUNT)


def test_every_instance_is_covered_with_its_reason_and_metadata_in_inspectors_shape(fleet):
    world, handlers = fleet
    response = _call(handlers, "ListCoverage", Caller(ACCOUNT), {})
    by_id = {r["resourceId"]: r for r in response["coveredResources"]}
    assert {i: (r["scanStatus"]["statusCode"], r["scanStatus"]["reason"]) for i, r in by_id.items()} == {
        WEB: ("ACTIVE", "SUCCESSFUL"), VPN: ("INACTIVE", "EXCLUDED_BY_TAG"),
        STOPPED: ("INACTIVE", "EC2_INSTANCE_STOPPED"), WINDOWS: ("INACTIVE", "UNSUPPORTED_OS"),
        BIG: ("INACTIVE", "AGENTLESS_INSTANCE_STORAGE_LIMIT_EXCEEDED"), GONE: ("INACTIVE", "RESOURCE_TERMINATED"),
        BOOTING: ("ACTIVE", "PENDING_INITIAL_SCAN"),
    }  # fmt: skip
    web = by_id[WEB]
    assert web["resourceMetadata"] == {"ec2": {"tags": {"Team": "web"}, "platform": "LINUX",
                                               "amiId": "ami-0123456789abcdef0"}}  # fmt: skip
    assert (web["resourceType"], web["scanType"], web["scanMode"]) == (
        "AWS_EC2_INSTANCE",
        "PACKAGE",
        "EC2_AGENTLESS",
    )
    assert web["lastScannedAt"] == int(world.clock.now.timestamp()) and "lastScannedAt" not in by_id[BOOTING]


def test_a_member_sees_only_itself_and_the_administrator_its_members(fleet):
    _, handlers = fleet
    assert _ids(_call(handlers, "ListCoverage", MEMBER, {})) == [(OTHER, WEB)]
    assert len(_ids(_call(handlers, "ListCoverage", ADMIN, {}))) == 8
    hidden = {"accountId": [{"comparison": "EQUALS", "value": ACCOUNT}]}
    assert _ids(_call(handlers, "ListCoverage", MEMBER, {"filterCriteria": hidden})) == []


def test_filters_combine_as_inspector_documents_them(fleet):
    world, handlers = fleet
    now = world.clock.now

    def equals(*values):
        return [{"comparison": "EQUALS", "value": v} for v in values]

    assert _reasons(handlers, ADMIN, {"scanStatusCode": equals("ACTIVE")}) == [WEB, BOOTING]
    assert _reasons(handlers, ADMIN, {"scanStatusCode": [{"comparison": "NOT_EQUALS", "value": "INACTIVE"}],
                                      "accountId": equals(ACCOUNT)}) == [WEB, BOOTING]  # fmt: skip
    assert _reasons(handlers, ADMIN, {"resourceId": equals(WEB, VPN)}) == [WEB, VPN]
    assert _reasons(handlers, ADMIN, {"scanStatusReason": equals("EXCLUDED_BY_TAG", "UNSUPPORTED_OS")}) == [
        VPN, WINDOWS,
    ]  # fmt: skip
    assert _reasons(handlers, ADMIN, {"ec2InstanceTags": [{"comparison": "EQUALS", "key": "Team", "value": "net"}]}) == [
        VPN, STOPPED,
    ]  # fmt: skip
    assert _reasons(handlers, ADMIN, {"ec2InstanceTags": [{"comparison": "EQUALS", "key": "Team"}]}) == [
        WEB, VPN, STOPPED,
    ]  # fmt: skip
    scanned = {"lastScannedAt": [{"startInclusive": now - dt.timedelta(minutes=1), "endInclusive": now}]}
    assert _reasons(handlers, ADMIN, scanned) == [WEB]
    later = {"lastScannedAt": [{"startInclusive": now + dt.timedelta(seconds=1)}]}
    assert _reasons(handlers, ADMIN, later) == []
    assert _reasons(handlers, ADMIN, {"resourceType": equals("AWS_ECR_CONTAINER_IMAGE")}) == []
    assert (
        len(_reasons(handlers, ADMIN, {"ecrRepositoryName": [{"comparison": "NOT_EQUALS", "value": "x"}]}))
        == 7
    )
    assert _reasons(handlers, ADMIN, {"scanMode": equals("EC2_SSM_AGENT_BASED")}) == []


def test_pages_follow_each_other_with_next_token(fleet):
    _, handlers = fleet
    seen, token = [], None
    while True:
        request = {"maxResults": 3, **({"nextToken": token} if token else {})}
        response = _call(handlers, "ListCoverage", ADMIN, request)
        seen += _ids(response)
        token = response.get("nextToken")
        if token is None:
            break
    assert seen == _ids(_call(handlers, "ListCoverage", ADMIN, {})) and len(seen) == 8


def test_a_filter_or_token_that_cannot_be_applied_is_a_validation_exception_naming_the_field(fleet):
    _, handlers = fleet
    with pytest.raises(ValidationException) as raised:
        handlers["ListCoverage"](
            ADMIN, {"filterCriteria": {"scanStatusCode": [{"comparison": "PREFIX", "value": "A"}]}}
        )
    assert raised.value.fields[0].name == "filterCriteria.scanStatusCode[0].comparison"
    with pytest.raises(ValidationException) as raised:
        handlers["ListCoverage"](ADMIN, {"nextToken": "not-a-token"})
    assert raised.value.fields[0].name == "nextToken" and raised.value.reason == "FIELD_VALIDATION_FAILED"
    with pytest.raises(ValidationException):
        handlers["ListCoverageStatistics"](ADMIN, {"groupBy": "COLOUR"})


def test_statistics_count_the_matching_resources_five_groups_a_page(fleet):
    _, handlers = fleet
    assert _call(handlers, "ListCoverageStatistics", ADMIN, {}) == {"totalCounts": 8}
    by_code = _call(handlers, "ListCoverageStatistics", ADMIN, {"groupBy": "SCAN_STATUS_CODE"})
    assert by_code == {"totalCounts": 8, "countsByGroup": [  # ACTIVE, then INACTIVE
        {"count": 3, "groupKey": "SCAN_STATUS_CODE"}, {"count": 5, "groupKey": "SCAN_STATUS_CODE"}]}  # fmt: skip
    first = _call(handlers, "ListCoverageStatistics", ADMIN, {"groupBy": "SCAN_STATUS_REASON"})
    second = _call(handlers, "ListCoverageStatistics", ADMIN,
                   {"groupBy": "SCAN_STATUS_REASON", "nextToken": first["nextToken"]})  # fmt: skip
    counts = [g["count"] for g in first["countsByGroup"] + second["countsByGroup"]]
    assert (
        len(first["countsByGroup"]) == 5
        and sum(counts) == 8
        and len(counts) == 7
        and "nextToken" not in second
    )
    by_account = _call(handlers, "ListCoverageStatistics", ADMIN, {
        "groupBy": "ACCOUNT_ID", "filterCriteria": {"scanStatusCode": [{"comparison": "EQUALS", "value": "ACTIVE"}]}})  # fmt: skip
    assert by_account["totalCounts"] == 3 and [g["count"] for g in by_account["countsByGroup"]] == [2, 1]
    assert _call(handlers, "ListCoverageStatistics", MEMBER, {"groupBy": "RESOURCE_TYPE"}) == {
        "totalCounts": 1, "countsByGroup": [{"count": 1, "groupKey": "RESOURCE_TYPE"}]}  # fmt: skip
    assert _call(handlers, "ListCoverageStatistics", ADMIN, {"groupBy": "ECR_REPOSITORY_NAME"}) == {
        "totalCounts": 8
    }


def test_usage_counts_the_hours_each_instance_was_actively_covered_over_30_days(fleet):
    world, handlers = fleet
    world.clock.advance(hours=10)
    world.scheduler.tick()
    totals = _call(handlers, "ListUsageTotals", ADMIN, {})["totals"]
    assert [t["accountId"] for t in totals] == [ACCOUNT, OTHER]
    (mine,) = totals[0]["usage"]
    assert mine == {
        "type": "EC2_AGENTLESS_INSTANCE_HOURS",
        "total": 20.0,
        "estimatedMonthlyCost": 0.0,
        "currency": "USD",
    }  # fmt: skip  (the web instance and the pending one: 10 h each)
    assert totals[1]["usage"][0]["total"] == 10.0
    world.clock.advance(days=31)
    world.scheduler.tick()
    assert _call(handlers, "ListUsageTotals", MEMBER, {})["totals"][0]["usage"][0]["total"] == 720.0


def test_usage_of_an_account_the_caller_may_not_see_is_refused_and_pages_are_one_account_each(fleet):
    _, handlers = fleet
    with pytest.raises(AccessDeniedException):
        handlers["ListUsageTotals"](MEMBER, {"accountIds": [ACCOUNT]})
    first = _call(handlers, "ListUsageTotals", ADMIN, {"maxResults": 1})
    second = _call(handlers, "ListUsageTotals", ADMIN, {"maxResults": 1, "nextToken": first["nextToken"]})
    assert [t["accountId"] for t in first["totals"] + second["totals"]] == [ACCOUNT, OTHER]
    assert "nextToken" not in second
