"""Re-evaluation after an advisory update, recorded by the real findings service: it matches again only what
the update can have changed, yet every instance ends with exactly the findings a full evaluation of its
inventory gives, and the findings the update did not touch are left as they were."""

from __future__ import annotations

from pathlib import Path

from tests.scanning.fleetkit import (
    ACCOUNT,
    CURL_ADVISORY,
    DSA_LIST,
    _import_dsa_list,
    add_curl_fix,
    attach,
    instance,
    volume,
    write_fleet,
)
from tests.support.cli import vigil

from vigil.findings import evaluate
from vigil.findings.service import FindingsService
from vigil.findings.service.listing import finding_json, select_findings
from vigil.fleet.instances import get_instance
from vigil.store.findings import FindingRow

WEB, VPN, TWIN = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"
CURL_CVE = "CVE-2023-23916"
SECOND = "CVE-2023-23914"  # curl's too
URLLIB3 = Path(__file__).parent / "fixtures" / "urllib3"
URLLIB3_CVE = "CVE-2023-43804"
TIMES = ("status", "firstObservedAt", "lastObservedAt", "updatedAt")


def _stored(world, instance_id):
    """The instance's findings by vulnerability: (status, updatedAt, the rest of its JSON)."""
    with world.services.sessions() as session:
        rows = session.execute(
            select_findings().where(FindingRow.account_id == ACCOUNT, FindingRow.resource_id == instance_id)
        ).all()
    found = {}
    for row in rows:
        document = finding_json(row)
        vulnerability = document["packageVulnerabilityDetails"]["vulnerabilityId"]
        rest = {k: v for k, v in document.items() if k not in TIMES}
        found[vulnerability] = (document["status"], document["updatedAt"], rest)
    return found


def _evaluated_alone(world, instance_id):
    """What a full evaluation of the instance's inventory gives it now, as the store would show it."""
    with world.services.sessions() as session:
        record = get_instance(session, ACCOUNT, instance_id)
    inventory = world.services.inventories.get(record.inventory_hash)
    evaluation = evaluate(inventory, world.advisories, now=world.clock.now, account_id=ACCOUNT,
                          resource_id=instance_id, region=world.services.region)  # fmt: skip
    return {f.vulnerability_id: f.to_json() for f in evaluation.findings}


def _same_as_a_full_evaluation(world, instance_id):
    stored = {v: rest for v, (status, _, rest) in _stored(world, instance_id).items() if status != "CLOSED"}
    alone = _evaluated_alone(world, instance_id)
    assert set(stored) == set(alone)
    for vulnerability, document in alone.items():
        expected = {k: v for k, v in document.items() if k not in (*TIMES, "resources")}
        assert {k: v for k, v in stored[vulnerability].items() if k != "resources"} == expected


def test_an_update_changes_only_the_findings_it_touches_and_leaves_each_instance_as_a_full_evaluation(
    world, fleet_dir
):
    recorder = FindingsService(world.services.sessions)
    world.services.findings = world.services.scanner.findings = recorder  # scans and re-evaluations
    vigil("db", "import", str(URLLIB3), "--db", str(world.advisories.path))
    attach(world, write_fleet(fleet_dir / "fleet.yaml", [
        instance(WEB, [volume("images/web.qcow2", "vol-01")]),
        instance(VPN, [volume("images/vpn.qcow2", "vol-02")]),
        instance(TWIN, [volume("images/web.qcow2", "vol-03")]),
    ]))  # fmt: skip
    world.scheduler.tick()
    scanned = {i: _stored(world, i) for i in (WEB, TWIN)}
    vpn = _stored(world, VPN)
    assert set(scanned[WEB]) == set(scanned[TWIN]) == {URLLIB3_CVE}  # the curl fix is not published yet
    assert URLLIB3_CVE in vpn and CURL_CVE not in vpn  # libreswan's and urllib3's

    world.clock.advance(seconds=30)
    add_curl_fix(world.advisories, world.listing)
    world.clock.advance(seconds=30)
    assert "reevaluate" in world.scheduler.tick()
    for instance_id in (WEB, TWIN):
        after = _stored(world, instance_id)
        assert set(after) == {URLLIB3_CVE, CURL_CVE}
        assert (
            after[URLLIB3_CVE] == scanned[instance_id][URLLIB3_CVE]
        )  # a Debian update leaves PyPI's finding alone
        _same_as_a_full_evaluation(world, instance_id)
    assert _stored(world, VPN) == vpn  # holds no curl: not evaluated again
    before = {i: _stored(world, i) for i in (WEB, TWIN)}

    # the advisory revised to name a second vulnerability: its finding opens, the first one's changes (it
    # names the second as related), the urllib3 finding is left as it was
    text = DSA_LIST.read_text()
    world.listing.write_text(text.replace("{CVE-2023-23916}", f"{{CVE-2023-23916 {SECOND}}}"))
    world.clock.advance(minutes=1)
    _import_dsa_list(world.advisories, world.listing)
    world.clock.advance(seconds=30)
    assert "reevaluate" in world.scheduler.tick()
    for instance_id in (WEB, TWIN):
        after = _stored(world, instance_id)
        assert after[SECOND][:2] == ("ACTIVE", int(world.clock.now.timestamp()))
        assert after[CURL_CVE][:2] == ("ACTIVE", int(world.clock.now.timestamp()))
        assert SECOND in after[CURL_CVE][2]["packageVulnerabilityDetails"]["relatedVulnerabilities"]
        assert after[URLLIB3_CVE] == before[instance_id][URLLIB3_CVE]  # untouched, its updatedAt too
        _same_as_a_full_evaluation(world, instance_id)

    # revised back: the second one's finding closes, and only it
    world.listing.write_text(text)
    world.clock.advance(minutes=1)
    _import_dsa_list(world.advisories, world.listing)
    world.clock.advance(seconds=30)
    assert "reevaluate" in world.scheduler.tick()
    for instance_id in (WEB, TWIN):
        after = _stored(world, instance_id)
        assert after[SECOND][:2] == ("CLOSED", int(world.clock.now.timestamp()))
        assert after[CURL_CVE][2] == before[instance_id][CURL_CVE][2]
        assert after[URLLIB3_CVE] == before[instance_id][URLLIB3_CVE]
        _same_as_a_full_evaluation(world, instance_id)

    # withdrawn altogether: the curl finding closes too; published again within 7 days, it reopens
    start = text.index(CURL_ADVISORY)
    world.listing.write_text(text[:start] + text[text.index("\n[", start) + 1 :])
    world.clock.advance(minutes=1)
    _import_dsa_list(world.advisories, world.listing)
    world.clock.advance(seconds=30)
    world.scheduler.tick()
    assert _stored(world, WEB)[CURL_CVE][0] == "CLOSED"
    add_curl_fix(world.advisories, world.listing)
    world.clock.advance(seconds=30)
    world.scheduler.tick()
    assert _stored(world, WEB)[CURL_CVE][0] == "ACTIVE"
    _same_as_a_full_evaluation(world, WEB)
