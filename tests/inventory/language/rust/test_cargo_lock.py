"""Cargo.lock files: osv-scalibr's and Trivy's test lock files, and damaged ones."""

import json
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.fs import FSError
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.rust import CargoLockExtractor

FIXTURES = Path(__file__).parent / "fixtures"
LOCK = "/srv/app/Cargo.lock"


def _extract(tmp_path: Path, content: bytes):
    return run_extractor(CargoLockExtractor(), place(tmp_path, LOCK, content), LOCK)


@pytest.mark.parametrize(
    "fixture",
    [
        "empty.lock",
        "one-package.lock",
        "two-packages.lock",
        "many-packages.lock",
        "package-with-comments.lock",
    ],
)
def test_scalibr_lock_files_give_the_packages_its_tests_expect(tmp_path, fixture):
    expected = json.loads((FIXTURES / "scalibr" / f"{fixture}.expected.json").read_text())["cases"][0]
    packages, ctx = _extract(tmp_path, (FIXTURES / "scalibr" / fixture).read_bytes())
    assert [(p.name, p.version) for p in packages] == [
        (e["name"], e["version"]) for e in expected["packages"]
    ]
    assert not ctx.errors
    for package in packages:
        assert (package.type, package.package_manager, package.extractor) == (
            "cargo",
            "CARGO",
            "language/rust/cargo-lock",
        )
        assert package.purl == f"pkg:cargo/{package.name}@{package.version}"
        assert package.locations == (LOCK,)


def test_crates_from_crates_io_have_no_note_and_a_git_crate_is_noted(tmp_path):
    packages, _ = _extract(tmp_path, (FIXTURES / "scalibr" / "package-with-comments.lock").read_bytes())
    assert [p.notes for p in packages] == [
        (),
        (
            "from the git repository https://github.com/rust-lang/cargo?branch=master"
            "#061a9ab4cfabf2a403dbeab4bbcb8ff97d344dff, not crates.io",
        ),
    ]


def test_workspace_members_and_path_crates_are_not_reported(tmp_path):
    packages, ctx = _extract(tmp_path, (FIXTURES / "trivy" / "cargo_v3.lock").read_bytes())
    assert [(p.name, p.version) for p in packages] == [
        ("aho-corasick", "0.7.20"),
        ("libc", "0.2.140"),
        ("memchr", "1.0.2"),
        ("memchr", "2.5.0"),
        ("regex", "1.7.3"),
        ("regex-syntax", "0.5.6"),
        ("regex-syntax", "0.6.29"),
        ("ucd-util", "0.1.10"),
    ]  # not `app`, the project itself (no `source`)
    assert not ctx.errors


def test_a_crate_from_another_registry_is_reported_with_a_note(tmp_path):
    lock = b'version = 3\n\n[[package]]\nname = "internal-log"\nversion = "1.2.0"\nsource = "sparse+https://cargo.example.invalid/index/"\n'
    packages, _ = _extract(tmp_path, lock)
    assert [(p.name, p.version, p.notes) for p in packages] == [
        ("internal-log", "1.2.0", ("from the registry https://cargo.example.invalid/index/, not crates.io",))
    ]


def test_not_toml_is_an_error(tmp_path):
    with pytest.raises(ExtractError, match="not a TOML lock file"):
        _extract(tmp_path, (FIXTURES / "scalibr" / "not-toml.txt").read_bytes())


def test_a_record_without_a_version_is_reported_and_the_others_kept(tmp_path):
    text = (FIXTURES / "scalibr" / "two-packages.lock").read_text().replace('version = "0.15.2"\n', "", 1)
    packages, ctx = _extract(tmp_path, text.encode())
    assert [p.name for p in packages] == ["syn"]
    assert ctx.errors == [(LOCK, "package 1: no name or version")]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"package = 3\n", "`package` is not an array of tables"),
        (b"version = 3\n# \xff\xfe not UTF-8\n", "not a TOML lock file"),
        (b"a = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "not a TOML lock file"),
    ],
)
def test_damaged_lock_files_raise_a_clear_error(tmp_path, content, error):
    with pytest.raises(ExtractError, match=error):
        _extract(tmp_path, content)


@pytest.mark.timeout(10)
def test_a_lock_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path):
    with pytest.raises(FSError, match="larger than the 8388608-byte limit"):
        _extract(tmp_path, b"# padding\n" * (1 << 20))
