"""SemVer 2.0.0 (npm, crates.io, Pub) and Go module versions.

npm reads versions loosely, as node-semver does in loose mode (`v1.2.3`, `= 1.2.3`, `1.2.3beta`); Go
follows golang.org/x/mod/semver (`v` prefix, `v1.2` is `v1.2.0`, `+incompatible` is build metadata,
pseudo-versions are pre-releases). OSV's Go records omit the `v`; it is added before parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vigil.versions.base import InvalidVersion, parses, sign

_IDENT = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_STRICT = re.compile(
    rf"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-({_IDENT}(?:\.{_IDENT})*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_LOOSE_IDENT = r"(?:\d+|\d*[A-Za-z-][0-9A-Za-z-]*)"
_LOOSE = re.compile(
    rf"^[v=\s]*(\d+)\.(\d+)\.(\d+)(?:-?({_LOOSE_IDENT}(?:\.{_LOOSE_IDENT})*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\s*$"
)
_GO = re.compile(
    rf"^v(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:-({_IDENT}(?:\.{_IDENT})*))?)?)?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


@dataclass(frozen=True, slots=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()

    def compare(self, other: SemVer) -> int:
        result = sign((self.major, self.minor, self.patch), (other.major, other.minor, other.patch))
        if result:
            return result
        return compare_prerelease(self.prerelease, other.prerelease)


def compare_prerelease(a: tuple[int | str, ...], b: tuple[int | str, ...]) -> int:
    """No pre-release sorts after any; numeric identifiers sort before alphanumeric ones."""
    if not a or not b:
        return sign(not a, not b)
    for x, y in zip(a, b, strict=False):
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return sign(x, y)
        if isinstance(x, int):
            return -1
        if isinstance(y, int):
            return 1
        return sign(x, y)
    return sign(len(a), len(b))


def _prerelease(text: str | None) -> tuple[int | str, ...]:
    if not text:
        return ()
    return tuple(int(p) if p.isdigit() else p for p in text.split("."))


@lru_cache(maxsize=65536)
def parse_strict(version: str, ecosystem: str = "SemVer") -> SemVer:
    match = _STRICT.match(version)
    if match is None:
        raise InvalidVersion(ecosystem, version)
    return SemVer(int(match[1]), int(match[2]), int(match[3]), _prerelease(match[4]))


@lru_cache(maxsize=65536)
def parse_loose(version: str) -> SemVer:
    match = _LOOSE.match(version)
    if match is None:
        raise InvalidVersion("npm", version)
    return SemVer(int(match[1]), int(match[2]), int(match[3]), _prerelease(match[4]))


@lru_cache(maxsize=65536)
def parse_go(version: str) -> SemVer:
    text = version if version.startswith("v") else f"v{version}"
    match = _GO.match(text)
    if match is None or (match[4] and match[3] is None) or (match[5] and match[3] is None):
        # x/mod: a pre-release or build suffix needs all three numbers (v1.2-pre is invalid)
        raise InvalidVersion("Go", version)
    return SemVer(int(match[1]), int(match[2] or 0), int(match[3] or 0), _prerelease(match[4]))


class SemverScheme:
    """Strict SemVer 2.0.0 (crates.io, Pub)."""

    name = "semver"

    def __init__(self, ecosystem: str) -> None:
        self.ecosystem = ecosystem

    def compare(self, a: str, b: str) -> int:
        return parse_strict(a, self.ecosystem).compare(parse_strict(b, self.ecosystem))

    def is_valid(self, version: str) -> bool:
        return _STRICT.match(version) is not None


class NpmScheme:
    name = "npm"

    def compare(self, a: str, b: str) -> int:
        return parse_loose(a).compare(parse_loose(b))

    def is_valid(self, version: str) -> bool:
        return _LOOSE.match(version) is not None


class GoScheme:
    name = "go"

    def compare(self, a: str, b: str) -> int:
        return parse_go(a).compare(parse_go(b))

    def is_valid(self, version: str) -> bool:
        return parses(parse_go, version)


def go_semver_compare(a: str, b: str) -> int:
    """golang.org/x/mod/semver.Compare: invalid versions are equal to each other and below valid ones."""
    scheme = GoScheme()
    valid_a = a.startswith("v") and scheme.is_valid(a)
    valid_b = b.startswith("v") and scheme.is_valid(b)
    if not (valid_a and valid_b):
        return sign(valid_a, valid_b)
    return scheme.compare(a, b)
