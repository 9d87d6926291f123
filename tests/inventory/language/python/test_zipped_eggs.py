"""Zipped eggs: the metadata inside the archive, read as hostile input with the jars' bounded reader."""

import io
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.python import PythonInstalledExtractor
from vigil.inventory.model import Target

EGGS = Path(__file__).parent / "fixtures" / "eggs"
SITE = "/usr/local/lib/python3.11/site-packages"
PKG_INFO = b"Metadata-Version: 1.0\nName: hello-egg\nVersion: 1.2.3\nSummary: UNKNOWN\n"


def _egg(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _extract(tmp_path: Path, content: bytes, name: str = "hello_egg-1.2.3-py3.11.egg"):
    path = f"{SITE}/{name}"
    return run_extractor(PythonInstalledExtractor(), place(tmp_path, path, content), path)[0]


def test_a_zipped_egg_in_site_packages_is_the_distribution_its_pkg_info_names(tmp_path):
    egg = tmp_path / SITE.lstrip("/") / "example-21.12-py3.6.egg"  # CPython's test egg, made by setuptools
    egg.parent.mkdir(parents=True)
    shutil.copy(EGGS / "example-21.12-py3.6.egg", egg)
    inventory = Collector(LiveFS(str(tmp_path)), [PythonInstalledExtractor()], scope=PathScope.all()).collect(
        Target("directory", [str(tmp_path)])
    )
    assert [(p.name, p.version, p.purl, p.locations) for p in inventory.packages] == [
        ("example", "21.12", "pkg:pypi/example@21.12", (f"{SITE}/example-21.12-py3.6.egg",))
    ]
    assert inventory.extractors[0].files_read == (f"{SITE}/example-21.12-py3.6.egg",)


def test_an_egg_that_setuptools_bdist_egg_builds_is_read(tmp_path):
    pytest.importorskip("setuptools")
    project = tmp_path / "project"
    (project / "hello").mkdir(parents=True)
    (project / "hello" / "__init__.py").write_text("")
    (project / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='hello.egg_tool', version='0.4.post1', packages=['hello'])\n"
    )
    subprocess.run(
        [sys.executable, "setup.py", "-q", "bdist_egg"], cwd=project, check=True, capture_output=True
    )
    (built,) = (project / "dist").glob("*.egg")
    (package,) = _extract(tmp_path / "tree", built.read_bytes(), built.name)
    assert (package.name, package.version, package.purl) == (
        "hello.egg_tool",
        "0.4.post1",
        "pkg:pypi/hello-egg-tool@0.4.post1",
    )


def test_an_egg_without_pkg_info_is_no_distribution_and_no_error(tmp_path):
    """osv-scalibr's test egg without PKG-INFO: its test expects no package and no error."""
    assert _extract(tmp_path, (EGGS / "monotonic_no_pkginfo-1.6-py3.10.egg").read_bytes()) == []


def test_only_the_top_level_egg_info_counts(tmp_path):
    vendored = _egg({"vendor/other/EGG-INFO/PKG-INFO": b"Name: other\nVersion: 9\n"})
    assert _extract(tmp_path, vendored) == []


def test_a_pkg_info_without_a_version_is_an_error_naming_the_egg(tmp_path):
    with pytest.raises(ExtractError, match=r"hello_egg-1\.2\.3-py3\.11\.egg: no Version header"):
        _extract(tmp_path, _egg({"EGG-INFO/PKG-INFO": b"Metadata-Version: 1.0\nName: hello-egg\n"}))


@pytest.mark.timeout(10)
def test_a_pkg_info_bomb_is_refused_without_inflating_it(tmp_path):
    bomb = _egg({"EGG-INFO/PKG-INFO": PKG_INFO + bytes(100 << 20)})
    assert len(bomb) < 1 << 20
    with pytest.raises(ExtractError, match="over the 1048576-byte limit"):
        _extract(tmp_path, bomb)


@pytest.mark.timeout(10)
def test_a_pkg_info_inflating_past_what_its_header_declares_is_refused(tmp_path):
    content = bytearray(_egg({"EGG-INFO/PKG-INFO": PKG_INFO + bytes(4 << 20)}))
    struct.pack_into("<L", content, content.rfind(b"PK\x01\x02") + 24, 100)  # declared size: 100 bytes
    with pytest.raises(
        ExtractError, match="inflates past the 1048576-byte limit its header does not declare"
    ):
        _extract(tmp_path, bytes(content))


def test_an_encrypted_pkg_info_is_refused(tmp_path):
    content = bytearray(_egg({"EGG-INFO/PKG-INFO": PKG_INFO}))
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        struct.pack_into("<H", content, content.find(signature) + flags_at, 1)
    with pytest.raises(ExtractError, match=r"PKG-INFO: encrypted"):
        _extract(tmp_path, bytes(content))


@pytest.mark.parametrize(
    "content",
    [b"Name: not-a-zip\nVersion: 1\n", (EGGS / "example-21.12-py3.6.egg").read_bytes()[:700]],
    ids=["text", "truncated"],
)
def test_a_file_named_egg_that_is_not_a_readable_zip_is_a_clear_error(tmp_path, content):
    with pytest.raises(ExtractError, match=r"\.egg: not a readable zip archive"):
        _extract(tmp_path, content)


def test_an_unzipped_egg_directory_is_still_read_through_its_pkg_info(tmp_path):
    path = f"{SITE}/hello_egg-1.2.3-py3.11.egg/EGG-INFO/PKG-INFO"
    place(tmp_path, path, PKG_INFO)
    inventory = Collector(LiveFS(str(tmp_path)), [PythonInstalledExtractor()], scope=PathScope.all()).collect(
        Target("directory", [str(tmp_path)])
    )
    assert [(p.name, p.locations) for p in inventory.packages] == [("hello-egg", (path,))]
    assert inventory.extractors[0].errors == ()
