import random

import pytest
from tests.inventory.extracting import RecordingContext, place, run_extractor
from tests.inventory.rpm.building import bdb_file, header_blob, ndb_file, package_blob, sqlite_file

from vigil.fs import LiveFS
from vigil.inventory.extractor import ExtractError, FoundFile
from vigil.inventory.os.rpm import MAX_DATABASE_SIZE, RpmExtractor, split_source_rpm

SQLITE = "/var/lib/rpm/rpmdb.sqlite"


def _extract(tmp_path, content: bytes, path: str = SQLITE, os_info=None):
    return run_extractor(RpmExtractor(), place(tmp_path, path, content), path, os_info)


def test_wants_the_three_databases_in_both_directories():
    assert RpmExtractor.wants.paths == {
        f"{d}/{n}"
        for d in ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
        for n in ("Packages", "Packages.db", "rpmdb.sqlite")
    }
    assert not RpmExtractor.wants.needs_walk
    assert (RpmExtractor.name, RpmExtractor.version) == ("os/rpm", 1)


@pytest.mark.parametrize(
    ("source_rpm", "expected"),
    [
        ("openssl-3.0.7-27.el9.src.rpm", ("openssl", "3.0.7-27.el9")),
        ("python-dateutil-2.8.1-6.el9.src.rpm", ("python-dateutil", "2.8.1-6.el9")),
        ("kernel-5.14.0-427.13.1.el9_4.nosrc.rpm", ("kernel", "5.14.0-427.13.1.el9_4")),
        ("gcc11-11.2.1+git610-1.3.9.src.rpm", ("gcc11", "11.2.1+git610-1.3.9")),
        ("broken.src.rpm", None),
        ("-1-2.src.rpm", None),
    ],
)
def test_source_rpm_names_split_from_the_right(source_rpm, expected):
    assert split_source_rpm(source_rpm) == expected


def test_the_format_is_sniffed_from_the_content_not_the_name(tmp_path):
    packages, _ = _extract(tmp_path, ndb_file([package_blob("bash")]), "/var/lib/rpm/rpmdb.sqlite")
    assert [p.name for p in packages] == ["bash"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"Package: bash\nVersion: 5\n", "not an rpm database")],
)
def test_a_file_that_is_no_rpm_database_is_an_extract_error(tmp_path, content, message):
    with pytest.raises(ExtractError, match=f"^{SQLITE}: .*{message}"):
        _extract(tmp_path, content)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("format", ["sqlite", "ndb", "bdb"])
def test_garbage_behind_a_real_magic_is_an_extract_error_or_reported_errors(tmp_path, format):
    good = {
        "sqlite": sqlite_file([package_blob("bash")]),
        "ndb": ndb_file([package_blob("bash")]),
        "bdb": bdb_file([package_blob("bash")]),
    }[format]
    rng = random.Random(format)
    for _ in range(30):
        data = good[:100] + rng.randbytes(rng.randint(0, 20000))
        try:
            _, ctx = _extract(tmp_path, data)
        except ExtractError as exc:
            assert str(exc).startswith(SQLITE + ": ")
        else:
            assert all(path == SQLITE for path, _ in ctx.errors)


def test_a_corrupt_header_is_reported_and_the_other_packages_kept(tmp_path):
    corrupt = package_blob("broken")[:40]
    packages, ctx = _extract(tmp_path, sqlite_file([package_blob("bash"), corrupt, package_blob("zlib")]))
    assert [p.name for p in packages] == ["bash", "zlib"]
    assert len(ctx.errors) == 1
    path, message = ctx.errors[0]
    assert path == SQLITE and message.startswith("hnum 2: header declares")


def test_a_database_whose_every_record_is_corrupt_is_an_extract_error(tmp_path):
    with pytest.raises(ExtractError, match=r"no readable package header \(2 errors\): hnum 1: "):
        _extract(tmp_path, sqlite_file([b"\0" * 8, b"garbage"]))


def test_an_empty_database_has_no_packages_and_no_errors(tmp_path):
    packages, ctx = _extract(tmp_path, sqlite_file([]))
    assert (packages, ctx.errors) == ([], [])


def test_gpg_pubkeys_are_not_packages(tmp_path):
    key = header_blob({1000: "gpg-pubkey", 1001: "fd431d51", 1002: "4ae0493b"})
    packages, ctx = _extract(tmp_path, sqlite_file([key, package_blob("bash")]))
    assert [p.name for p in packages] == ["bash"]
    assert ctx.errors == []


def test_a_package_without_source_rpm_or_os(tmp_path):
    blob = header_blob({1000: "local", 1001: "1", 1002: "1", 1003: 0, 1022: "noarch"})
    (package,), _ = _extract(tmp_path, sqlite_file([blob]))
    assert (package.source_name, package.source_version, package.epoch) == (None, None, 0)
    assert package.purl == "pkg:rpm/local@1-1?arch=noarch"


def test_files_are_owned_by_their_package(tmp_path):
    blob = package_blob("bash", files=["/usr/bin/bash", "/etc/skel/.bashrc"])
    _, ctx = _extract(tmp_path, sqlite_file([blob]))
    assert ctx.owned == {"/usr/bin/bash": "bash", "/etc/skel/.bashrc": "bash"}


class _LimitRecordingFile(FoundFile):
    """A FoundFile that remembers the limit of every read."""

    limits: list[int]

    def read(self, limit: int = 0) -> bytes:
        self.limits.append(limit)
        return super().read(limit)


def test_the_database_is_read_with_the_512_mib_limit(tmp_path):
    fs = LiveFS(str(place(tmp_path, SQLITE, sqlite_file([package_blob("bash")]))))
    file = _LimitRecordingFile(fs.stat(SQLITE), fs)
    file.limits = []
    packages = list(RpmExtractor().extract(file, RecordingContext()))
    assert [p.name for p in packages] == ["bash"]
    assert file.limits == [MAX_DATABASE_SIZE] == [512 << 20]
