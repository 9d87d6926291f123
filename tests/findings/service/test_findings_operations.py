"""ListFindings, ListFindingAggregations and BatchGetFindingDetails as handlers, checked against botocore's
inspector2 model on the way in and out, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.findings.botocore_model import MODEL, call, call_pages
from tests.findings.service.conftest import ADMIN, MEMBER, OTHER, instance

from vigil.api.context import Caller
from vigil.api.errors import ValidationException
from vigil.api.inspector_ops import findings as findings_ops
from vigil.findings.service.criteria import MEMBERS
from vigil.findings.service.listing import SORT_FIELDS
from vigil.findings.service.tokens import PageTokens

WEB = instance("i-0a1b2c3d4e5f60001", tags={"Name": "web-01", "team": "blue"}, vpc_id="vpc-01")
DB = instance("i-0a1b2c3d4e5f60002", image_id="ami-0fedcba987654321f", tags={"Name": "db-01"})
APP = instance("i-0a1b2c3d4e5f60003", account=MEMBER, tags={"team": "blue"})
ADMIN_CALLER = Caller(ADMIN, frozenset({MEMBER}))


@pytest.fixture
def ops(queries):
    return findings_ops.operations(queries)


@pytest.fixture
def fleet(scan, clock):
    """Three instances of two accounts, scanned a day apart."""
    scan(WEB, "bullseye")
    clock.advance(days=1)
    scan(DB, "alma")
    scan(APP, "apps")
    scan(instance("i-0a1b2c3d4e5f60009", account=OTHER), "buster")


def _ids(response):
    return sorted(f["packageVulnerabilityDetails"]["vulnerabilityId"] for f in response["findings"])


def _list(ops, caller=ADMIN_CALLER, **request):
    """Every finding the request lists, page after page."""
    return {"findings": call_pages(ops, "ListFindings", caller, "findings", **request)}


def test_every_filter_criterion_of_the_model_is_known():
    assert set(MEMBERS) == set(MODEL.shape_for("FilterCriteria").members)
    assert set(SORT_FIELDS) == set(MODEL.shape_for("SortField").enum)


def _timestamp_members(shape, seen=None):
    seen = set() if seen is None else seen
    if shape.name in seen:
        return set()
    seen.add(shape.name)
    if shape.type_name == "structure":
        return {n for n, m in shape.members.items() if m.type_name == "timestamp"} | {
            t for m in shape.members.values() for t in _timestamp_members(m, seen)
        }
    if shape.type_name == "list":
        return _timestamp_members(shape.member, seen)
    if shape.type_name == "map":
        return _timestamp_members(shape.value, seen)
    return set()


def test_handlers_answer_every_timestamp_member_vigil_fills_as_a_datetime():
    from vigil.api.inspector_ops.findings import TIMESTAMP_MEMBERS

    filled = ("PackageVulnerabilityDetails", "ExploitabilityDetails", "AwsEc2InstanceDetails", "FindingDetail",
              "DateFilter")  # fmt: skip
    direct = {
        n
        for s in ("Finding", "Filter")
        for n, m in MODEL.shape_for(s).members.items()
        if m.type_name == "timestamp"
    }
    assert set().union(direct, *(_timestamp_members(MODEL.shape_for(s)) for s in filled)) == TIMESTAMP_MEMBERS


def test_a_caller_sees_its_own_findings_and_its_members_never_another_accounts(ops, fleet):
    every = _list(ops)["findings"]
    assert {f["awsAccountId"] for f in every} == {ADMIN, MEMBER}
    member = _list(ops, Caller(MEMBER))["findings"]
    assert {f["awsAccountId"] for f in member} == {MEMBER} and len(member) == 3
    asked_for_other = _list(
        ops, Caller(MEMBER), filterCriteria={"awsAccountId": [{"comparison": "EQUALS", "value": OTHER}]}
    )
    assert asked_for_other["findings"] == []


def test_string_filters_equal_prefix_and_not_equal(ops, fleet):
    high = _list(ops, filterCriteria={"severity": [{"comparison": "EQUALS", "value": "HIGH"}]})
    assert _ids(high) == ["CVE-2020-36518", "CVE-2022-1271", "CVE-2022-24999"]
    of_db = _list(ops, filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": DB.instance_id}],
                                       "severity": [{"comparison": "EQUALS", "value": "HIGH"}]})  # fmt: skip
    assert _ids(of_db) == ["CVE-2022-1271"]
    titles = _list(ops, filterCriteria={"title": [{"comparison": "PREFIX", "value": "CVE-2022-3"}]})
    assert _ids(titles) == ["CVE-2022-32221", "CVE-2022-3545", "CVE-2022-3623", "CVE-2022-36280"]
    not_kernel = _list(ops, filterCriteria={
        "resourceId": [{"comparison": "EQUALS", "value": WEB.instance_id}],
        "vulnerabilityId": [{"comparison": "NOT_EQUALS", "value": "CVE-2022-32221"},
                            {"comparison": "NOT_EQUALS", "value": "CVE-2022-43552"}],
        "title": [{"comparison": "PREFIX", "value": "CVE-2022-3"}, {"comparison": "PREFIX", "value": "CVE-2022-4"}],
    })  # fmt: skip
    assert _ids(not_kernel) == ["CVE-2022-3545", "CVE-2022-3623", "CVE-2022-36280", "CVE-2022-41218",
                                "CVE-2022-45934", "CVE-2022-4696", "CVE-2022-47929"]  # fmt: skip
    severity_prefix = _list(ops, filterCriteria={"severity": [{"comparison": "PREFIX", "value": "CRIT"}]})
    assert _ids(severity_prefix) == []  # the only CRITICAL finding is another account's


def test_date_number_tag_and_package_filters(ops, fleet, clock):
    day_two = {"startInclusive": clock.now - dt.timedelta(hours=1), "endInclusive": clock.now}
    assert {
        f["resources"][0]["id"] for f in _list(ops, filterCriteria={"firstObservedAt": [day_two]})["findings"]
    } == {DB.instance_id, APP.instance_id}
    as_epoch = {
        "startInclusive": (clock.now - dt.timedelta(days=2)).timestamp(),
        "endInclusive": (clock.now - dt.timedelta(hours=1)).timestamp(),
    }
    assert len(_list(ops, filterCriteria={"lastObservedAt": [as_epoch]})["findings"]) == 16
    scored = _list(ops, filterCriteria={"inspectorScore": [{"lowerInclusive": 7.0, "upperInclusive": 8.9}]})
    every = _list(ops)["findings"]
    in_range = [f for f in every if 7.0 <= f.get("inspectorScore", -1) <= 8.9]
    assert _ids(scored) == _ids({"findings": in_range}) and len(in_range) >= 2
    blue = _list(
        ops, filterCriteria={"resourceTags": [{"comparison": "EQUALS", "key": "team", "value": "blue"}]}
    )
    assert {f["resources"][0]["id"] for f in blue["findings"]} == {WEB.instance_id, APP.instance_id}
    named = _list(ops, filterCriteria={"resourceTags": [{"comparison": "EQUALS", "key": "Name"}]})
    assert {f["resources"][0]["id"] for f in named["findings"]} == {WEB.instance_id, DB.instance_id}
    curl = _list(ops, filterCriteria={"vulnerablePackages": [
        {"name": {"comparison": "EQUALS", "value": "libcurl4"}, "version": {"comparison": "PREFIX", "value": "7.74"}}]})  # fmt: skip
    with_libcurl = [f for f in every if any(p["name"] == "libcurl4" and p["version"].startswith("7.74")
                                            for p in f["packageVulnerabilityDetails"].get("vulnerablePackages", []))]  # fmt: skip
    assert _ids(curl) == _ids({"findings": with_libcurl}) and "CVE-2022-32221" in _ids(curl)
    same_package_only = _list(ops, filterCriteria={"vulnerablePackages": [
        {"name": {"comparison": "EQUALS", "value": "libcurl4"}, "version": {"comparison": "EQUALS", "value": "5.2.5"}}]})  # fmt: skip
    assert same_package_only["findings"] == []


def test_members_about_other_resources_are_absent_from_ec2_findings(ops, fleet):
    ecr = {"ecrImageRegistry": [{"comparison": "EQUALS", "value": "registry"}]}
    assert _list(ops, filterCriteria=ecr)["findings"] == []
    not_ecr = {"ecrImageRegistry": [{"comparison": "NOT_EQUALS", "value": "registry"}]}
    assert len(_list(ops, filterCriteria=not_ecr)["findings"]) == 20
    assert (
        _list(ops, filterCriteria={"portRange": [{"beginInclusive": 22, "endInclusive": 22}]})["findings"]
        == []
    )


def test_a_response_carries_at_most_the_25_findings_the_model_allows(ops, fleet):
    first = call(ops, "ListFindings", ADMIN_CALLER, maxResults=100)
    assert len(first["findings"]) == 20 and "nextToken" not in first
    call(ops, "ListFindings", ADMIN_CALLER, maxResults=10)
    big = call(ops, "ListFindings", Caller(ADMIN, frozenset({MEMBER, OTHER})), maxResults=100)
    assert len(big["findings"]) == 22 and "nextToken" not in big


def test_sorted_pages_follow_one_another_without_repeats(ops, fleet):
    seen, token, pages = [], None, 0
    while True:
        request = {"maxResults": 6, "sortCriteria": {"field": "INSPECTOR_SCORE", "sortOrder": "DESC"}}
        response = call(
            ops, "ListFindings", ADMIN_CALLER, **request, **({"nextToken": token} if token else {})
        )
        seen += response["findings"]
        pages += 1
        token = response.get("nextToken")
        if token is None:
            break
    assert pages == 4 and len(seen) == 20 == len({f["findingArn"] for f in seen})
    scores = [f.get("inspectorScore", -1) for f in seen]
    assert scores == sorted(scores, reverse=True)
    by_first = [
        f["firstObservedAt"]
        for f in _list(ops, sortCriteria={"field": "FIRST_OBSERVED_AT", "sortOrder": "ASC"})["findings"]
    ]
    assert by_first == sorted(by_first)


def test_a_page_token_cannot_be_forged_altered_or_used_by_another_account(ops, queries, fleet):
    first = call(ops, "ListFindings", ADMIN_CALLER, maxResults=2)
    token = first["nextToken"]
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    forged = PageTokens(b"another server's key").issue("ListFindings", ADMIN, {"maxResults": 2}, [5, "arn"])
    for bad in (altered, forged, "not a token", "x" * 5000):
        with pytest.raises(ValidationException) as refused:
            call(ops, "ListFindings", ADMIN_CALLER, maxResults=2, nextToken=bad)
        assert refused.value.fields[0].name == "nextToken"
    with pytest.raises(ValidationException, match="another query"):
        call(ops, "ListFindings", Caller(MEMBER), maxResults=2, nextToken=token)
    with pytest.raises(ValidationException, match="another query"):
        call(
            ops,
            "ListFindings",
            ADMIN_CALLER,
            maxResults=2,
            nextToken=token,
            filterCriteria={"severity": [{"comparison": "EQUALS", "value": "HIGH"}]},
        )
    assert len(call(ops, "ListFindings", ADMIN_CALLER, maxResults=2, nextToken=token)["findings"]) == 2


def test_malformed_criteria_are_refused_with_the_member_named(ops, fleet):
    with pytest.raises(ValidationException) as refused:
        ops["ListFindings"](
            ADMIN_CALLER, {"filterCriteria": {"severity": [{"comparison": "LIKE", "value": "HIGH"}]}}
        )
    assert refused.value.fields[0].name == "filterCriteria.severity[0].comparison"
    with pytest.raises(ValidationException):
        ops["ListFindings"](
            ADMIN_CALLER, {"filterCriteria": {"firstObservedAt": [{"startInclusive": "yesterday"}]}}
        )
    with pytest.raises(ValidationException):
        ops["ListFindings"](ADMIN_CALLER, {"sortCriteria": {"field": "TITLE", "sortOrder": "ASC"}})


def _aggregate(ops, kind, caller=ADMIN_CALLER, **request):
    return call(ops, "ListFindingAggregations", caller, aggregationType=kind, **request)["responses"]


def test_aggregations_by_account_ami_instance_type_package_and_title(ops, fleet):
    accounts = [r["accountAggregation"] for r in _aggregate(ops, "ACCOUNT")]
    assert [(a["accountId"], a["severityCounts"]["all"], a["severityCounts"]["high"]) for a in accounts] == [
        (ADMIN, 17, 1), (MEMBER, 3, 2)]  # fmt: skip
    amis = [
        r["amiAggregation"]
        for r in _aggregate(
            ops, "AMI", aggregationRequest={"amiAggregation": {"sortBy": "AFFECTED_INSTANCES"}}
        )
    ]
    assert [(a["ami"], a["accountId"], a["affectedInstances"]) for a in amis][:1] == [
        ("ami-0123456789abcdef0", ADMIN, 1)
    ]
    instances = _aggregate(ops, "AWS_EC2_INSTANCE", aggregationRequest={"ec2InstanceAggregation": {
        "instanceTags": [{"comparison": "EQUALS", "key": "team", "value": "blue"}], "sortBy": "HIGH"}})  # fmt: skip
    instances = [r["ec2InstanceAggregation"] for r in instances]
    assert [(i["instanceId"], i["severityCounts"]["high"]) for i in instances] == [
        (APP.instance_id, 2), (WEB.instance_id, 0)]  # fmt: skip
    assert instances[1]["instanceTags"] == {"Name": "web-01", "team": "blue"}
    assert instances[1]["operatingSystem"] == "DEBIAN_11" and instances[1]["ami"] == "ami-0123456789abcdef0"
    types = _aggregate(
        ops,
        "FINDING_TYPE",
        aggregationRequest={"findingTypeAggregation": {"findingType": "NETWORK_REACHABILITY"}},
    )
    assert types == []
    packages = _aggregate(ops, "PACKAGE", aggregationRequest={"packageAggregation": {
        "packageNames": [{"comparison": "PREFIX", "value": "libcurl"}, {"comparison": "EQUALS", "value": "xz-libs"}]}})  # fmt: skip
    packages = [r["packageAggregation"] for r in packages]
    assert [(p["packageName"], p["severityCounts"]["all"]) for p in packages] == [
        ("libcurl4", 3),
        ("xz-libs", 1),
    ]
    titles = [
        r["titleAggregation"]
        for r in _aggregate(ops, "TITLE", accountIds=[{"comparison": "EQUALS", "value": MEMBER}])
    ]
    assert {t["vulnerabilityId"] for t in titles} == {"CVE-2020-36518", "CVE-2022-24999", "CVE-2023-37276"}
    assert _aggregate(ops, "AWS_LAMBDA_FUNCTION") == []


def test_aggregation_pages_and_a_request_of_the_wrong_type(ops, fleet):
    first = call(ops, "ListFindingAggregations", ADMIN_CALLER, aggregationType="TITLE", maxResults=15)
    second = call(ops, "ListFindingAggregations", ADMIN_CALLER, aggregationType="TITLE", maxResults=15,
                  nextToken=first["nextToken"])  # fmt: skip
    assert len(first["responses"]) == 15 and len(second["responses"]) == 5 and "nextToken" not in second
    titles = [{r["titleAggregation"]["title"] for r in page["responses"]} for page in (first, second)]
    assert not titles[0] & titles[1]
    with pytest.raises(ValidationException):
        ops["ListFindingAggregations"](
            ADMIN_CALLER, {"aggregationType": "ACCOUNT", "aggregationRequest": {"amiAggregation": {}}}
        )


def test_finding_details_for_visible_findings_and_errors_for_the_others(ops, fleet):
    arns = {
        f["packageVulnerabilityDetails"]["vulnerabilityId"]: f["findingArn"] for f in _list(ops)["findings"]
    }
    other = _list(ops, Caller(OTHER))["findings"][0]["findingArn"]
    unknown = arns["CVE-2023-0266"][:-4] + "0000"
    response = call(
        ops,
        "BatchGetFindingDetails",
        Caller(ADMIN),
        findingArns=[arns["CVE-2023-0266"], arns["CVE-2022-24999"], other, unknown],
    )
    (detail,) = response["findingDetails"]
    assert detail["findingArn"] == arns["CVE-2023-0266"] and "cisaData" in detail and detail["referenceUrls"]
    errors = {e["findingArn"]: e["errorCode"] for e in response["errors"]}
    assert errors == {
        arns["CVE-2022-24999"]: "ACCESS_DENIED",
        other: "ACCESS_DENIED",
        unknown: "FINDING_DETAILS_NOT_FOUND",
    }
