"""Which package owns a listener's executable, on trees laid out as real hosts are: Debian's own dpkg file
lists on a merged-/usr tree, a RHEL 8 rpm database, Alpine's installed db, a Go program built here; and the
cache that keeps a heartbeat from reading the file lists again."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vigil.agent.ownership import OwningPackage, PackageOwners

FIXTURES = Path(__file__).parent / "fixtures"
TESTS = Path(__file__).resolve().parents[1]
RPM_LIBUUID = TESTS / "inventory/rpm/fixtures/libuuid/Packages"
APK_SINGLE = TESTS / "inventory/fixtures/apk/single"
BOOKWORM = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
)


def debian_tree(root: Path) -> Path:
    """A merged-/usr Debian tree: /bin a link to usr/bin, dpkg's status and file lists as bookworm wrote them
    (dash lists /bin/dash; python3.11-minimal lists /usr/bin/python3.11)."""
    (root / "usr/bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text(BOOKWORM)
    for top in ("bin", "sbin", "lib"):
        (root / "usr" / top).mkdir(exist_ok=True)
        os.symlink(f"usr/{top}", root / top)
    shutil.copytree(FIXTURES / "dpkg", root / "var/lib/dpkg")
    for program in ("dash", "python3.11"):
        (root / "usr/bin" / program).write_bytes(b"\x7fELF" + program.encode())
    (root / "usr/bin/unowned").write_bytes(b"\x7fELF")
    return root


def test_dpkg_file_lists_name_the_owner_through_the_merged_usr_alias(tmp_path):
    root = debian_tree(tmp_path / "root")
    owners = PackageOwners(str(root)).owners(["/usr/bin/dash", "/usr/bin/python3.11", "/usr/bin/unowned"])
    assert owners["/usr/bin/dash"] == OwningPackage(
        "dash", "0.5.12-2", "pkg:deb/debian/dash@0.5.12-2?arch=amd64&distro=debian-12", "OS"
    )
    python = owners["/usr/bin/python3.11"]
    assert python is not None and (python.name, python.package_manager) == ("python3.11-minimal", "OS")
    assert python.purl.startswith("pkg:deb/debian/python3.11-minimal@3.11.2-6")
    assert python.to_json() == {"name": "python3.11-minimal", "version": python.version, "purl": python.purl,
                                "packageManager": "OS"}  # fmt: skip
    assert owners["/usr/bin/unowned"] is None


def test_a_file_list_without_its_package_in_the_status_names_nothing(tmp_path):
    root = debian_tree(tmp_path / "root")
    status = root / "var/lib/dpkg/status"
    status.write_text("\n\n".join(s for s in status.read_text().split("\n\n") if "Package: dash\n" not in s))
    assert PackageOwners(str(root)).owners(["/usr/bin/dash"]) == {"/usr/bin/dash": None}


def test_an_rpm_database_s_file_lists_name_the_owner(tmp_path):
    root = tmp_path / "root"
    (root / "var/lib/rpm").mkdir(parents=True)
    shutil.copy(RPM_LIBUUID, root / "var/lib/rpm/Packages")
    (root / "usr/lib64").mkdir(parents=True)
    (root / "usr/lib64/libuuid.so.1.3.0").write_bytes(b"\x7fELF")
    owner = PackageOwners(str(root)).owners(["/usr/lib64/libuuid.so.1.3.0"])["/usr/lib64/libuuid.so.1.3.0"]
    assert owner is not None and (owner.name, owner.package_manager) == ("libuuid", "OS")
    assert owner.purl.startswith("pkg:rpm/") and "libuuid@" in owner.purl


def test_apk_s_installed_db_names_the_owner(tmp_path):
    root = tmp_path / "root"
    (root / "lib/apk/db").mkdir(parents=True)
    shutil.copy(APK_SINGLE, root / "lib/apk/db/installed")
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("alpine\n")
    owner = PackageOwners(str(root)).owners(["/etc/hostname"])["/etc/hostname"]
    assert owner is not None and (owner.name, owner.version) == ("alpine-baselayout-data", "3.4.3-r1")
    assert owner.purl.startswith("pkg:apk/")


GO_MAIN = (
    "package main\n\nfunc main() {}\n"  # its build info names its module; net/http would take 5 s to build
)


@pytest.fixture(scope="module")
def go_program(tmp_path_factory) -> Path:
    """A Go program built here in module mode (Debian's golang-go, offline: it has no dependencies)."""
    if shutil.which("go") is None:
        pytest.fail("go is needed (apt: golang-go)")
    source = tmp_path_factory.mktemp("go")
    (source / "go.mod").write_text("module vigil.invalid/listener\n\ngo 1.19\n")
    (source / "main.go").write_text(GO_MAIN)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local",
           "GOCACHE": str(source / "cache"), "CGO_ENABLED": "0"}  # fmt: skip
    subprocess.run(["go", "build", "-o", "listener", "."], cwd=source, env=env, check=True, timeout=300,
                   capture_output=True)  # fmt: skip
    return source / "listener"


def test_a_go_program_no_os_package_owns_is_its_main_module(tmp_path, go_program):
    root = debian_tree(tmp_path / "root")
    (root / "usr/local/bin").mkdir(parents=True)
    shutil.copy(go_program, root / "usr/local/bin/listener")
    owner = PackageOwners(str(root)).owners(["/usr/local/bin/listener"])["/usr/local/bin/listener"]
    assert owner is not None
    assert (owner.name, owner.package_manager) == ("vigil.invalid/listener", "GOBINARY")
    assert owner.purl == "pkg:golang/vigil.invalid/listener"  # a (devel) build has no module version


def test_answers_are_kept_until_the_executable_or_a_package_database_changes(tmp_path):
    root = debian_tree(tmp_path / "root")
    owners = PackageOwners(str(root))
    first = owners.owners(["/usr/bin/dash"])
    assert owners.owners(["/usr/bin/dash"]) == first and owners.lookups == 1
    owners.owners(["/usr/bin/dash", "/usr/bin/python3.11"])  # only the new one is looked up
    assert owners.lookups == 2
    owners.owners(["/usr/bin/dash", "/usr/bin/python3.11"])
    assert owners.lookups == 2

    status = root / "var/lib/dpkg/status"  # an upgrade: dpkg writes a new status
    status.write_text(status.read_text().replace("Version: 0.5.12-2", "Version: 0.5.12-3"))
    os.utime(status, ns=(1, 1))
    assert owners.owners(["/usr/bin/dash"])["/usr/bin/dash"].version == "0.5.12-3"
    assert owners.lookups == 3

    (root / "usr/bin/dash").write_bytes(b"\x7fELF a new build")  # the executable replaced
    owners.owners(["/usr/bin/dash"])
    assert owners.lookups == 4


def test_an_absent_executable_is_not_looked_up(tmp_path):
    root = debian_tree(tmp_path / "root")
    owners = PackageOwners(str(root))
    assert owners.owners(["/usr/bin/gone"]) == {"/usr/bin/gone": None}
    assert owners.lookups == 0
