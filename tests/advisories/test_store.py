"""The versioned advisory database: every update is a version with the keys it changed."""

from __future__ import annotations

import json

import pytest
from tests.matching.conftest import IMPORTER_FIXTURES

from vigil.advisories.feeds import import_path
from vigil.advisories.model import Advisory, AffectedPackage, Cvss, Epss, KnownExploited, Status
from vigil.advisories.store import AdvisoryDB, ChangeKey, SourceInfo

SOURCE = SourceInfo("osv-test", "https://example.invalid/all.zip", "CC-BY-4.0")


def _advisory(id_, package, fixed, namespace="debian:12", ecosystem="Debian", aliases=()):
    return Advisory(
        id=id_,
        source="osv-test",
        aliases=tuple(aliases),
        affected=(AffectedPackage(ecosystem, namespace, package, Status.FIXED, fixed_version=fixed),),
    )


@pytest.fixture
def db(tmp_path):
    with AdvisoryDB(tmp_path / "advisories.db") as db:
        yield db


def test_first_import_is_version_1_with_every_key(db):
    result = db.apply_source(
        SOURCE,
        [_advisory("DSA-1", "openssl", "3.0.11-1"), _advisory("DSA-2", "curl", "7.88.1-10")],
        complete=True,
    )
    assert (result.version, result.added, db.version) == (1, 2, 1)
    assert result.changed_keys == {
        ChangeKey("Debian", "debian:12", "openssl"),
        ChangeKey("Debian", "debian:12", "curl"),
    }


def test_reimporting_the_same_content_makes_no_new_version(db):
    records = [_advisory("DSA-1", "openssl", "3.0.11-1")]
    db.apply_source(SOURCE, records, complete=True)
    again = db.apply_source(SOURCE, records, complete=True)
    assert (again.version, again.unchanged, again.changed_keys) == (1, 1, set())


def test_a_changed_record_changes_the_keys_of_both_its_old_and_new_packages(db):
    db.apply_source(SOURCE, [_advisory("DSA-1", "openssl", "3.0.11-1")], complete=True)
    result = db.apply_source(SOURCE, [_advisory("DSA-1", "libssl3", "3.0.11-1")], complete=True)
    assert result.changed == 1 and result.version == 2
    assert result.changed_keys == {
        ChangeKey("Debian", "debian:12", "openssl"),
        ChangeKey("Debian", "debian:12", "libssl3"),
    }
    assert db.lookup("debian:12", "openssl") == []
    assert [c.advisory_id for c in db.lookup("debian:12", "libssl3")] == ["DSA-1"]


def test_a_complete_snapshot_removes_what_the_source_no_longer_has(db):
    db.apply_source(
        SOURCE, [_advisory("DSA-1", "openssl", "1"), _advisory("DSA-2", "curl", "1")], complete=True
    )
    result = db.apply_source(SOURCE, [_advisory("DSA-1", "openssl", "1")], complete=True)
    assert result.removed == 1 and result.changed_keys == {ChangeKey("Debian", "debian:12", "curl")}
    assert db.lookup("debian:12", "curl") == []


def test_an_incremental_import_adds_without_removing(db):
    db.apply_source(SOURCE, [_advisory("DSA-1", "openssl", "1")], complete=True)
    result = db.apply_source(SOURCE, [_advisory("DSA-2", "curl", "1")], complete=False)
    assert result.added == 1 and result.removed == 0
    assert db.changed_keys(since=1) == {ChangeKey("Debian", "debian:12", "curl")}
    assert len(db.changed_keys(since=0)) == 2


def test_pypi_names_are_looked_up_normalised(db):
    db.apply_source(
        SOURCE, [_advisory("PYSEC-1", "Django_Rest.Framework", "3.0", "pypi", "PyPI")], complete=True
    )
    assert [c.advisory_id for c in db.lookup("pypi", "django-rest-framework")] == ["PYSEC-1"]


def test_aliases_find_advisories(db):
    db.apply_source(SOURCE, [_advisory("DSA-1", "openssl", "1", aliases=["CVE-2023-0001"])], complete=True)
    assert [a.id for a in db.advisories_with_alias("CVE-2023-0001")] == ["DSA-1"]


def test_a_failed_update_leaves_the_database_as_it_was(db):
    db.apply_source(SOURCE, [_advisory("DSA-1", "openssl", "1")], complete=True)

    def broken():
        yield _advisory("DSA-2", "curl", "1")
        raise OSError("connection reset in the middle of the feed")

    with pytest.raises(OSError):
        db.apply_source(SOURCE, broken(), complete=True)
    assert db.version == 1
    assert db.lookup("debian:12", "curl") == [] and db.lookup("debian:12", "openssl")


def test_enrichment_is_stored_per_cve(db):
    db.apply_enrichment(
        SourceInfo("nvd"),
        [Cvss("CVE-2023-4863", "3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8, "nvd@nist.gov")],
    )
    db.apply_enrichment(SourceInfo("epss"), [Epss("CVE-2023-4863", 0.93, 0.99, "2024-01-01")])
    db.apply_enrichment(SourceInfo("kev"), [KnownExploited("CVE-2023-4863", "2023-09-13")])
    assert db.cvss("CVE-2023-4863")[0].base_score == 8.8
    assert db.epss("CVE-2023-4863").score == 0.93
    assert db.kev("CVE-2023-4863").date_added == "2023-09-13"
    assert db.kev("CVE-2000-0001") is None


def test_sources_record_url_licence_and_counts(db):
    db.apply_source(SOURCE, [_advisory("DSA-1", "openssl", "1")], complete=True, errors=2)
    (status,) = db.sources()
    assert (status.name, status.url, status.licence, status.records, status.errors) == (
        "osv-test", "https://example.invalid/all.zip", "CC-BY-4.0", 1, 2,
    )  # fmt: skip
    assert status.updated_at


def test_readonly_open_of_a_missing_database_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="vigil db import"):
        AdvisoryDB(tmp_path / "none.db", readonly=True)


def test_a_record_unreadable_now_keeps_its_stored_copy_and_what_it_said(db):
    db.apply_source(
        SOURCE, [_advisory("DSA-1", "openssl", "1"), _advisory("DSA-2", "curl", "1")], complete=True
    )
    result = db.apply_source(
        SOURCE, [_advisory("DSA-1", "libssl3", "1")], complete=True, keep={"DSA-1", "DSA-2"}
    )  # DSA-1 read only in part, DSA-2 not at all: both stay as stored
    assert (result.kept, result.changed, result.removed) == (2, 0, 0)
    assert db.lookup("debian:12", "openssl") and db.lookup("debian:12", "curl")
    assert db.lookup("debian:12", "libssl3") == []


def test_unreadable_records_of_unknown_id_suspend_removal(db):
    db.apply_source(
        SOURCE, [_advisory("DSA-1", "openssl", "1"), _advisory("DSA-2", "curl", "1")], complete=True
    )
    kept = db.apply_source(SOURCE, [_advisory("DSA-1", "openssl", "2")], complete=True, keep_missing=True)
    assert (kept.kept, kept.changed, kept.removed) == (1, 1, 0) and db.lookup("debian:12", "curl")
    withdrawn = db.apply_source(SOURCE, [_advisory("DSA-1", "openssl", "2")], complete=True)
    assert withdrawn.removed == 1 and db.lookup("debian:12", "curl") == []


def test_a_malformed_tracker_entry_keeps_its_cves_stored_copy(tmp_path):
    tracker = IMPORTER_FIXTURES / "debian" / "tracker.json"
    copy = tmp_path / "tracker.json"
    copy.write_text(tracker.read_text())
    with AdvisoryDB(tmp_path / "advisories.db") as db:
        import_path(db, copy)
        before = db.advisory(f"debian-tracker:{copy}", "CVE-2013-1444")
        data = json.loads(copy.read_text())
        data["txt2man"]["CVE-2013-1444"]["releases"] = {"bookworm": "not an object"}
        copy.write_text(json.dumps(data))
        outcome = import_path(db, copy)
        assert outcome.errors[0].record_id == "CVE-2013-1444" and outcome.result.kept == 1
        assert db.advisory(f"debian-tracker:{copy}", "CVE-2013-1444") == before
