"""OSV range evaluation (https://ossf.github.io/osv-schema/#evaluation), exactly as the spec describes.

An `affected` entry matches a version when the version is listed in `versions`, or when one of its
ECOSYSTEM or SEMVER ranges includes it: events are sorted by version (`0` first), `introduced` turns
vulnerability on, `fixed` (at or above) and `last_affected` (above) turn it off; a `limit` bounds the
range from above. GIT ranges cannot be evaluated against a package version and are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cmp_to_key
from typing import Any

from vigil.versions.base import InvalidVersion
from vigil.versions.osv import osv_compare
from vigil.versions.registry import scheme_for

_SEMVER_ECOSYSTEMS = frozenset({"npm", "crates.io", "Go", "Pub", "NuGet"})


def range_ecosystem(ecosystem: str, range_type: str) -> str:
    """SEMVER ranges are compared as SemVer; in ecosystems whose versions are SemVer, with their scheme."""
    base = ecosystem.split(":", 1)[0]
    if range_type == "SEMVER" and base not in _SEMVER_ECOSYSTEMS:
        return "crates.io"  # strict SemVer 2.0.0
    return ecosystem


def range_includes(ecosystem: str, version: str, events: Sequence[Mapping[str, str]]) -> bool:
    """Whether one range's events include `version` (InvalidVersion if the scheme cannot read it)."""
    scheme = scheme_for(ecosystem)
    if not scheme.is_valid(version):
        raise InvalidVersion(ecosystem, version)
    pairs = [(kind, str(value)) for event in events for kind, value in event.items()]
    limits = [v for kind, v in pairs if kind == "limit"]
    if any(v != "*" and osv_compare(ecosystem, version, v) >= 0 for v in limits):
        return False

    def by_version(a: tuple[str, str], b: tuple[str, str]) -> int:
        return osv_compare(ecosystem, a[1], b[1])

    vulnerable = False
    for kind, value in sorted((p for p in pairs if p[0] != "limit"), key=cmp_to_key(by_version)):
        if kind == "introduced":
            if value == "0" or osv_compare(ecosystem, version, value) >= 0:
                vulnerable = True
        elif kind == "fixed":
            if osv_compare(ecosystem, version, value) >= 0:
                vulnerable = False
        elif kind == "last_affected" and osv_compare(ecosystem, version, value) > 0:
            vulnerable = False
    return vulnerable


def is_affected(ecosystem: str, version: str, affected: Mapping[str, Any]) -> bool:
    """Whether an OSV `affected[]` entry (its `versions` and `ranges`) includes `version`."""
    if version in affected.get("versions", ()):
        return True
    for entry in affected.get("ranges", ()):
        range_type = str(entry.get("type", "ECOSYSTEM"))
        if range_type == "GIT":
            continue
        if range_includes(range_ecosystem(ecosystem, range_type), version, entry.get("events", ())):
            return True
    return False
