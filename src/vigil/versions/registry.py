"""The explicit map from OSV ecosystem names to version schemes (STYLE habit 2)."""

from __future__ import annotations

from vigil.versions.apk import ApkScheme
from vigil.versions.base import UnknownEcosystem, VersionScheme
from vigil.versions.dpkg import DpkgScheme
from vigil.versions.rpm import RpmScheme

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
    "Alpine": ApkScheme(),
}


def scheme_for(ecosystem: str) -> VersionScheme:
    """`Debian:12`, `Ubuntu:Pro:18.04:LTS`, `AlmaLinux:9` → the base ecosystem's scheme."""
    base = ecosystem.split(":", 1)[0]
    try:
        return SCHEMES[base]
    except KeyError:
        raise UnknownEcosystem(f"no version scheme for ecosystem {ecosystem!r}") from None
