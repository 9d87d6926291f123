"""Suppression filters: matching findings SUPPRESSED now and when recorded later, restored when the filter
changes or goes; the filter operations checked against botocore's inspector2 model."""

from __future__ import annotations

import pytest
from tests.findings.botocore_model import call, call_pages
from tests.findings.service.conftest import ADMIN, MEMBER, instance

from vigil.api.context import Caller
from vigil.api.errors import ResourceNotFoundException, ValidationException
from vigil.api.inspector_ops import filters as filters_ops
from vigil.api.inspector_ops import findings as findings_ops
from vigil.findings.service.filters import FiltersService
from vigil.findings.service.tokens import PageTokens

WEB = instance("i-0a1b2c3d4e5f60001", tags={"env": "test"})
DB = instance("i-0a1b2c3d4e5f60002")
APP = instance("i-0a1b2c3d4e5f60003", account=MEMBER)
ADMIN_CALLER = Caller(ADMIN, frozenset({MEMBER}))
KERNEL = {"vulnerablePackages": [{"name": {"comparison": "PREFIX", "value": "linux-image-"}}]}


@pytest.fixture
def ops(sessions, findings, queries, clock):
    service = FiltersService(sessions, findings, PageTokens(b"f" * 32), clock, region="us-east-1")
    return filters_ops.operations(service) | findings_ops.operations(queries)


def _statuses(ops, caller=ADMIN_CALLER):
    found = call_pages(ops, "ListFindings", caller, "findings")
    return {
        (f["resources"][0]["id"], f["packageVulnerabilityDetails"]["vulnerabilityId"]): f["status"]
        for f in found
    }


def _suppressed(ops, caller=ADMIN_CALLER):
    return {key for key, status in _statuses(ops, caller).items() if status == "SUPPRESSED"}


def test_a_suppress_filter_suppresses_matching_findings_now_and_later(ops, scan, clock):
    scan(WEB, "bullseye")
    arn = call(ops, "CreateFilter", ADMIN_CALLER, name="kernel", action="SUPPRESS", filterCriteria=KERNEL,
               reason="patched at next reboot")["arn"]  # fmt: skip
    suppressed = _suppressed(ops)
    assert len(suppressed) == 13 and all(i == WEB.instance_id for i, _ in suppressed)
    assert ("i-0a1b2c3d4e5f60001", "CVE-2022-32221") not in suppressed  # curl's stay ACTIVE
    clock.advance(hours=1)
    scan(DB, "bullseye")  # a new instance with the same kernel: suppressed as it is recorded
    assert len(_suppressed(ops)) == 26
    (listed,) = call(ops, "ListFilters", ADMIN_CALLER)["filters"]
    assert (
        listed["arn"] == arn and listed["criteria"] == KERNEL and listed["reason"] == "patched at next reboot"
    )


def test_deleting_or_narrowing_the_filter_restores_the_findings(ops, scan, clock):
    scan(WEB, "bullseye")
    scan(DB, "bullseye")
    arn = call(ops, "CreateFilter", ADMIN_CALLER, name="kernel", action="SUPPRESS", filterCriteria=KERNEL)[
        "arn"
    ]
    narrowed = clock.advance(minutes=5)
    call(ops, "UpdateFilter", ADMIN_CALLER, filterArn=arn,
         filterCriteria=KERNEL | {"resourceTags": [{"comparison": "EQUALS", "key": "env", "value": "test"}]})  # fmt: skip
    assert {i for i, _ in _suppressed(ops)} == {WEB.instance_id}
    restored = call(ops, "ListFindings", ADMIN_CALLER, filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": DB.instance_id}],
                                                                          "findingStatus": [{"comparison": "EQUALS", "value": "ACTIVE"}]})  # fmt: skip
    assert (
        len(restored["findings"]) == 16
        and [f["updatedAt"] for f in restored["findings"]].count(narrowed) == 13
    )  # the kernel's, given back
    clock.advance(minutes=5)
    call(ops, "DeleteFilter", ADMIN_CALLER, arn=arn)
    assert _suppressed(ops) == set() and call(ops, "ListFilters", ADMIN_CALLER)["filters"] == []


def test_a_filter_without_suppression_changes_no_status(ops, scan):
    scan(WEB, "bullseye")
    arn = call(ops, "CreateFilter", ADMIN_CALLER, name="kernel", action="NONE", filterCriteria=KERNEL)["arn"]
    assert _suppressed(ops) == set()
    call(ops, "UpdateFilter", ADMIN_CALLER, filterArn=arn, action="SUPPRESS")
    assert len(_suppressed(ops)) == 13


def test_closed_findings_stay_closed_whatever_the_filters(ops, scan, clock):
    scan(WEB, "bullseye")
    clock.advance(hours=1)
    scan(WEB, "patched")
    call(ops, "CreateFilter", ADMIN_CALLER, name="kernel", action="SUPPRESS", filterCriteria=KERNEL)
    assert set(_statuses(ops).values()) == {"CLOSED", "ACTIVE"}


def test_the_administrators_filter_suppresses_its_members_findings_not_the_reverse(ops, scan):
    scan(WEB, "bullseye")
    scan(APP, "apps")
    everything = {"severity": [{"comparison": "NOT_EQUALS", "value": "INFORMATIONAL"}]}
    call(
        ops, "CreateFilter", Caller(MEMBER), name="all of mine", action="SUPPRESS", filterCriteria=everything
    )
    assert {i for i, _ in _suppressed(ops)} == {APP.instance_id}
    call(ops, "CreateFilter", ADMIN_CALLER, name="npm", action="SUPPRESS",
         filterCriteria={"vulnerabilityId": [{"comparison": "EQUALS", "value": "CVE-2022-24999"}]})  # fmt: skip
    assert len(_suppressed(ops)) == 3


def test_a_member_can_neither_see_nor_change_the_administrators_filters(ops):
    arn = call(ops, "CreateFilter", ADMIN_CALLER, name="kernel", action="SUPPRESS", filterCriteria=KERNEL)[
        "arn"
    ]
    assert call(ops, "ListFilters", Caller(MEMBER))["filters"] == []
    for operation, request in (
        ("UpdateFilter", {"filterArn": arn, "name": "mine"}),
        ("DeleteFilter", {"arn": arn}),
    ):
        with pytest.raises(ResourceNotFoundException):
            ops[operation](Caller(MEMBER), request)
    assert call(ops, "ListFilters", ADMIN_CALLER)["filters"][0]["name"] == "kernel"


def test_filters_are_listed_by_page_and_by_action(ops):
    for i in range(5):
        call(
            ops,
            "CreateFilter",
            ADMIN_CALLER,
            name=f"f{i}",
            action="SUPPRESS" if i % 2 else "NONE",
            filterCriteria=KERNEL,
        )
    first = call(ops, "ListFilters", ADMIN_CALLER, maxResults=3)
    second = call(ops, "ListFilters", ADMIN_CALLER, maxResults=3, nextToken=first["nextToken"])
    assert len({f["arn"] for f in first["filters"] + second["filters"]}) == 5 and "nextToken" not in second
    assert {f["name"] for f in call(ops, "ListFilters", ADMIN_CALLER, action="SUPPRESS")["filters"]} == {
        "f1",
        "f3",
    }


def test_a_filter_needs_criteria_and_known_members(ops):
    with pytest.raises(ValidationException):
        ops["CreateFilter"](ADMIN_CALLER, {"name": "all", "action": "SUPPRESS", "filterCriteria": {}})
    with pytest.raises(ValidationException) as refused:
        ops["CreateFilter"](
            ADMIN_CALLER,
            {"name": "x", "action": "SUPPRESS", "filterCriteria": {"severity": [{"comparison": "EQUALS"}]}},
        )
    assert refused.value.fields[0].name == "filterCriteria.severity[0].value"
