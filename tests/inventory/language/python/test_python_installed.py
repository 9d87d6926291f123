"""Installed Python distributions: osv-scalibr's test metadata, Debian's and a virtualenv's real files."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.inventory.extracting import RecordingContext, place, run_extractor

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.extractor import ExtractError, FoundFile
from vigil.inventory.language.python import PythonInstalledExtractor
from vigil.inventory.model import Target
from vigil.inventory.os.dpkg_files import DpkgFileListExtractor

FIXTURES = Path(__file__).parent / "fixtures"
DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def _collect(root: Path, roots: tuple[str, ...], extractors=None):
    scope = PathScope("test", roots)
    collector = Collector(LiveFS(str(root)), extractors or [PythonInstalledExtractor()], scope=scope)
    return collector.collect(Target("directory", [str(root)]))


@pytest.mark.parametrize("fixture", ["distinfo_meta", "egginfo", "mixed_case", "special_chars", "empty"])
def test_scalibr_metadata_files_give_what_its_tests_expect(tmp_path, fixture):
    (case,) = json.loads((FIXTURES / "scalibr" / f"{fixture}.expected.json").read_text())["cases"]
    path = "/srv/app/lib/python3.11/site-packages/x-1.0.dist-info/METADATA"
    root = place(tmp_path, path, (FIXTURES / "scalibr" / fixture).read_bytes())
    if case["want_error"]:
        with pytest.raises(ExtractError, match="no Name"):
            run_extractor(PythonInstalledExtractor(), root, path)
        return
    packages, _ = run_extractor(PythonInstalledExtractor(), root, path)
    assert [(p.name, p.version) for p in packages] == [(e["name"], e["version"]) for e in case["packages"]]
    (package,) = packages
    assert (package.type, package.package_manager, package.extractor, package.locations) == (
        "pypi",
        "PYTHONPKG",
        "language/python/installed",
        (path,),
    )


def test_debian_dist_packages_give_each_distribution_with_its_pep503_purl(tmp_path):
    shutil.copytree(FIXTURES / "debian" / "dist-packages", tmp_path / DIST_PACKAGES.lstrip("/"))
    inventory = _collect(tmp_path, ("/usr/lib",))
    assert [(p.name, p.version, p.purl, p.locations) for p in inventory.packages] == [
        (
            "distro",
            "1.8.0",
            "pkg:pypi/distro@1.8.0",
            (f"{DIST_PACKAGES}/distro-1.8.0.dist-info/METADATA",),
        ),
        (
            "lazr.uri",
            "1.0.6",
            "pkg:pypi/lazr-uri@1.0.6",
            (f"{DIST_PACKAGES}/lazr.uri-1.0.6.egg-info/PKG-INFO",),
        ),
        ("rpm", "4.18.0", "pkg:pypi/rpm@4.18.0", (f"{DIST_PACKAGES}/rpm-4.18.0.egg-info",)),  # a file
        ("six", "1.16.0", "pkg:pypi/six@1.16.0", (f"{DIST_PACKAGES}/six-1.16.0.egg-info/PKG-INFO",)),
    ]
    assert inventory.extractors[0].errors == ()


def test_a_distribution_a_debian_package_installed_is_marked_as_owned_by_it(tmp_path):
    shutil.copytree(FIXTURES / "debian" / "dist-packages", tmp_path / DIST_PACKAGES.lstrip("/"))
    place(
        tmp_path,
        "/var/lib/dpkg/info/python3-six.list",
        (FIXTURES / "debian" / "python3-six.list").read_bytes(),
    )
    inventory = _collect(tmp_path, ("/usr/lib",), [PythonInstalledExtractor(), DpkgFileListExtractor()])
    owners = {p.name: p.owner for p in inventory.packages}
    assert owners == {"distro": None, "lazr.uri": None, "rpm": None, "six": "python3-six"}


@pytest.mark.parametrize(
    "site_packages",
    [
        "/opt/app/.venv/lib/python3.11/site-packages",  # a virtualenv
        "/opt/app/vendor",  # pip install --target vendor
        "/usr/local/lib/python3.11/dist-packages",  # pip install as root on Debian
    ],
)
def test_distributions_are_found_in_virtualenvs_and_target_trees(tmp_path, site_packages):
    shutil.copytree(FIXTURES / "venv" / "site-packages", tmp_path / site_packages.lstrip("/"))
    inventory = _collect(tmp_path, ("/opt/app", "/usr/local/lib"))
    assert [(p.name, p.version, p.purl) for p in inventory.packages] == [
        ("packageurl-python", "0.17.6", "pkg:pypi/packageurl-python@0.17.6"),
        ("pydantic", "2.14.4", "pkg:pypi/pydantic@2.14.4"),
    ]


def test_an_unzipped_egg_is_found_by_its_egg_info(tmp_path):
    path = "/usr/local/lib/python3.11/site-packages/pycups-2.0.1-py3.11-linux-x86_64.egg/EGG-INFO/PKG-INFO"
    place(tmp_path, path, (FIXTURES / "scalibr" / "egginfo").read_bytes())
    inventory = _collect(tmp_path, ("/usr/local/lib",))
    assert [(p.name, p.version, p.locations) for p in inventory.packages] == [("pycups", "2.0.1", (path,))]


def test_only_the_header_block_is_read_not_the_long_description(tmp_path):
    metadata = FIXTURES / "venv" / "site-packages" / "pydantic-2.14.4.dist-info" / "METADATA"
    path = "/opt/app/pydantic-2.14.4.dist-info/METADATA"
    root = place(tmp_path, path, metadata.read_bytes())
    fs = LiveFS(str(root))
    (package,) = PythonInstalledExtractor().extract(FoundFile(fs.stat(path), fs), RecordingContext())
    assert (package.name, package.version) == ("pydantic", "2.14.4")
    assert metadata.stat().st_size > 100_000
    assert fs.bytes_read() <= 16 << 10


def test_every_distribution_debian_installed_on_this_host_is_read(tmp_path):
    """Needs the apt packages python3-six and python3-rpm (an `.egg-info` file)."""
    inventory = _collect(Path("/"), (DIST_PACKAGES,), [PythonInstalledExtractor(), DpkgFileListExtractor()])
    assert [e.errors for e in inventory.extractors] == [(), ()]
    found = {p.name: p for p in inventory.packages}
    for name, debian_package in (("six", "python3-six"), ("rpm", "python3-rpm")):
        debian_version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", debian_package], capture_output=True, text=True, check=True
        ).stdout
        upstream = debian_version.split(":", 1)[-1].rsplit("-", 1)[0].split("+", 1)[0]
        assert found[name].version == upstream
        assert found[name].owner == debian_package
