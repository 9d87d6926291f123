"""`vigil scan` of what was collected elsewhere, and with the collection options of `vigil inventory`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.cli import vigil

from vigil.demo import build_demo_advisories

DEMO_ROOTFS = Path(__file__).resolve().parents[2] / "demo" / "rootfs"
SBOM_FIXTURES = Path(__file__).resolve().parents[1] / "inventory" / "sbom" / "fixtures"
_STAMPS = ("firstObservedAt", "lastObservedAt", "updatedAt")


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    return build_demo_advisories(tmp_path_factory.mktemp("demo-advisories"))


def _findings(*args: str) -> list[dict]:
    doc = json.loads(vigil("scan", *args, "--format", "json").stdout)
    return [{k: v for k, v in f.items() if k not in _STAMPS} for f in doc["findings"]]


@pytest.mark.parametrize("document_format", ["json", "cyclonedx", "spdx"])
def test_scanning_vigils_own_document_of_a_tree_gives_exactly_the_trees_findings(
    database, tmp_path, document_format
):
    document = tmp_path / f"inventory.{document_format}"
    vigil("inventory", DEMO_ROOTFS, "--scope", "all", "--format", document_format, "-o", document)
    of_tree = _findings(str(DEMO_ROOTFS), "--scope", "all", "--db", str(database))
    assert len(of_tree) > 20 and any(f["title"].endswith("aiohttp") for f in of_tree)
    assert _findings(str(document), "--db", str(database)) == of_tree


def _ids(findings: list[dict]) -> set[str]:
    return {f["packageVulnerabilityDetails"]["vulnerabilityId"] for f in findings}


@pytest.mark.parametrize("name", sorted(p.name for p in SBOM_FIXTURES.glob("*.json")))
def test_a_peers_sbom_of_a_tree_gives_the_trees_vulnerabilities(database, name):
    """Trivy's and Syft's SBOMs of the demo tree, scanned as `grype sbom:` would scan them."""
    of_tree = _ids(_findings(str(DEMO_ROOTFS), "--scope", "all", "--db", str(database)))
    missed_by_peer = {"CVE-2022-24999"} if name.startswith("syft") else set()  # qs: Syft skips node_modules
    assert _ids(_findings(str(SBOM_FIXTURES / name), "--db", str(database))) == of_tree - missed_by_peer


def test_the_default_paths_miss_an_application_that_scope_all_and_path_reach(database):
    def aiohttp_findings(*options: str) -> int:
        findings = _findings(str(DEMO_ROOTFS), "--db", str(database), *options)
        return sum(f["title"].endswith("aiohttp") for f in findings)

    assert aiohttp_findings() == 0  # a directory's default scope: Inspector's four default paths
    assert aiohttp_findings("--scope", "all") > 0
    assert aiohttp_findings("--path", "/opt/shop") == aiohttp_findings("--scope", "all")


def test_the_language_package_limit_is_the_inventorys(database):
    limited = vigil("scan", DEMO_ROOTFS, "--scope", "all", "--max-packages", "1", "--db", database)
    assert "limit reached: over 1 language packages" in limited.stderr
    findings = _findings(str(DEMO_ROOTFS), "--scope", "all", "--max-packages", "0", "--db", str(database))
    assert not any(f["title"].endswith("aiohttp") for f in findings)


def test_a_json_file_that_is_no_inventory_or_sbom_is_a_clear_error(database, tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}')
    result = vigil("scan", other, "--db", database, check=False)
    assert result.returncode == 2
    assert "neither a Vigil Inventory, a CycloneDX nor an SPDX document" in result.stderr


def test_a_forged_inventory_is_refused_with_the_reason(database, tmp_path):
    forged = tmp_path / "forged.json"
    vigil("inventory", DEMO_ROOTFS, "--format", "json", "-o", forged)
    doc = json.loads(forged.read_text())
    doc["packages"][0]["package_manager"] = "EVIL"
    forged.write_text(json.dumps(doc))
    result = vigil("scan", forged, "--db", database, check=False)
    assert result.returncode == 2 and "packages.0.package_manager" in result.stderr
