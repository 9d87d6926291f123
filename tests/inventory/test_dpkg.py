import json
from pathlib import Path

import pytest
from tests.inventory.extracting import FIXTURES, place, run_extractor

from vigil.inventory.extractor import ExtractError
from vigil.inventory.os.dpkg import STATUS, DpkgExtractor

DPKG = FIXTURES / "dpkg"


def _expected(name: str) -> list[tuple[str, str]]:
    cases = json.loads((DPKG / f"{name}.expected.json").read_text())["cases"]
    return sorted((p["name"], p["version"]) for p in cases[0]["packages"])


def _extract_fixture(tmp_path: Path, name: str, os_info=None):
    return run_extractor(
        DpkgExtractor(), place(tmp_path, STATUS, (DPKG / name).read_bytes()), STATUS, os_info
    )


@pytest.mark.parametrize("fixture", ["valid", "single", "transitional", "statusfield", "nopackage", "empty"])
def test_installed_packages_match_the_upstream_table(tmp_path, fixture):
    packages, _ = _extract_fixture(tmp_path, fixture)
    assert sorted((p.name, p.version) for p in packages) == _expected(fixture)


def test_only_packages_whose_files_are_on_disk_are_listed(tmp_path):
    packages, _ = _extract_fixture(tmp_path, "statusfield")
    names = {p.name for p in packages}
    assert "wantinstall_installed" in names
    assert "wantdeinstall_installed" in names  # marked for removal, still installed
    assert not any("configfiles" in n or "notinstalled" in n or "unpacked" in n for n in names)


def test_a_stanza_without_version_is_reported_and_the_rest_kept(tmp_path):
    packages, ctx = _extract_fixture(tmp_path, "noversion")
    assert sorted((p.name, p.version) for p in packages) == _expected("noversion")
    assert ctx.errors and "Version" in ctx.errors[0][1]


def test_a_file_that_is_not_a_status_file_is_an_error(tmp_path):
    with pytest.raises(ExtractError):
        _extract_fixture(tmp_path, "invalid")


def test_source_package_name_and_version_come_from_the_source_field(tmp_path, debian12):
    status = (
        "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n"
        "Version: 3.0.11-1~deb12u2\n\n"
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc (2.36-9)\n"
        "Version: 2.36-9+b1\n\n"
        "Package: git\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.39.2-1.1\n"
    )
    packages, _ = run_extractor(DpkgExtractor(), place(tmp_path, STATUS, status), STATUS, debian12)
    by_name = {p.name: p for p in packages}
    assert (by_name["libssl3"].source_name, by_name["libssl3"].source_version) == (
        "openssl",
        "3.0.11-1~deb12u2",
    )
    assert (by_name["libc6"].source_name, by_name["libc6"].source_version) == ("glibc", "2.36-9")
    assert by_name["git"].epoch == 1 and by_name["git"].version == "1:2.39.2-1.1"
    assert by_name["libssl3"].purl == (
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
    )
    assert all(p.package_manager == "OS" and p.locations == (STATUS,) for p in packages)


def test_distroless_status_d_files_are_one_package_each(tmp_path):
    root = place(tmp_path, "/var/lib/dpkg/status.d/foo", (DPKG / "status.d" / "foo").read_bytes())
    place(tmp_path, "/var/lib/dpkg/status.d/foo.md5sums", (DPKG / "status.d" / "foo.md5sums").read_bytes())
    packages, _ = run_extractor(DpkgExtractor(), root, "/var/lib/dpkg/status.d/foo")
    expected = json.loads((DPKG / "status.d" / "foo.expected.json").read_text())["cases"][0]["packages"]
    assert [(p.name, p.version) for p in packages] == [(e["name"], e["version"]) for e in expected]
    md5sums, _ = run_extractor(DpkgExtractor(), root, "/var/lib/dpkg/status.d/foo.md5sums")
    assert md5sums == []
