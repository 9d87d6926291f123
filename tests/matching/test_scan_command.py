"""`vigil scan` end to end: the real command line, a database imported with `vigil db import`, real records."""

from __future__ import annotations

import json

import pytest
from tests.findings.botocore_model import violations
from tests.inventory.extracting import place
from tests.inventory.rpm.building import package_blob, sqlite_file
from tests.matching.conftest import IMPORTER_FIXTURES
from tests.support.cli import vigil as run_vigil

BULLSEYE = (
    'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\nID=debian\n'
)
STATUS = (
    "Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.74.0-1.3+deb11u3\n\n"
    "Package: libcurl4\nStatus: install ok installed\nArchitecture: amd64\nSource: curl\nVersion: 7.74.0-1.3+deb11u3\n\n"
    "Package: linux-image-5.10.0-20-amd64\nStatus: install ok installed\nArchitecture: amd64\n"
    "Source: linux-signed-amd64 (5.10.158+2)\nVersion: 5.10.158-2\n"
)


def vigil(*args, check=True):
    return run_vigil(*args, check=check, ok=(0, 1))


@pytest.fixture(scope="module")
def scan_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("host")
    place(root, "/etc/os-release", BULLSEYE)
    place(root, "/var/lib/dpkg/status", STATUS)
    place(
        root, "/boot/grub/grub.cfg", "menuentry 'Debian' {\n  linux /boot/vmlinuz-5.10.0-20-amd64 root=x\n}\n"
    )
    db = tmp_path_factory.mktemp("db") / "advisories.db"
    for source in (
        "debian/DSA-list",
        "debian/tracker.json",
        "kev/known_exploited_vulnerabilities.subset.json",
    ):
        result = vigil("db", "import", str(IMPORTER_FIXTURES / source), "--db", str(db))
        assert result.returncode == 0, result.stderr
    return root, db


def test_json_findings_have_inspectors_shape(scan_setup):
    root, db = scan_setup
    doc = json.loads(vigil("scan", str(root), "--db", str(db), "--format", "json").stdout)
    by_id = {f["packageVulnerabilityDetails"]["vulnerabilityId"]: f for f in doc["findings"]}
    curl = by_id["CVE-2023-23916"]
    assert curl["type"] == "PACKAGE_VULNERABILITY" and curl["status"] == "ACTIVE"
    assert curl["title"] == "CVE-2023-23916 - curl, libcurl4"
    assert curl["fixAvailable"] == "YES" and curl["exploitAvailable"] == "NO"
    details = curl["packageVulnerabilityDetails"]
    assert details["relatedVulnerabilities"] == ["DSA-5365-1"]
    packages = {p["name"]: p for p in details["vulnerablePackages"]}
    assert packages["libcurl4"].pop("purl").startswith("pkg:deb/debian/libcurl4@7.74.0-1.3%2Bdeb11u3")
    assert packages["libcurl4"] == {
        "name": "libcurl4", "version": "7.74.0", "epoch": 0, "release": "1.3+deb11u3", "arch": "amd64",
        "packageManager": "OS", "fixedInVersion": "7.74.0-1.3+deb11u7",
        "remediation": "apt-get install --only-upgrade libcurl4", "filePath": "/var/lib/dpkg/status",
    }  # fmt: skip
    assert [v for f in doc["findings"] for v in violations(f)] == []
    assert {f["awsAccountId"] for f in doc["findings"]} == {"000000000000"}
    kernel = by_id["CVE-2023-0266"]
    assert kernel["exploitAvailable"] == "YES" and kernel["exploitabilityDetails"]["lastKnownExploitAt"]
    assert (
        kernel["findingArn"]
        == json.loads(vigil("scan", str(root), "--db", str(db), "--format", "json").stdout)["findings"][
            [f["packageVulnerabilityDetails"]["vulnerabilityId"] for f in doc["findings"]].index(
                "CVE-2023-0266"
            )
        ]["findingArn"]
    )


def test_fail_on_sets_the_exit_status(scan_setup, tmp_path):
    """An AlmaLinux 9 host with an xz-libs build that ALSA-2022:4940 (Important) fixes."""
    _, db = scan_setup
    almalinux = IMPORTER_FIXTURES / "osv" / "almalinux"
    assert vigil("db", "import", str(almalinux), "--db", str(db)).returncode == 0
    place(
        tmp_path,
        "/etc/os-release",
        'NAME="AlmaLinux"\nID="almalinux"\nVERSION_ID="9.0"\nID_LIKE="rhel centos fedora"\n',
    )
    blob = package_blob("xz-libs", "5.2.5", "7.el9", source_rpm="xz-5.2.5-7.el9.src.rpm")
    place(tmp_path, "/var/lib/rpm/rpmdb.sqlite", sqlite_file([blob]))
    assert vigil("scan", str(tmp_path), "--db", str(db), "--fail-on", "CRITICAL").returncode == 0
    result = vigil("scan", str(tmp_path), "--db", str(db), "--fail-on", "high")
    assert result.returncode == 1
    assert "CVE-2022-1271" in result.stdout and "HIGH" in result.stdout


def test_an_os_past_its_end_of_life_is_one_critical_finding(scan_setup, tmp_path):
    _, db = scan_setup
    place(
        tmp_path,
        "/etc/os-release",
        'ID=debian\nVERSION_ID="10"\nVERSION_CODENAME=buster\nPRETTY_NAME="Debian 10"\n',
    )
    place(tmp_path, "/var/lib/dpkg/status", "")
    doc = json.loads(vigil("scan", str(tmp_path), "--db", str(db), "--format", "json").stdout)
    (eol,) = [
        f
        for f in doc["findings"]
        if f["packageVulnerabilityDetails"]["vulnerabilityId"] == "DEBIAN-10-END-OF-LIFE"
    ]
    assert eol["severity"] == "CRITICAL" and "end of life" in eol["title"]
    assert vigil("scan", str(tmp_path), "--db", str(db), "--fail-on", "critical").returncode == 1


def test_sarif_output(scan_setup):
    root, db = scan_setup
    doc = json.loads(vigil("scan", str(root), "--db", str(db), "--format", "sarif").stdout)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"CVE-2023-23916", "CVE-2023-0266"}
    assert any(r["ruleId"] == "CVE-2023-23916" and r["properties"]["purl"].startswith("pkg:deb/debian/libcurl4@")
               for r in run["results"])  # fmt: skip


def test_scan_without_a_database_says_how_to_get_one(tmp_path):
    place(tmp_path, "/etc/os-release", BULLSEYE)
    result = vigil("scan", str(tmp_path), "--db", str(tmp_path / "none.db"), check=False)
    assert result.returncode == 1 and "vigil db import" in result.stderr


def test_db_status_lists_sources(scan_setup):
    _, db = scan_setup
    doc = json.loads(vigil("db", "status", "--db", str(db), "--format", "json").stdout)
    assert doc["version"] >= 1 and doc["counts"]["advisories"] > 3000 and doc["counts"]["kev"] == 6
    assert any(s["name"].startswith("debian-lists:") for s in doc["sources"])


def test_air_gapped_bundle_round_trip_through_the_cli(scan_setup, tmp_path):
    _, db = scan_setup
    assert vigil("db", "keygen", str(tmp_path / "key.pem"), str(tmp_path / "key.pub")).returncode == 0
    bundle = tmp_path / "advisories.bundle"
    exported = vigil("db", "export", str(bundle), "--key", str(tmp_path / "key.pem"), "--db", str(db))
    assert exported.returncode == 0, exported.stderr
    site = tmp_path / "site.db"
    refused = vigil("db", "import", str(bundle), "--db", str(site), check=False)
    assert refused.returncode == 1 and "no trusted public key" in refused.stderr and not site.exists()
    imported = vigil("db", "import", str(bundle), "--db", str(site), "--trust", str(tmp_path / "key.pub"))
    assert imported.returncode == 0, imported.stderr
    status = json.loads(vigil("db", "status", "--db", str(site), "--format", "json").stdout)
    assert status["counts"]["advisories"] > 3000
