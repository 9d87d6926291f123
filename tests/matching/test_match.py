"""The matcher on real advisory records and real inventories with old, known-vulnerable versions."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from tests.inventory.extracting import place

from vigil.advisories.model import Status
from vigil.enums import Severity
from vigil.findings import evaluate
from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.model import Inventory, OSInfo, Package, Stats, Target
from vigil.inventory.os.apk import ApkExtractor
from vigil.inventory.os.dpkg import DpkgExtractor
from vigil.matching.match import match_inventory

BULLSEYE = (
    'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\nID=debian\n'
)


def _stanza(name, version, source=None, arch="amd64"):
    src = f"Source: {source}\n" if source else ""
    return f"Package: {name}\nStatus: install ok installed\nArchitecture: {arch}\n{src}Version: {version}\n"


def _debian_inventory(tmp_path, stanzas, running=None):
    place(tmp_path, "/etc/os-release", BULLSEYE)
    place(tmp_path, "/var/lib/dpkg/status", "\n".join(stanzas))
    return Collector(
        LiveFS(str(tmp_path)), [DpkgExtractor()], scope=PathScope.all(), running_kernel=running
    ).collect(Target("directory", [str(tmp_path)]))


def _by(result):
    return {(m.vulnerability_id, m.package.name): m for m in result.matches}


NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _findings(inventory, db):
    """(vulnerability id, package name) → (finding, its vulnerable package), as `vigil scan` reports them."""
    evaluation = evaluate(inventory, db, now=NOW)
    return {
        (f.vulnerability_id, p.name): (f, p)
        for f in evaluation.findings
        for p in f.details.vulnerable_packages
    }


def test_debian_matches_through_the_source_package_with_the_dsa_fix(tmp_path, advisory_db):
    inventory = _debian_inventory(
        tmp_path,
        [
            _stanza("curl", "7.74.0-1.3+deb11u3"),
            _stanza("libcurl4", "7.74.0-1.3+deb11u3", source="curl"),
            _stanza("apache2-bin", "2.4.56-1~deb11u1", source="apache2"),  # already fixed
        ],
    )
    found = _by(match_inventory(inventory, advisory_db))
    findings = _findings(inventory, advisory_db)
    for name in ("curl", "libcurl4"):
        match = found[("CVE-2023-23916", name)]
        assert match.fixed_in == "7.74.0-1.3+deb11u7"
        assert "DSA-5365-1" in match.related
        assert findings[("CVE-2023-23916", name)][1].remediation == f"apt-get install --only-upgrade {name}"
    assert found[("CVE-2023-23916", "libcurl4")].source_name == "curl"
    assert not [k for k in found if k[1] == "apache2-bin" and k[0] == "CVE-2023-25690"]


def test_an_advisory_for_another_release_never_applies(tmp_path, advisory_db):
    """DSA-3035-1 fixes bash in wheezy (7); a bullseye bash of any age is not matched by it."""
    inventory = _debian_inventory(tmp_path, [_stanza("bash", "4.2+dfsg-0.1")])
    assert not [m for m in match_inventory(inventory, advisory_db).matches if "DSA-3035-1" in m.related]


def test_only_the_running_kernel_is_matched(tmp_path, advisory_db):
    old = _stanza("linux-image-5.10.0-19-amd64", "5.10.149-2", source="linux-signed-amd64 (5.10.149+2)")
    running = _stanza("linux-image-5.10.0-20-amd64", "5.10.158-2", source="linux-signed-amd64 (5.10.158+2)")
    inventory = _debian_inventory(tmp_path, [old, running], running="5.10.0-20-amd64")
    result = match_inventory(inventory, advisory_db)
    kernel_hits = {m.package.name for m in result.matches}
    assert kernel_hits == {"linux-image-5.10.0-20-amd64"}
    skipped = {s.name: s.reason for s in result.skipped}
    assert "not the one running" in skipped["linux-image-5.10.0-19-amd64"]
    assert _by(result)[("CVE-2023-0266", "linux-image-5.10.0-20-amd64")].fixed_in == "5.10.162-1"
    finding, _ = _findings(inventory, advisory_db)[("CVE-2023-0266", "linux-image-5.10.0-20-amd64")]
    assert finding.exploited_since == dt.datetime(2023, 3, 30, tzinfo=dt.UTC)  # CISA KEV lists CVE-2023-0266


def test_dpkg_itself_agrees_with_every_version_decision(tmp_path, advisory_db):
    inventory = _debian_inventory(
        tmp_path,
        [
            _stanza("curl", "7.74.0-1.3+deb11u3"),
            _stanza("linux-image-5.10.0-20-amd64", "5.10.158-2", "linux-signed-amd64"),
        ],
    )
    for match in match_inventory(inventory, advisory_db).matches:
        installed = match.package.version
        result = subprocess.run(["dpkg", "--compare-versions", installed, "lt", match.fixed_in], check=False)
        assert result.returncode == 0, (installed, match.fixed_in)


def _inventory(os_info, packages, kernel=None):
    return Inventory(
        Target("directory", ["/"]), os_info, kernel, packages, [], Stats(), "2026-01-01T00:00:00+00:00"
    )


def _rpm(name, version, release, epoch=None, arch="x86_64"):
    return Package(name, version, "rpm", "OS", f"pkg:rpm/almalinux/{name}@{version}-{release}", "os/rpm",
                   epoch=epoch, release=release, arch=arch, locations=("/var/lib/rpm/rpmdb.sqlite",))  # fmt: skip


def test_rpm_distributions_compare_epoch_version_release_on_binary_names(advisory_db):
    alma9 = OSInfo(family="redhat", id="almalinux", version_id="9.0")
    inventory = _inventory(alma9, [_rpm("xz-libs", "5.2.5", "7.el9"), _rpm("xz", "5.2.5", "8.el9_0")])
    found = _by(match_inventory(inventory, advisory_db))
    assert found[("CVE-2022-1271", "xz-libs")].fixed_in == "5.2.5-8.el9_0"
    finding, package = _findings(inventory, advisory_db)[("CVE-2022-1271", "xz-libs")]
    assert finding.severity is Severity.HIGH and finding.details.vendor_severity == "important"
    assert package.remediation == "dnf upgrade xz-libs"
    assert ("CVE-2022-1271", "xz") not in found  # installed at the fixed version
    alma8 = OSInfo(family="redhat", id="almalinux", version_id="8.9")
    assert not match_inventory(_inventory(alma8, [_rpm("xz-libs", "5.2.5", "7.el9")]), advisory_db).matches


def test_alpine_matches_through_the_origin(tmp_path, advisory_db):
    place(tmp_path, "/etc/os-release", "ID=alpine\nVERSION_ID=3.18.4\n")
    place(
        tmp_path,
        "/lib/apk/db/installed",
        "P:busybox-binsh\nV:1.36.1-r5\nA:x86_64\no:busybox\n\nP:busybox\nV:1.36.1-r7\nA:x86_64\no:busybox\n",
    )
    inventory = Collector(LiveFS(str(tmp_path)), [ApkExtractor()], scope=PathScope.all()).collect(
        Target("directory", ["/"])
    )
    found = _by(match_inventory(inventory, advisory_db))
    assert found[("CVE-2023-42366", "busybox-binsh")].fixed_in == "1.36.1-r6"
    assert found[("CVE-2023-42363", "busybox-binsh")].fixed_in == "1.36.1-r7"
    assert not [k for k in found if k[1] == "busybox"]
    _, package = _findings(inventory, advisory_db)[("CVE-2023-42366", "busybox-binsh")]
    assert package.remediation == "apk upgrade busybox-binsh"


def _lang(type_, manager, name, version, owner=None):
    return Package(name, version, type_, manager, f"pkg:{type_}/{name}@{version}", "test",
                   locations=(f"/srv/app/{name}",), owner=owner)  # fmt: skip


def test_language_packages_match_osv_ranges_and_merge_aliases(advisory_db):
    inventory = _inventory(
        OSInfo(family="debian", id="debian", version_id="12"),
        [
            _lang("maven", "JAR", "com.fasterxml.jackson.core:jackson-databind", "2.13.1"),
            _lang("npm", "NODEPKG", "qs", "6.2.0"),
            _lang("pypi", "PYTHONPKG", "aiohttp", "3.8.4"),
            _lang("pypi", "PYTHONPKG", "aiohttp-ok", "3.8.4"),
            _lang("npm", "NODEPKG", "qs-owned", "6.2.0", owner="node-qs"),
        ],
    )
    result = match_inventory(inventory, advisory_db)
    found = _by(result)
    jackson = found[("CVE-2020-36518", "com.fasterxml.jackson.core:jackson-databind")]
    assert jackson.fixed_in == "2.13.2.1" and "GHSA-57j2-w4cx-62h2" in jackson.related
    finding, _ = _findings(inventory, advisory_db)[
        ("CVE-2020-36518", "com.fasterxml.jackson.core:jackson-databind")
    ]
    assert finding.severity is Severity.HIGH  # from CVSS: GHSA is not a distribution
    qs = [m for (_, name), m in found.items() if name == "qs"]
    assert qs and all(m.fixed_in for m in qs)
    assert {s.name for s in result.skipped} >= {"qs-owned"}
    assert any(name == "aiohttp" for _, name in found)


def test_an_unfixed_distribution_state_is_reported_without_a_fix(tmp_path, advisory_db):
    """The tracker says prototypejs in buster is open (no fix) for a CVE: status affected, no fixed version."""
    place(tmp_path, "/etc/os-release", 'ID=debian\nVERSION_ID="10"\nVERSION_CODENAME=buster\n')
    place(tmp_path, "/var/lib/dpkg/status", _stanza("chromium", "89.0.4389.114-1~deb10u1"))
    inventory = Collector(LiveFS(str(tmp_path)), [DpkgExtractor()], scope=PathScope.all()).collect(
        Target("directory", ["/"])
    )
    match = _by(match_inventory(inventory, advisory_db))[("CVE-2022-0456", "chromium")]
    assert match.fixed_in is None
    assert match.status is Status.END_OF_LIFE


@pytest.mark.parametrize("version", ["", "not a version at all"])
def test_a_version_the_scheme_cannot_read_is_not_called_vulnerable(advisory_db, version):
    alma9 = OSInfo(family="redhat", id="almalinux", version_id="9.0")
    result = match_inventory(_inventory(alma9, [_rpm("xz-libs", version, "")]), advisory_db)
    assert not result.matches


def _deb_inventory(tmp_path, os_release, stanzas, running=None):
    place(tmp_path, "/etc/os-release", os_release)
    place(tmp_path, "/var/lib/dpkg/status", "\n".join(stanzas))
    return Collector(
        LiveFS(str(tmp_path)), [DpkgExtractor()], scope=PathScope.all(), running_kernel=running
    ).collect(Target("directory", [str(tmp_path)]))


FOCAL = 'NAME="Ubuntu"\nVERSION_ID="20.04"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=focal\n'
TRUSTY = 'NAME="Ubuntu"\nVERSION_ID="14.04"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=trusty\n'


def test_a_usn_reports_per_release_only_the_cves_it_fixes_there(tmp_path, advisory_db):
    """USN-6429-1 fixes CVE-2023-38545 in 22.04 only; 20.04's curl gets CVE-2023-38546 alone."""
    inventory = _deb_inventory(tmp_path, FOCAL, [_stanza("libcurl4", "7.68.0-1ubuntu2.19", source="curl")])
    matches = match_inventory(inventory, advisory_db).matches
    assert {m.vulnerability_id for m in matches if "USN-6429-1" in m.related} == {"CVE-2023-38546"}
    assert (
        _by(match_inventory(inventory, advisory_db))[("CVE-2023-38546", "libcurl4")].fixed_in
        == "7.68.0-1ubuntu2.20"
    )
    finding, _ = _findings(inventory, advisory_db)[("CVE-2023-38546", "libcurl4")]
    assert finding.severity is Severity.LOW


def test_ubuntu_pro_only_data_is_matched_and_says_so(tmp_path, advisory_db):
    image = _stanza("linux-image-3.13.0-170-generic", "3.13.0-170.220", source="linux-signed")
    inventory = _deb_inventory(tmp_path, TRUSTY, [image], running="3.13.0-170-generic")
    match = _by(match_inventory(inventory, advisory_db))[("CVE-2025-38094", "linux-image-3.13.0-170-generic")]
    assert match.status is Status.AFFECTED and match.fixed_in is None


def test_alternative_fixes_in_one_advisory_are_alternatives_not_requirements(advisory_db):
    alma8 = OSInfo(family="redhat", id="almalinux", version_id="8.8")
    on_first_stream = _rpm("mod_md", "2.0.8", "8.module_el8.6.0+2872+fe0ff7aa", epoch=1)
    older = _rpm("mod_md", "2.0.8", "7.module_el8.6.0+2872+fe0ff7aa", epoch=1)
    assert not [m for m in match_inventory(_inventory(alma8, [on_first_stream]), advisory_db).matches
                if "ALSA-2023:5050" in m.related]  # fmt: skip
    found = [
        m
        for m in match_inventory(_inventory(alma8, [older]), advisory_db).matches
        if "ALSA-2023:5050" in m.related
    ]
    assert found and found[0].fixed_in == "1:2.0.8-8.module_el8.6.0+2872+fe0ff7aa"


def test_an_rpm_is_matched_through_its_source_rpm_when_the_fix_names_only_that(advisory_db):
    rhel9 = OSInfo(family="redhat", id="rhel", version_id="9.4")
    python3 = Package("python3", "3.9.18", "rpm", "OS", "pkg:rpm/redhat/python3@3.9.18-1.el9_4?arch=x86_64", "os/rpm",
                      release="1.el9_4", arch="x86_64", source_name="python3.9", source_version="3.9.18-1.el9_4")  # fmt: skip
    found = _by(match_inventory(_inventory(rhel9, [python3]), advisory_db))
    match = found[("CVE-2024-8088", "python3")]
    assert match.fixed_in == "3.9.18-3.el9_4.5" and "RHSA-2024:6163" in match.related


def test_red_hat_vex_not_affected_vetoes_other_sources(advisory_db):
    rhel9 = OSInfo(family="redhat", id="rhel", version_id="9.2")
    samba = _rpm("samba", "4.17.5", "102.el9")
    matches = match_inventory(_inventory(rhel9, [samba]), advisory_db).matches
    assert not [m for m in matches if m.vulnerability_id == "CVE-2023-4154"]
