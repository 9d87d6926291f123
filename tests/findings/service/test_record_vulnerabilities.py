"""`FindingsService.record_vulnerabilities`: a re-evaluation of some vulnerabilities, recorded for every
instance holding one inventory. What already agrees is left alone; an instance whose findings differ from
the others' (a finding closed, a content older) is brought to the new evaluation all the same."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from tests.findings.service.conftest import MEMBER, REGION, Requester, instance

from vigil.findings import evaluate
from vigil.findings.model import epoch
from vigil.store.findings import FindingRow

WEB, TWIN, OTHER = (
    instance("i-0a1b2c3d4e5f60001"),
    instance("i-0a1b2c3d4e5f60002"),
    instance("i-0a1b2c3d4e5f60003", account=MEMBER),
)
KERNEL, CURL = "CVE-2023-0266", "CVE-2022-32221"


def _listed(queries, target, status=None):
    criteria = {"resourceId": [{"comparison": "EQUALS", "value": target.instance_id}]}
    if status:
        criteria["findingStatus"] = [{"comparison": "EQUALS", "value": status}]
    request = {"filterCriteria": criteria}
    listed = {}
    while True:
        page = queries.list_findings(Requester(target.account_id), request)
        listed.update({f["packageVulnerabilityDetails"]["vulnerabilityId"]: f for f in page.items})
        if page.next_token is None:
            return listed
        request = request | {"nextToken": page.next_token}


def _first_instance_findings(inventories, advisory_db, clock, vulnerabilities):
    evaluation = evaluate(inventories["bullseye"], advisory_db, now=clock.now, account_id=WEB.account_id,
                          resource_id=WEB.instance_id, region=REGION)  # fmt: skip
    return [f for f in evaluation.findings if f.vulnerability_id in vulnerabilities]


def test_agreeing_findings_are_left_alone_and_a_divergent_instance_is_brought_in_line(
    scan, findings, queries, clock, sessions, inventories, advisory_db
):
    for target in (WEB, TWIN, OTHER):
        scan(target, "bullseye")
    recorded = {t.instance_id: _listed(queries, t) for t in (WEB, TWIN, OTHER)}
    assert all(KERNEL in r and CURL in r for r in recorded.values())
    with sessions.begin() as session:  # TWIN's kernel finding closed an hour ago, say by an older scan
        session.execute(
            update(FindingRow)
            .where(FindingRow.resource_id == TWIN.instance_id, FindingRow.vulnerability_id == KERNEL)
            .values(status="CLOSED", closed_at=clock.now, closed_reason="REMEDIATED")
        )
    later = clock.advance(hours=1)

    same = _first_instance_findings(inventories, advisory_db, clock, {KERNEL, CURL})
    changed = findings.record_vulnerabilities([WEB, TWIN, OTHER], {KERNEL, CURL}, same, later, region=REGION)

    assert changed == 1  # TWIN's kernel finding, reopened
    for target in (WEB, OTHER):
        assert _listed(queries, target) == recorded[target.instance_id]  # not even lastObservedAt moved
    twin = _listed(queries, TWIN)
    assert twin[KERNEL]["status"] == "ACTIVE" and twin[KERNEL]["updatedAt"] == epoch(later)
    assert twin[KERNEL]["firstObservedAt"] == recorded[TWIN.instance_id][KERNEL]["firstObservedAt"]

    # the kernel is no longer vulnerable: its findings close on all three, curl's stay as they are
    gone = clock.advance(hours=1)
    changed = findings.record_vulnerabilities(
        [WEB, TWIN, OTHER], {KERNEL}, [], gone, region=REGION
    )  # fmt: skip
    assert changed == 3
    for target in (WEB, TWIN, OTHER):
        closed = _listed(queries, target, "CLOSED")
        assert set(closed) == {KERNEL} and closed[KERNEL]["updatedAt"] == epoch(gone)
        assert _listed(queries, target)[CURL] == recorded[target.instance_id][CURL]


def test_findings_named_for_another_instance_are_refused(findings, clock, inventories, advisory_db):
    curl = _first_instance_findings(inventories, advisory_db, clock, {CURL})
    with pytest.raises(ValueError, match="is not a finding of"):
        findings.record_vulnerabilities([TWIN, WEB], {CURL}, curl, clock.now, region=REGION)
    with pytest.raises(ValueError, match="not of the re-evaluated vulnerabilities"):
        findings.record_vulnerabilities([WEB], {KERNEL}, curl, clock.now, region=REGION)


def _evaluation(inventories, advisory_db, clock, target, host="bullseye"):
    return evaluate(inventories[host], advisory_db, now=clock.now, account_id=target.account_id,
                    resource_id=target.instance_id, region=REGION)  # fmt: skip


def test_instances_recorded_together_are_recorded_as_one_by_one(
    scan, findings, queries, clock, inventories, advisory_db
):
    together = [instance("i-0a1b2c3d4e5f6000a"), instance("i-0a1b2c3d4e5f6000b", account=MEMBER)]
    alone = [instance("i-0a1b2c3d4e5f6000c"), instance("i-0a1b2c3d4e5f6000d", account=MEMBER)]
    for target in alone:
        scan(target, "bullseye")
    findings.record_many([(t, _evaluation(inventories, advisory_db, clock, t)) for t in together], clock.now)
    later = clock.advance(hours=1)  # then the kernel replaced on all four: its findings close
    for target in alone:
        scan(target, "patched")
    findings.record_many(
        [(t, _evaluation(inventories, advisory_db, clock, t, "patched")) for t in together], later
    )

    def shown(target):
        listed = {**_listed(queries, target), **_listed(queries, target, "CLOSED")}
        named = ("findingArn", "resources")
        return {v: {k: x for k, x in f.items() if k not in named} for v, f in listed.items()}

    for one, other in zip(together, alone, strict=True):
        assert shown(one) == shown(other) and shown(one)
        assert shown(one)[KERNEL]["status"] == "CLOSED"
    with pytest.raises(ValueError, match="recorded twice"):
        pair = (together[0], _evaluation(inventories, advisory_db, clock, together[0]))
        findings.record_many([pair, pair], clock.now)
