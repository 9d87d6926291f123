"""SBOMs that Trivy and Syft made of the demo tree, read as inventories: what `grype sbom:` reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.enums import PackageManager
from vigil.inventory.documents import read_document
from vigil.inventory.targets import collect_inventory

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_ROOTFS = Path(__file__).resolve().parents[3] / "demo" / "rootfs"
PEER_SBOMS = sorted(p.name for p in FIXTURES.glob("*.json"))


@pytest.fixture(scope="module")
def tree():
    return collect_inventory([str(DEMO_ROOTFS)], scope="all")


def _os_packages(inventory):
    return {(p.name, p.version) for p in inventory.packages if p.package_manager is PackageManager.OS}


@pytest.mark.parametrize("name", PEER_SBOMS)
def test_a_peer_sbom_gives_the_same_os_packages_as_the_tree(name, tree):
    inventory = read_document(str(FIXTURES / name))
    assert inventory.target.kind == "sbom" and inventory.target.paths == (str(FIXTURES / name),)
    assert (inventory.os.id, inventory.os.version_id.split(".")[0], inventory.os.family) == (
        "debian", "11", "debian",
    )  # fmt: skip
    assert _os_packages(inventory) == _os_packages(tree)


@pytest.mark.parametrize("name", PEER_SBOMS)
def test_epochs_and_source_packages_survive_every_peer_format(name):
    packages = {p.name: p for p in read_document(str(FIXTURES / name)).packages}
    git = packages["git"]
    assert (git.version, git.epoch, git.arch) == ("1:2.30.2-1", 1, "amd64")
    assert packages["libc6"].source_name == "glibc"
    assert packages["apache2-bin"].source_name == "apache2"


@pytest.mark.parametrize("name", PEER_SBOMS)
def test_language_packages_get_the_names_advisories_use(name, tree):
    packages = {(p.type, p.name, p.version): p for p in read_document(str(FIXTURES / name)).packages}
    assert packages["pypi", "aiohttp", "3.8.4"].package_manager is PackageManager.PYTHONPKG
    jackson = packages["maven", "com.fasterxml.jackson.core:jackson-databind", "2.13.1"]
    assert jackson.package_manager is PackageManager.JAR
    expected = {(p.type, p.name, p.version) for p in tree.packages if p.type in ("pypi", "maven", "npm")}
    found = {key for key in packages if key[0] in ("pypi", "maven", "npm")}
    # nothing Vigil did not find in the tree, but the application's own package.json that peers list too
    assert found - expected <= {("npm", "shop-web", "1.4.0")}
    if name.startswith("trivy"):  # Syft's directory scan reads npm lock files only, not node_modules
        assert ("npm", "qs", "6.10.1") in found


def test_where_a_package_was_found_comes_along():
    syft = {p.name: p for p in read_document(str(FIXTURES / "syft-1.18.1.cyclonedx.json")).packages}
    assert syft["com.fasterxml.jackson.core:jackson-databind"].locations == (
        "/opt/shop/lib/jackson-databind-2.13.1.jar",
    )
    assert syft["bash"].locations == ("/var/lib/dpkg/status",)
