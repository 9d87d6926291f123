"""The explicit map from OSV ecosystem names to version schemes (STYLE habit 2)."""

from __future__ import annotations

from vigil.enums import Ecosystem
from vigil.versions.apk import ApkScheme
from vigil.versions.base import UnknownEcosystem, VersionScheme
from vigil.versions.composer import ComposerScheme
from vigil.versions.dpkg import DpkgScheme
from vigil.versions.maven import MavenScheme
from vigil.versions.nuget import NuGetScheme
from vigil.versions.numeric import NumericScheme, RootScheme
from vigil.versions.pep440 import Pep440Scheme
from vigil.versions.rpm import RpmScheme
from vigil.versions.rubygems import RubyGemsScheme
from vigil.versions.semver import GoScheme, NpmScheme, SemverScheme

_DPKG, _RPM = DpkgScheme(), RpmScheme()

SCHEMES: dict[str, VersionScheme] = {
    Ecosystem.DEBIAN: _DPKG,
    Ecosystem.UBUNTU: _DPKG,
    Ecosystem.ALMALINUX: _RPM,
    Ecosystem.ROCKY_LINUX: _RPM,
    Ecosystem.RED_HAT: _RPM,
    Ecosystem.ORACLE_LINUX: _RPM,
    Ecosystem.SUSE: _RPM,
    Ecosystem.OPENSUSE: _RPM,
    Ecosystem.AMAZON_LINUX: _RPM,
    Ecosystem.MAGEIA: _RPM,
    Ecosystem.OPENEULER: _RPM,
    Ecosystem.ALPINE: ApkScheme(),
    Ecosystem.PYPI: Pep440Scheme(),
    Ecosystem.NPM: NpmScheme(),
    Ecosystem.CRATES_IO: SemverScheme("crates.io"),
    Ecosystem.PUB: SemverScheme("Pub"),
    Ecosystem.GO: GoScheme(),
    Ecosystem.MAVEN: MavenScheme(),
    Ecosystem.RUBYGEMS: RubyGemsScheme(),
    Ecosystem.NUGET: NuGetScheme(),
    Ecosystem.PACKAGIST: ComposerScheme(),
    Ecosystem.CRAN: NumericScheme("CRAN", ".-"),
    Ecosystem.BIOCONDUCTOR: NumericScheme("Bioconductor", ".-"),
    Ecosystem.HACKAGE: NumericScheme("Hackage", "."),
    Ecosystem.ROOT: RootScheme(),
}


def scheme_for(ecosystem: str) -> VersionScheme:
    """`Debian:12`, `Ubuntu:Pro:18.04:LTS`, `AlmaLinux:9` → the base ecosystem's scheme."""
    base = ecosystem.split(":", 1)[0]
    try:
        return SCHEMES[base]
    except KeyError:
        raise UnknownEcosystem(f"no version scheme for ecosystem {ecosystem!r}") from None
