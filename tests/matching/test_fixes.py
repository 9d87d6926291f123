"""The fixed version a finding names must clear it: real records with several ranges, several advisories and
statements without a version."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from tests.matching.conftest import IMPORTER_FIXTURES, SOURCES
from tests.matching.corpus import check_fixes

from vigil.advisories.feeds import import_path
from vigil.advisories.model import Status
from vigil.advisories.store import AdvisoryDB
from vigil.enums import PackageManager
from vigil.findings import evaluate
from vigil.inventory.model import Inventory, OSInfo, Package, Stats, Target
from vigil.matching.match import match_inventory

FIXTURES = Path(__file__).parent / "fixtures"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
OWN_SOURCES = ("pypi", "crates.io", "go", "debian/DLA-list.openssl")
SQUEEZE = OSInfo(family="debian", id="debian", version_id="6", name="Debian 6")


@pytest.fixture(scope="module")
def fixes_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("fixes") / "advisories.db"
    with AdvisoryDB(path) as db:
        for source in OWN_SOURCES:
            assert not import_path(db, FIXTURES / source).errors
    with AdvisoryDB(path, readonly=True) as db:
        yield db


def _app(purl_type, manager, name, version):
    return Package(name, version, purl_type, manager, f"pkg:{purl_type}/{name}@{version}", "test")


def _inventory(packages, os=None):
    return Inventory(Target("directory", ["/srv"]), os, None, packages, [], Stats(), "")


def _fixes(db, packages, os=None):
    """(vulnerability id, package version) → the fixedInVersion `vigil scan` prints."""
    findings = evaluate(_inventory(packages, os), db, now=NOW).findings
    return {
        (f.vulnerability_id, p.installed): p.fixed_in_version
        for f in findings
        for p in f.details.vulnerable_packages
    }


@pytest.mark.parametrize(
    ("name", "version", "vulnerability", "fix"),
    [
        ("django", "3.2.20", "CVE-2023-46695", "3.2.23"),  # not 4.2.7: the 3.2 series has its own fix
        ("django", "3.2.20", "CVE-2024-24680", "3.2.24"),  # not 5.0.2
        ("django", "4.2.9", "CVE-2024-24680", "4.2.10"),
        ("django", "5.0.1", "CVE-2024-24680", "5.0.2"),
    ],
)
def test_a_record_with_a_range_per_series_names_the_fix_of_the_installed_series(
    fixes_db, name, version, vulnerability, fix
):
    assert (
        _fixes(fixes_db, [_app("pypi", PackageManager.PYTHONPKG, name, version)])[(vulnerability, version)]
        == fix
    )


def test_a_rust_crate_below_the_first_range_end_is_fixed_in_that_range(fixes_db):
    """RUSTSEC-2021-0003: smallvec 0.6.3 → 0.6.14 and 1.0.0 → 1.6.1; 0.6.10 needs 0.6.14, not 1.6.1."""
    crates = [_app("cargo", PackageManager.CARGO, "smallvec", v) for v in ("0.6.10", "1.4.0")]
    fixes = _fixes(fixes_db, crates)
    assert fixes[("CVE-2021-25900", "0.6.10")] == "0.6.14"
    assert fixes[("CVE-2021-25900", "1.4.0")] == "1.6.1"


def test_with_two_advisories_for_one_vulnerability_the_package_must_reach_the_higher_fix(fixes_db):
    """DLA-0003-1 fixed CVE-2014-0224 in squeeze's openssl 0.9.8o-4squeeze15, DLA-0008-1 again in 16."""
    openssl = Package(
        "openssl", "0.9.8o-4squeeze14", "deb", PackageManager.OS, "pkg:deb/debian/openssl", "test"
    )
    fixes = _fixes(fixes_db, [openssl], SQUEEZE)
    assert fixes[("CVE-2014-0224", "0.9.8o-4squeeze14")] == "0.9.8o-4squeeze16"
    assert fixes[("CVE-2014-0195", "0.9.8o-4squeeze14")] == "0.9.8o-4squeeze15"  # DLA-0003-1 alone
    at_15 = Package(
        "openssl", "0.9.8o-4squeeze15", "deb", PackageManager.OS, "pkg:deb/debian/openssl", "test"
    )
    assert set(_fixes(fixes_db, [at_15], SQUEEZE)) == {("CVE-2014-0224", "0.9.8o-4squeeze15"),
                                                        ("CVE-2012-4929", "0.9.8o-4squeeze15")}  # fmt: skip


def test_a_fix_next_to_a_statement_without_versions_clears_the_finding(fixes_db):
    """GO-2025-3825 says harbor is affected from 0 on with no fix (pseudo-versions it cannot express) and
    fixed in 2.12.4-rc1+incompatible for the 2.12 tags: at that fix the finding is gone, not turned into "no fix"."""
    harbor = "github.com/goharbor/harbor"
    below, at_fix = (
        _app("golang", PackageManager.GOBINARY, harbor, v)
        for v in ("2.12.3+incompatible", "2.12.4-rc1+incompatible")
    )
    result = match_inventory(_inventory([below, at_fix]), fixes_db)
    assert [
        (m.package.version, m.fixed_in, m.status)
        for m in result.matches
        if m.vulnerability_id == "CVE-2025-32019"
    ] == [("2.12.3+incompatible", "2.12.4-rc1+incompatible", Status.FIXED)]


def test_a_fix_from_one_source_clears_another_sources_will_not_fix(tmp_path):
    """Debian's LTS fixed CVE-2014-0224 in squeeze (DLA-0008-1, real); a tracker export marking squeeze's openssl
    `<ignored>` for it is constructed here, as no such pair is in the corpus. At the fix: no finding; below it:
    the fix is named, with its status."""
    tracker = {"openssl": {"CVE-2014-0224": {"description": "openssl: SSL/TLS MITM vulnerability",
               "releases": {"squeeze": {"status": "open", "urgency": "low", "nodsa": "Minor issue",
                                         "nodsa_reason": "ignored", "repositories": {"squeeze": "0.9.8o-4squeeze14"}}}}}}  # fmt: skip
    (tmp_path / "tracker.json").write_text(json.dumps(tracker))
    with AdvisoryDB(tmp_path / "a.db") as db:
        for source in (FIXTURES / "debian" / "DLA-list.openssl", tmp_path / "tracker.json"):
            assert not import_path(db, source).errors

        def openssl(version):
            return Package(
                "openssl", version, "deb", PackageManager.OS, f"pkg:deb/debian/openssl@{version}", "test"
            )

        ignored = [(m.fixed_in, m.status) for m in match_inventory(_inventory([openssl("0.9.8o-4squeeze16")], SQUEEZE), db).matches
                   if m.vulnerability_id == "CVE-2014-0224"]  # fmt: skip
        below = [(m.fixed_in, m.status) for m in match_inventory(_inventory([openssl("0.9.8o-4squeeze14")], SQUEEZE), db).matches
                 if m.vulnerability_id == "CVE-2014-0224"]  # fmt: skip
    assert ignored == []
    assert below == [("0.9.8o-4squeeze16", Status.FIXED)]


def test_every_fix_named_on_the_repositorys_records_clears_its_finding_and_is_the_nearest(tmp_path):
    """For versions the records name (four of each package's), scan; then scan at each fix named: the
    vulnerability is gone, and no version the records name between the two clears it already."""
    with AdvisoryDB(tmp_path / "a.db") as db:
        for source in (*(IMPORTER_FIXTURES / s for s in SOURCES), *(FIXTURES / s for s in OWN_SOURCES)):
            assert not import_path(db, source).errors
        check = check_fixes(db, per_package=4)
    assert check.flagged > 3000
    assert check.not_cleared == []
    assert check.not_nearest == []
