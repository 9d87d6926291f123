"""Damaged and hostile metadata files: an error naming the problem, bounded reads, no hang."""

from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.python import PythonInstalledExtractor
from vigil.inventory.model import Target

METADATA = "/usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA"


def _extract(tmp_path: Path, content: bytes):
    return run_extractor(PythonInstalledExtractor(), place(tmp_path, METADATA, content), METADATA)


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"Metadata-Version: 2.1\nVersion: 1.0\n", "no Name header"),
        (b"Metadata-Version: 2.1\nName: foo\n\nVersion: 1.0\n", "no Version header for 'foo'"),
        (b"\nName: foo\nVersion: 1.0\n", "no Name header"),  # the header block is empty
        (b"Name: foo bar\nVersion: 1.0\n", "'foo bar' is not a valid distribution name"),
        (b"Name: foo\nVersion: 1.0 beta\n", "'1.0 beta' of foo is not a version"),
        (b"Name: foo\nVersion: " + b"1" * 500 + b"\n", "of foo is not a version"),
        (b"Name: f\xff\xfeo\nVersion: 1.0\n", "is not a valid distribution name"),  # invalid UTF-8
        (b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 64, "no Name header"),  # binary junk
    ],
)
def test_metadata_without_a_usable_name_or_version_is_an_error_naming_it(tmp_path, content, problem):
    with pytest.raises(ExtractError, match=problem) as raised:
        _extract(tmp_path, content)
    assert METADATA in str(raised.value)


def test_windows_line_endings_are_read(tmp_path):
    packages, _ = _extract(
        tmp_path, b"Metadata-Version: 2.1\r\nName: cafe-tools\r\nVersion: 2.0\r\n\r\nbody\r\n"
    )
    assert [(p.name, p.version) for p in packages] == [("cafe-tools", "2.0")]


def test_a_non_ascii_name_is_not_a_distribution_name(tmp_path):
    with pytest.raises(ExtractError, match="'café-tools' is not a valid distribution name"):
        _extract(tmp_path, "Name: café-tools\nVersion: 2.0\n".encode())  # PEP 508 names are ASCII


@pytest.mark.timeout(10)
def test_a_huge_header_block_without_an_empty_line_is_read_only_up_to_the_cap(tmp_path):
    content = b"Name: big\nVersion: 3.0\n" + b"Classifier: Topic :: x\n" * 2_000_000  # 46 MB
    root = place(tmp_path, METADATA, content)
    fs = LiveFS(str(root))
    inventory = Collector(fs, [PythonInstalledExtractor()], scope=PathScope("t", ("/usr/lib",))).collect(
        Target("directory", [str(root)])
    )
    assert [(p.name, p.version) for p in inventory.packages] == [("big", "3.0")]
    assert inventory.stats.bytes_read <= 64 << 10


@pytest.mark.timeout(10)
def test_a_folded_name_past_the_cap_is_an_error_not_a_hang(tmp_path):
    content = b"Description: x\n" + b"        more description\n" * 1_000_000 + b"Name: late\nVersion: 1\n"
    with pytest.raises(ExtractError, match="no Name header"):
        _extract(tmp_path, content)


def test_an_egg_info_directory_is_not_read_as_a_file(tmp_path):
    (tmp_path / "usr/lib/python3/dist-packages/foo-1.0.egg-info").mkdir(parents=True)
    place(tmp_path, "/usr/lib/python3/dist-packages/foo-1.0.egg-info/PKG-INFO", "Name: foo\nVersion: 1.0\n")
    inventory = Collector(
        LiveFS(str(tmp_path)), [PythonInstalledExtractor()], scope=PathScope("t", ("/usr/lib",))
    ).collect(Target("directory", [str(tmp_path)]))
    assert [(p.name, p.locations) for p in inventory.packages] == [
        ("foo", ("/usr/lib/python3/dist-packages/foo-1.0.egg-info/PKG-INFO",))
    ]
    assert inventory.extractors[0].errors == ()
