"""The product's vocabulary, one set for every layer: severities, package managers and ecosystems.

The values are the spellings users meet elsewhere: Inspector's `Severity` and `PackageManager` enums
(botocore's `inspector2` model) and OSV's ecosystem names. They are `StrEnum`s, so a value read from JSON
or a database compares equal to its member.
"""

from __future__ import annotations

import enum


class Severity(enum.StrEnum):
    """Inspector's finding severity."""

    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"
    UNTRIAGED = "UNTRIAGED"

    @property
    def rank(self) -> int:
        """Order for sorting and `--fail-on`: UNTRIAGED ranks with nothing known (lowest)."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.UNTRIAGED: 0,
    Severity.INFORMATIONAL: 1,
    Severity.LOW: 2,
    Severity.MEDIUM: 3,
    Severity.HIGH: 4,
    Severity.CRITICAL: 5,
}


class PackageManager(enum.StrEnum):
    """Inspector's `packageManager`: what installed (or declared) a package."""

    BUNDLER = "BUNDLER"
    CARGO = "CARGO"
    COMPOSER = "COMPOSER"
    NPM = "NPM"
    NUGET = "NUGET"
    PIPENV = "PIPENV"
    POETRY = "POETRY"
    YARN = "YARN"
    GOBINARY = "GOBINARY"
    GOMOD = "GOMOD"
    JAR = "JAR"
    OS = "OS"
    PIP = "PIP"
    PYTHONPKG = "PYTHONPKG"
    NODEPKG = "NODEPKG"
    POM = "POM"
    GEMSPEC = "GEMSPEC"
    DOTNET_CORE = "DOTNET_CORE"


class Ecosystem(enum.StrEnum):
    """An OSV ecosystem name (without release): it selects the version scheme and the advisories."""

    DEBIAN = "Debian"
    UBUNTU = "Ubuntu"
    ALPINE = "Alpine"
    ALMALINUX = "AlmaLinux"
    ROCKY_LINUX = "Rocky Linux"
    RED_HAT = "Red Hat"
    ORACLE_LINUX = "Oracle Linux"  # not an OSV ecosystem: Oracle publishes OVAL, imported under this name
    SUSE = "SUSE"
    OPENSUSE = "openSUSE"
    AMAZON_LINUX = "Amazon Linux"
    MAGEIA = "Mageia"
    OPENEULER = "openEuler"
    PYPI = "PyPI"
    NPM = "npm"
    MAVEN = "Maven"
    GO = "Go"
    CRATES_IO = "crates.io"
    RUBYGEMS = "RubyGems"
    PACKAGIST = "Packagist"
    NUGET = "NuGet"
    PUB = "Pub"
    CRAN = "CRAN"
    BIOCONDUCTOR = "Bioconductor"
    HACKAGE = "Hackage"
    ROOT = "Root"


__all__ = ["Ecosystem", "PackageManager", "Severity"]
