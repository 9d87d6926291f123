"""Oracle Linux end to end: rpm-written databases under Oracle's os-release, matched with Oracle's ELSAs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.inventory.extracting import place
from tests.matching.conftest import IMPORTER_FIXTURES
from typer.testing import CliRunner

from vigil.advisories.feeds import import_path
from vigil.advisories.store import AdvisoryDB
from vigil.cli import app
from vigil.inventory.model import Inventory, KernelInfo, OSInfo, Package, Stats, Target
from vigil.matching.match import match_inventory

ORACLE = IMPORTER_FIXTURES / "oracle"
# /etc/os-release of Oracle Linux Server 8.10, as the release ships it
OL8_RELEASE = """\
NAME="Oracle Linux Server"
VERSION="8.10"
ID="ol"
ID_LIKE="fedora"
VARIANT="Server"
VARIANT_ID="server"
VERSION_ID="8.10"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Oracle Linux Server 8.10"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:oracle:linux:8:10:server"
HOME_URL="https://linux.oracle.com/"
BUG_REPORT_URL="https://github.com/oracle/oracle-linux"

ORACLE_BUGZILLA_PRODUCT="Oracle Linux 8"
ORACLE_BUGZILLA_PRODUCT_VERSION=8.10
ORACLE_SUPPORT_PRODUCT="Oracle Linux"
ORACLE_SUPPORT_PRODUCT_VERSION=8.10
"""
SPEC = """\
Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: {name} named and versioned as Oracle Linux 8 ships it
License: MIT
BuildArch: {arch}
%description
Test package.
%files
"""
# (name, epoch, version, release, arch): osbuild below ELSA-2024-2961's fix and at it; openssl-libs, the
# normal build of the version whose Ksplice build ELSA-2021-9151 fixes (at epoch 2, above this one's 1)
BUILDS = {
    "osbuild-old": ("osbuild", None, "106", "1.el8", "noarch"),
    "osbuild-fixed": ("osbuild", None, "110", "1.0.1.el8", "noarch"),
    "python3-osbuild": ("python3-osbuild", None, "110", "1.0.1.el8", "noarch"),
    "openssl-libs": ("openssl-libs", 1, "1.1.1g", "15.el8_3", "x86_64"),
}


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def rpms(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("oracle-rpms")
    built = {}
    for key, (name, epoch, version, release, arch) in BUILDS.items():
        spec = work / f"{key}.spec"
        spec.write_text(
            SPEC.format(
                name=name,
                version=version,
                release=release,
                arch=arch,
                epoch=f"Epoch: {epoch}\n" if epoch else "",
            )
        )
        top = work / key
        _run(
            "rpmbuild",
            "-bb",
            "--quiet",
            str(spec),
            "--define",
            f"_topdir {top}",
            "--define",
            "_build_id_links none",
        )
        [built[key]] = (top / "RPMS").rglob("*.rpm")
    return built


def _oracle_linux_8_root(root: Path, rpms: dict[str, Path], keys: list[str]) -> Path:
    place(root, "/etc/os-release", OL8_RELEASE)
    _run(
        "rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-i", "--justdb", "--nodeps", "--ignorearch",
        "--noscripts", *(str(rpms[k]) for k in keys),
    )  # fmt: skip
    assert (root / "var/lib/rpm/rpmdb.sqlite").is_file()
    return root


@pytest.fixture(scope="module")
def oracle_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("oracle-db") / "advisories.db"
    result = CliRunner().invoke(app, ["db", "import", str(ORACLE), "--db", str(db)])
    assert result.exit_code == 0 and "oracle-oval: 18 added" in result.output, result.output
    return db


def _findings(root: Path, db: Path) -> dict[tuple[str, str], dict]:
    result = CliRunner().invoke(app, ["scan", str(root), "--db", str(db), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    findings = json.loads(result.stdout)["findings"]
    return {
        (f["packageVulnerabilityDetails"]["vulnerabilityId"], p["name"]): {**f, "package": p}
        for f in findings
        for p in f["packageVulnerabilityDetails"]["vulnerablePackages"]
    }


def test_an_oracle_linux_8_host_gets_the_elsa_cves_with_the_elsa_fix(tmp_path, rpms, oracle_db):
    root = _oracle_linux_8_root(tmp_path, rpms, ["osbuild-old", "python3-osbuild", "openssl-libs"])
    found = _findings(root, oracle_db)
    assert set(found) == {("CVE-2024-2307", "osbuild")}  # python3-osbuild is at the fix
    osbuild = found[("CVE-2024-2307", "osbuild")]
    assert osbuild["package"]["fixedInVersion"] == "110-1.0.1.el8"  # the higher of the ELSA's two builds
    assert osbuild["package"]["remediation"] == "dnf upgrade osbuild"
    details = osbuild["packageVulnerabilityDetails"]
    assert details["relatedVulnerabilities"] == ["ELSA-2024-2961"]
    assert (details["vendorSeverity"], osbuild["severity"]) == ("moderate", "MEDIUM")
    assert details["sourceUrl"] == "https://linux.oracle.com/errata/ELSA-2024-2961.html"


def test_an_oracle_linux_8_host_at_the_elsa_fix_has_no_finding(tmp_path, rpms, oracle_db):
    """openssl-libs 1:1.1.1g-15.el8_3 is below the Ksplice fix 2:1.1.1g-15.ksplice1.el8_3 but not that build."""
    root = _oracle_linux_8_root(tmp_path, rpms, ["osbuild-fixed", "python3-osbuild", "openssl-libs"])
    assert _findings(root, oracle_db) == {}


# -- matching rules on inventories as the agent reports them -------------------------------------------


@pytest.fixture(scope="module")
def oracle_reader(tmp_path_factory):
    path = tmp_path_factory.mktemp("oracle-reader") / "advisories.db"
    with AdvisoryDB(path) as db:
        assert not import_path(db, ORACLE).errors
    reader = AdvisoryDB(path, readonly=True)
    yield reader
    reader.close()


def _rpm(name, version, release, epoch=None, arch="x86_64"):
    return Package(name, version, "rpm", "OS", f"pkg:rpm/ol/{name}@{version}-{release}", "os/rpm",
                   epoch=epoch, release=release, arch=arch, locations=("/var/lib/rpm/rpmdb.sqlite",))  # fmt: skip


def _match_with(reader, version_id, packages, running=None):
    os_info = OSInfo(family="redhat", id="ol", version_id=version_id)
    kernel = KernelInfo(running=running) if running else None
    inventory = Inventory(
        Target("directory", ["/"]), os_info, kernel, packages, [], Stats(), "2026-01-01T00:00:00+00:00"
    )
    return {(m.vulnerability_id, m.package.name): m for m in match_inventory(inventory, reader).matches}


def test_each_architecture_gets_its_own_respin(oracle_reader):
    """ELSA-2022-4803: rsyslog was respun for aarch64 (57.0.4) but not for x86_64 (57.0.1)."""
    aarch64 = _match_with(oracle_reader, "7.9", [_rpm("rsyslog", "8.24.0", "57.0.1.el7_9.3", arch="aarch64")])
    assert aarch64[("CVE-2022-24903", "rsyslog")].fixed_in == "8.24.0-57.0.4.el7_9.3"
    x86_64 = _match_with(oracle_reader, "7.9", [_rpm("rsyslog", "8.24.0", "57.0.1.el7_9.3", arch="x86_64")])
    assert ("CVE-2022-24903", "rsyslog") not in x86_64


def test_a_uek_host_is_matched_on_its_running_uek_kernel_and_rhck_perf_is_left_alone(oracle_reader):
    """ELSA-2019-4820 fixes UEK R5 4.14.35 and its perf; the RHCK perf 3.10.0 is another build."""
    found = _match_with(
        oracle_reader,
        "7.9",
        [_rpm("kernel-uek", "4.14.35", "1902.5.1.el7uek"), _rpm("perf", "3.10.0", "1160.el7")],
        running="4.14.35-1902.5.1.el7uek.x86_64",
    )
    assert found[("CVE-2019-14835", "kernel-uek")].fixed_in == "4.14.35-1902.6.6.el7uek"
    assert not [key for key in found if key[1] == "perf"]


# -- Oracle's build flavours and host architecture ---------------------------------------------------


def test_a_ksplice_build_is_matched_with_the_ksplice_fix(oracle_reader):
    found = _match_with(oracle_reader, "8.3", [_rpm("openssl-libs", "1.1.1g", "14.ksplice1.el8_3", epoch=2)])
    assert found[("CVE-2021-3449", "openssl-libs")].fixed_in == "2:1.1.1g-15.ksplice1.el8_3"


def test_a_uek_built_perf_is_matched_with_the_uek_fix(oracle_reader):
    found = _match_with(oracle_reader, "7.9", [_rpm("perf", "4.14.35", "1902.5.1.el7uek")])
    assert found[("CVE-2019-14835", "perf")].fixed_in == "4.14.35-1902.6.6.el7uek"


def test_a_noarch_package_takes_the_fix_of_the_host_architecture(oracle_reader):
    """Oracle's "Oracle Linux arch is aarch64" tests the arch of oraclelinux-release, not of each package."""
    found = _match_with(
        oracle_reader,
        "7.9",
        [
            _rpm("oraclelinux-release", "7.9", "1.0.9.el7", epoch=7, arch="aarch64"),
            _rpm("rsyslog-doc", "8.24.0", "57.0.1.el7_9.3", arch="noarch"),
        ],
    )
    assert found[("CVE-2022-24903", "rsyslog-doc")].fixed_in == "8.24.0-57.0.4.el7_9.3"
