"""Real databases from go-rpmdb's test data: the fields its test tables expect, the files rpm lists."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.inventory.os.rpm import RpmExtractor, parse_header, read_database

FIXTURES = Path(__file__).parent / "fixtures"
# fixture → (where it lives on a target, rpm's backend to read it with, or None: rpm cannot here)
DATABASES = {
    "libuuid/Packages": ("/var/lib/rpm/Packages", "bdb_ro"),
    "sle15-bci/Packages.db": ("/usr/lib/sysimage/rpm/Packages.db", None),
    "cbl-mariner-2.0/rpmdb.sqlite": ("/var/lib/rpm/rpmdb.sqlite", "sqlite"),
}


def _expected(fixture: str) -> list[dict]:
    """The upstream expectation as a list of go-rpmdb PackageInfo-like dicts with lowercase keys."""
    data = json.loads((FIXTURES / f"{fixture}.expected.json").read_text())
    packages = data["packages"] if "packages" in data else [data["package"]]
    return [{k.lower().replace("_", ""): v for k, v in p.items()} for p in packages]


def _headers(fixture: str):
    records = list(read_database((FIXTURES / fixture).read_bytes()))
    assert [r.error for r in records if r.error] == []
    return {h.name: h for h in (parse_header(r.blob) for r in records)}


@pytest.mark.parametrize("fixture", sorted(DATABASES))
def test_headers_match_the_upstream_test_table(fixture):
    headers = _headers(fixture)
    for want in _expected(fixture):
        got = headers[want["name"]]
        assert (got.epoch, got.version, got.release, got.arch) == (
            want.get("epoch"),
            want["version"],
            want["release"],
            want["arch"],
        )
        assert (got.source_rpm, got.size, got.license, got.vendor) == (
            want["sourcerpm"] or None,
            want["size"],
            want["license"] or None,
            want["vendor"] or None,
        )


def test_the_ndb_database_lists_every_package_of_the_upstream_table():
    assert sorted(_headers("sle15-bci/Packages.db")) == sorted(
        p["name"] for p in _expected("sle15-bci/Packages.db")
    )


def _rpm_query(fixture: str, backend: str, tmp_path: Path) -> dict[str, list[str]]:
    """What rpm itself reads from a copy of the database: package → sorted file names."""
    dbpath = tmp_path / "rpmdb"
    dbpath.mkdir()
    shutil.copy(FIXTURES / fixture, dbpath)
    out = subprocess.run(
        ["rpm", "--dbpath", str(dbpath), "--define", f"_db_backend {backend}", "-qa",
         "--qf", "%{NAME}\n[%{FILENAMES}\n]"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    listing: dict[str, list[str]] = {}
    files: list[str] = []
    for line in out.splitlines():  # a package's name, then its files (absolute paths)
        if line.startswith("/"):
            files.append(line)
        else:
            files = listing.setdefault(line, [])
    return {name: sorted(files) for name, files in listing.items()}


@pytest.mark.parametrize("fixture", [f for f, (_, backend) in DATABASES.items() if backend])
def test_file_lists_match_what_rpm_reads(fixture, tmp_path):
    backend = DATABASES[fixture][1]
    expected = _rpm_query(fixture, backend, tmp_path)
    assert {name: sorted(h.files) for name, h in _headers(fixture).items()} == expected


def test_ndb_file_lists_are_absolute_and_complete():
    headers = _headers("sle15-bci/Packages.db")
    assert "/usr/bin/bash" in headers["bash"].files
    assert "/lib64/libc.so.6" in headers["glibc"].files
    assert len(headers["filesystem"].files) == 788
    assert all(f.startswith("/") for h in headers.values() for f in h.files)


@pytest.mark.parametrize("fixture", sorted(DATABASES))
def test_the_extractor_reads_each_format_at_its_path(fixture, tmp_path, el9):
    path = DATABASES[fixture][0]
    root = place(tmp_path, path, (FIXTURES / fixture).read_bytes())
    packages, ctx = run_extractor(RpmExtractor(), root, path, el9)
    assert ctx.errors == []
    assert {p.name for p in packages} == set(_headers(fixture))
    assert all(p.locations == (path,) and p.purl.startswith("pkg:rpm/almalinux/") for p in packages)
    assert len(ctx.owned) > 0


def test_source_package_of_a_binary_package_with_another_name():
    packages, _ = run_extractor(RpmExtractor(), FIXTURES / "libuuid", "/Packages")
    (libuuid,) = packages
    assert (libuuid.source_name, libuuid.source_version) == ("util-linux", "2.32.1-42.el8_8")
    assert libuuid.purl == "pkg:rpm/libuuid@2.32.1-42.el8_8?arch=x86_64&upstream=util-linux"
