"""Debian's DSA/DLA lists and the security tracker's JSON export, on real records."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vigil.advisories.importer import SourceFormatError
from vigil.advisories.importers.debian import DebianListImporter, DebianTrackerImporter
from vigil.advisories.model import Status

DEBIAN = Path(__file__).parent / "fixtures" / "debian"


@pytest.fixture(scope="module")
def dsa():
    errors = []
    started = time.monotonic()
    advisories = {a.id: a for a in DebianListImporter().read(DEBIAN / "DSA-list", errors)}
    assert time.monotonic() - started < 5
    assert errors == []
    return advisories


def _by_release(advisory):
    return {(a.namespace, a.package): a for a in advisory.affected}


def test_a_dsa_names_the_source_package_its_fixed_version_per_release_and_its_cves(dsa):
    curl = dsa["DSA-5365-1"]
    assert curl.aliases == ("CVE-2023-23916",)
    (affected,) = curl.affected
    assert (affected.ecosystem, affected.namespace, affected.package, affected.status, affected.fixed_version) == (
        "Debian", "debian:11", "curl", Status.FIXED, "7.74.0-1.3+deb11u7",
    )  # fmt: skip
    assert curl.published == "2023-02-27T00:00:00Z"


def test_one_dsa_can_fix_several_releases_and_packages(dsa):
    openjdk = _by_release(dsa["DSA-3316-1"])
    assert openjdk[("debian:7", "openjdk-7")].fixed_version == "7u79-2.5.6-1~deb7u1"
    assert openjdk[("debian:8", "openjdk-7")].fixed_version == "7u79-2.5.6-1~deb8u1"
    kernel = _by_release(dsa["DSA-1184-2"])
    assert set(kernel) == {("debian:3.1", "kernel-source-2.6.8"), ("debian:3.1", "fai-kernels")}


def test_not_affected_and_end_of_life_are_states_not_versions(dsa):
    openoffice = _by_release(dsa["DSA-2275-1"])
    assert openoffice[("debian:5", "openoffice.org")].status is Status.NOT_AFFECTED
    assert openoffice[("debian:6", "openoffice.org")].fixed_version == "1:3.2.1-11+squeeze3"
    typo3 = _by_release(dsa["DSA-3314-1"])[("debian:7", "typo3-src")]
    assert (typo3.status, typo3.fixed_version) == (Status.END_OF_LIFE, None)


def test_announcements_without_a_package_are_not_advisories(dsa):
    assert "DSA-4205-1" not in dsa  # "jessie end-of-life"
    assert len(dsa) > 3000


def test_dla_list(tmp_path):
    advisories = list(DebianListImporter().read(DEBIAN / "DLA-list.head", []))
    assert [a.id for a in advisories] == ["DLA-3380-1", "DLA-3379-1", "DLA-3377-1", "DLA-3376-1"]
    assert advisories[2].affected[0].namespace == "debian:10"
    assert advisories[2].affected[0].fixed_version == "241-7~deb10u9"


def test_tracker_json_gives_per_release_status_fixed_version_and_urgency():
    errors = []
    advisories = {a.id: a for a in DebianTrackerImporter().read(DEBIAN / "tracker.json", errors)}
    assert errors == []
    fixed = _by_release(advisories["CVE-2008-7220"])[("debian:10", "prototypejs")]
    assert (fixed.status, fixed.fixed_version, fixed.severity) == (Status.FIXED, "1.6.0.2-1", "high")
    never = _by_release(advisories["CVE-2007-2383"])[("debian:9", "prototypejs")]
    assert (never.status, never.fixed_version) == (Status.NOT_AFFECTED, None)
    eol = _by_release(advisories["CVE-2022-0456"])[("debian:10", "chromium")]
    assert eol.status is Status.END_OF_LIFE
    assert advisories["CVE-2008-7220"].details.startswith("Unspecified vulnerability in Prototype")
    assert "CVE-2022-0358" not in advisories  # the export's `"releases": []`


def test_recognition():
    assert DebianListImporter().recognises(DEBIAN / "DSA-list")
    assert not DebianListImporter().recognises(DEBIAN / "tracker.json")
    assert DebianTrackerImporter().recognises(DEBIAN / "tracker.json")
    assert not DebianTrackerImporter().recognises(DEBIAN / "DSA-list")


def test_garbage_is_refused(tmp_path):
    bad = tmp_path / "list"
    bad.write_text("hello\n[1 Jan 2020] DSA-1-1 x - y\n")
    with pytest.raises(SourceFormatError):
        list(DebianListImporter().read(bad, []))
    bad.write_text('{"openssl": {"CVE-2020-1": {"releases": {"bookworm": {"status": "resolved"')
    with pytest.raises(SourceFormatError):
        list(DebianTrackerImporter().read(bad, []))


def test_a_malformed_tracker_entry_is_reported_and_the_rest_kept(tmp_path):
    path = tmp_path / "tracker.json"
    path.write_text(
        '{"curl": {"CVE-2023-1": {"releases": {"bookworm": {"status": "weird"}}},'
        ' "CVE-2023-2": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "7.88.1-10"}}}}}'
    )
    errors = []
    advisories = list(DebianTrackerImporter().read(path, errors))
    assert [a.id for a in advisories] == ["CVE-2023-2"]
    assert "weird" in errors[0].error
