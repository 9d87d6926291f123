"""Findings are Inspector's `Finding`: botocore's inspector2 model accepts what evaluation writes."""

from __future__ import annotations

import datetime as dt
import json

from tests.findings.botocore_model import parsed_by_boto3, violations
from tests.inventory.extracting import place
from tests.matching.conftest import IMPORTER_FIXTURES

from vigil.advisories.feeds import import_path
from vigil.advisories.store import AdvisoryDB
from vigil.enums import PackageManager, Severity
from vigil.findings import evaluate
from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.model import Inventory, OSInfo, Package, Stats, Target
from vigil.inventory.os.dpkg import DpkgExtractor
from vigil.matching.match import match_inventory

NOW = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
ACCOUNT = "123456789012"
BULLSEYE = (
    'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\nID=debian\n'
)
BUSTER = 'PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nVERSION_ID="10"\nVERSION_CODENAME=buster\nID=debian\n'


def _stanza(name, version, source=None):
    src = f"Source: {source}\n" if source else ""
    return f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n{src}Version: {version}\n"


def _debian(root, os_release, stanzas, running=None):
    place(root, "/etc/os-release", os_release)
    place(root, "/var/lib/dpkg/status", "\n".join(stanzas))
    collector = Collector(LiveFS(str(root)), [DpkgExtractor()], scope=PathScope.all(), running_kernel=running)
    return collector.collect(Target("host", [str(root)], hostname="web-01"))


def _inventory(os_info, packages):
    return Inventory(
        Target("directory", ["/srv"]), os_info, None, packages, [], Stats(), "2026-03-01T00:00:00+00:00"
    )


def _inventories(tmp_path):
    """A Debian 11 host (a DSA fix, a kernel in CISA KEV), an AlmaLinux 9 host, Java/npm/Python applications, and
    a Debian 10 host past its end of life."""
    kernel = _stanza("linux-image-5.10.0-20-amd64", "5.10.158-2", "linux-signed-amd64 (5.10.158+2)")
    curl = [_stanza("curl", "7.74.0-1.3+deb11u3"), _stanza("libcurl4", "7.74.0-1.3+deb11u3", "curl")]
    xz = Package("xz-libs", "5.2.5", "rpm", PackageManager.OS, "pkg:rpm/almalinux/xz-libs@5.2.5-7.el9?arch=x86_64",
                 "os/rpm", release="7.el9", arch="x86_64", locations=("/var/lib/rpm/rpmdb.sqlite",))  # fmt: skip
    apps = [
        Package(
            name, version, purl_type, manager, f"pkg:{purl_type}/{name}@{version}", "test", locations=(path,)
        )
        for name, version, purl_type, manager, path in (
            (
                "com.fasterxml.jackson.core:jackson-databind",
                "2.13.1",
                "maven",
                PackageManager.JAR,
                "/srv/a.jar",
            ),
            ("qs", "6.2.0", "npm", PackageManager.NODEPKG, "/srv/web/node_modules/qs/package.json"),
            (
                "aiohttp",
                "3.8.4",
                "pypi",
                PackageManager.PYTHONPKG,
                "/srv/venv/aiohttp-3.8.4.dist-info/METADATA",
            ),
        )
    ]
    return [
        _debian(tmp_path / "bullseye", BULLSEYE, [*curl, kernel], running="5.10.0-20-amd64"),
        _inventory(OSInfo(family="redhat", id="almalinux", version_id="9.0", name="AlmaLinux 9.0"), [xz]),
        _inventory(OSInfo(family="debian", id="debian", version_id="12"), apps),
        _debian(tmp_path / "buster", BUSTER, [_stanza("chromium", "89.0.4389.114-1~deb10u1")]),
    ]


def _findings(inventories, db, **options):
    return [f.to_json() for i in inventories for f in evaluate(i, db, now=NOW, **options).findings]


def test_findings_from_real_records_are_findings_in_botocores_inspector2_model(tmp_path, advisory_db):
    findings = _findings(_inventories(tmp_path), advisory_db, account_id=ACCOUNT)
    assert [v for f in findings for v in violations(f)] == []
    members = {k for f in findings for k in f} | {
        k for f in findings for k in f["packageVulnerabilityDetails"]
    }
    assert {"exploitabilityDetails", "inspectorScore", "inspectorScoreDetails", "cvss", "vendorCreatedAt",
            "vendorSeverity", "relatedVulnerabilities", "vulnerablePackages"} <= members  # fmt: skip
    by_id = {f["packageVulnerabilityDetails"]["vulnerabilityId"]: f for f in findings}
    assert by_id["DEBIAN-10-END-OF-LIFE"]["severity"] == "CRITICAL"
    assert {f["awsAccountId"] for f in findings} == {ACCOUNT}
    assert len({f["findingArn"] for f in findings}) == len(findings)


def test_boto3_reads_the_findings_back_with_their_types(tmp_path, advisory_db):
    findings = _findings(_inventories(tmp_path), advisory_db)
    parsed = parsed_by_boto3(findings)
    assert [p["findingArn"] for p in parsed] == [f["findingArn"] for f in findings]
    assert {p["firstObservedAt"] for p in parsed} == {NOW.replace(microsecond=0)}
    by_id = {p["packageVulnerabilityDetails"]["vulnerabilityId"]: p for p in parsed}
    kernel = by_id["CVE-2023-0266"]
    assert kernel["exploitAvailable"] == "YES"
    assert kernel["exploitabilityDetails"]["lastKnownExploitAt"] == dt.datetime(2023, 3, 30, tzinfo=dt.UTC)
    jackson = by_id["CVE-2020-36518"]
    assert isinstance(jackson["inspectorScore"], float) and jackson["severity"] == "HIGH"
    (package,) = jackson["packageVulnerabilityDetails"]["vulnerablePackages"]
    assert package["purl"] == "pkg:maven/com.fasterxml.jackson.core:jackson-databind@2.13.1"
    assert package["fixedInVersion"] == "2.13.2.1"


def test_a_package_without_a_fix_says_not_available_and_no_member_is_null_or_empty(tmp_path, advisory_db):
    buster = _debian(tmp_path, BUSTER, [_stanza("chromium", "89.0.4389.114-1~deb10u1")])
    (finding,) = [f for f in _findings([buster], advisory_db)
                  if f["packageVulnerabilityDetails"]["vulnerabilityId"] == "CVE-2022-0456"]  # fmt: skip
    (package,) = finding["packageVulnerabilityDetails"]["vulnerablePackages"]
    assert package["fixedInVersion"] == "NotAvailable" and "remediation" not in package
    assert finding["fixAvailable"] == "NO"
    assert "null" not in json.dumps(finding) and '""' not in json.dumps(finding)


def test_the_model_check_refuses_what_inspector_would_not_accept():
    """The old output: a `sourceName` member, nulls, empty strings, ISO timestamps, a made-up region."""
    finding = {
        "findingArn": "arn:aws:inspector2:local:000000000000:finding/0123456789abcdef0123456789abcdef",
        "type": "PACKAGE_VULNERABILITY", "description": "d", "severity": "HIGH", "status": "ACTIVE",
        "firstObservedAt": "2026-03-01T12:30:00+00:00", "lastObservedAt": 1772368200,
        "remediation": {"recommendation": {"text": "apt-get install --only-upgrade curl"}},
        "resources": [{"type": "AWS_EC2_INSTANCE", "id": "web-01", "details": {"awsEc2Instance": {"imageId": None}}}],
        "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2023-23916", "source": "debian-lists",
            "vulnerablePackages": [{"name": "libcurl4", "version": "7.74.0", "release": "", "sourceName": "curl"}]},
    }  # fmt: skip
    found = "\n".join(violations(finding))
    for problem in ("awsAccountId: required", "findingArn: 'arn:aws:inspector2:local", "firstObservedAt:",
                    "imageId: null", "release: 0 characters", "sourceName: not a member"):  # fmt: skip
        assert problem in found, found


def test_the_same_inventory_and_time_give_the_same_findings(tmp_path, advisory_db):
    inventories = _inventories(tmp_path)
    assert _findings(inventories, advisory_db) == _findings(inventories, advisory_db)
    other_account = _findings(inventories, advisory_db, account_id=ACCOUNT)
    assert {f["findingArn"] for f in other_account}.isdisjoint(
        f["findingArn"] for f in _findings(inventories, advisory_db)
    )


def test_end_of_life_is_decided_at_the_evaluation_time(tmp_path, advisory_db):
    """Debian 11's security support ends on 2026-08-31: the same inventory is past it a day later."""
    bullseye = _debian(tmp_path, BULLSEYE, [_stanza("curl", "7.74.0-1.3+deb11u7")])
    ids = {
        when: {f.vulnerability_id for f in evaluate(bullseye, advisory_db, now=when).findings}
        for when in (
            dt.datetime(2026, 8, 31, 23, 0, tzinfo=dt.UTC),
            dt.datetime(2026, 9, 1, 1, 0, tzinfo=dt.UTC),
        )
    }
    before, after = ids.values()
    assert "DEBIAN-11-END-OF-LIFE" not in before and "DEBIAN-11-END-OF-LIFE" in after


def test_scores_are_read_when_findings_are_made_not_when_advisories_are_matched(tmp_path, advisory_db):
    """The same matches, scored against a database that has not yet heard of the exploitation, differ."""
    db_path = tmp_path / "without-kev.db"
    with AdvisoryDB(db_path) as db:
        import_path(db, IMPORTER_FIXTURES / "debian" / "DSA-list")
    inventory = _inventories(tmp_path)[0]
    with AdvisoryDB(db_path, readonly=True) as without_kev:
        assert {m.vulnerability_id for m in match_inventory(inventory, without_kev).matches} >= {
            "CVE-2023-0266"
        }
        unknown = {f.vulnerability_id: f for f in evaluate(inventory, without_kev, now=NOW).findings}
    known = {f.vulnerability_id: f for f in evaluate(inventory, advisory_db, now=NOW).findings}
    assert unknown["CVE-2023-0266"].exploited_since is None and known["CVE-2023-0266"].exploited_since
    assert unknown["CVE-2023-0266"].severity is Severity.UNTRIAGED  # nobody rated it in the DSA list alone


def test_now_must_say_its_timezone(advisory_db):
    inventory = _inventory(OSInfo(family="debian", id="debian", version_id="12"), [])
    try:
        evaluate(inventory, advisory_db, now=dt.datetime(2026, 3, 1))
    except ValueError as exc:
        assert "timezone" in str(exc)
    else:
        raise AssertionError("a naive datetime was accepted")
