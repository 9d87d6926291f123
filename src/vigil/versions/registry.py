"""The explicit map from OSV ecosystem names to version schemes (STYLE habit 2)."""

from __future__ import annotations

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
    "Debian": _DPKG,
    "Ubuntu": _DPKG,
    "AlmaLinux": _RPM,
    "Rocky Linux": _RPM,
    "Red Hat": _RPM,
    "SUSE": _RPM,
    "openSUSE": _RPM,
    "Amazon Linux": _RPM,
    "Mageia": _RPM,
    "openEuler": _RPM,
    "Alpine": ApkScheme(),
    "PyPI": Pep440Scheme(),
    "npm": NpmScheme(),
    "crates.io": SemverScheme("crates.io"),
    "Pub": SemverScheme("Pub"),
    "Go": GoScheme(),
    "Maven": MavenScheme(),
    "RubyGems": RubyGemsScheme(),
    "NuGet": NuGetScheme(),
    "Packagist": ComposerScheme(),
    "CRAN": NumericScheme("CRAN", ".-"),
    "Bioconductor": NumericScheme("Bioconductor", ".-"),
    "Hackage": NumericScheme("Hackage", "."),
    "Root": RootScheme(),
}


def scheme_for(ecosystem: str) -> VersionScheme:
    """`Debian:12`, `Ubuntu:Pro:18.04:LTS`, `AlmaLinux:9` → the base ecosystem's scheme."""
    base = ecosystem.split(":", 1)[0]
    try:
        return SCHEMES[base]
    except KeyError:
        raise UnknownEcosystem(f"no version scheme for ecosystem {ecosystem!r}") from None
