"""Every upstream vector (tests/versions/vectors, see its README) passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.versions import compare, is_valid
from vigil.versions.nuget import equal_including_metadata
from vigil.versions.osv import osv_compare

VECTORS = Path(__file__).parent / "vectors"

COMPARE_FILES = {
    "version-compare/dpkg.json": "Debian",
    "version-compare/rpm.json": "Red Hat",
    "version-compare/rpm_evr.json": "Red Hat",
    "version-compare/rpm_oddities.json": "Red Hat",
    "version-compare/apk.json": "Alpine",
    "version-compare/pep440.json": "PyPI",
    "version-compare/semver_npm.json": "npm",
    "version-compare/maven.json": "Maven",
    "version-compare/rubygems.json": "RubyGems",
    "version-compare/nuget.json": "NuGet",
}
# osv.dev's ecosystem helpers order with `0` first and unreadable versions last (vigil.versions.osv)
OSV_FILES = {
    "osv-ecosystems/alpine.json": "Alpine",
    "osv-ecosystems/debian.json": "Debian",
    "osv-ecosystems/redhat.json": "Red Hat",
    "osv-ecosystems/pypi.json": "PyPI",
    "osv-ecosystems/nuget.json": "NuGet",
    "osv-ecosystems/packagist.json": "Packagist",
    "osv-ecosystems/packagist_cases.json": "Packagist",
    "osv-ecosystems/rubygems.json": "RubyGems",
    "osv-ecosystems/maven.json": "Maven",
    "osv-ecosystems/pub.json": "Pub",
    "osv-ecosystems/cran.json": "CRAN",
    "osv-ecosystems/bioconductor.json": "Bioconductor",
    "osv-ecosystems/haskell.json": "Hackage",
    "osv-ecosystems/root.json": "Root",
}


def _cases(files):
    for name, ecosystem in files.items():
        for i, case in enumerate(json.loads((VECTORS / name).read_text())):
            yield pytest.param(ecosystem, case, id=f"{name}#{i}")


@pytest.mark.parametrize(("ecosystem", "case"), list(_cases(COMPARE_FILES)))
def test_compare(ecosystem, case):
    _check(compare(ecosystem, case["a"], case["b"]), case)


@pytest.mark.parametrize(("ecosystem", "case"), list(_cases(OSV_FILES)))
def test_osv_ordering(ecosystem, case):
    _check(osv_compare(ecosystem, case["a"], case["b"]), case)


def _check(result, case):
    if "cmp" in case:
        assert result == case["cmp"], case
    elif case.get("relation") == ">=":
        assert result >= 0, case
    elif case.get("relation") == "<=":
        assert result <= 0, case
    else:
        raise AssertionError(f"unknown case shape {case}")


@pytest.mark.parametrize(
    ("ecosystem", "case"), list(_cases({"version-compare/nuget_not_equal.json": "NuGet"}))
)
def test_nuget_not_equal(ecosystem, case):
    """NuGet's test helper compares with metadata (`1.0.0-BETA+AA` is not `1.0.0-beta` there)."""
    assert not equal_including_metadata(case["a"], case["b"])


@pytest.mark.parametrize(
    ("ecosystem", "case"),
    list(
        _cases(
            {
                "validity/pep440.json": "PyPI",
                "validity/apk.json": "Alpine",
                "validity/gomod_semver.json": "Go",
            }
        )
    ),
)
def test_validity(ecosystem, case):
    assert is_valid(ecosystem, case["version"]) == case["valid"], case
