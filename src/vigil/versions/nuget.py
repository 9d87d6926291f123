"""NuGet versions: SemVer 2 with up to four numbers, case-insensitive labels, metadata ignored."""

from __future__ import annotations

import re
from functools import lru_cache

from vigil.versions.base import InvalidVersion, sign
from vigil.versions.semver import compare_prerelease

_NUGET = re.compile(
    r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z.-]*))?\s*$"
)


@lru_cache(maxsize=65536)
def parse(version: str) -> tuple[tuple[int, int, int, int], tuple[int | str, ...]]:
    match = _NUGET.match(version)
    if match is None:
        raise InvalidVersion("NuGet", version)
    numbers = tuple(int(match[i] or 0) for i in range(1, 5))
    labels = tuple(int(p) if p.isdigit() else p.lower() for p in match[5].split(".")) if match[5] else ()
    return (numbers[0], numbers[1], numbers[2], numbers[3]), labels


class NuGetScheme:
    name = "nuget"

    def compare(self, a: str, b: str) -> int:
        (na, la), (nb, lb) = parse(a), parse(b)
        return sign(na, nb) or compare_prerelease(la, lb)

    def is_valid(self, version: str) -> bool:
        return _NUGET.match(version) is not None


def equal_including_metadata(a: str, b: str) -> bool:
    """NuGet's VersionReleaseMetadata equality: like Default, and build metadata must match too."""
    if NuGetScheme().compare(a, b):
        return False
    ma, mb = _NUGET.match(a), _NUGET.match(b)
    assert ma is not None and mb is not None
    return (ma[6] or "").lower() == (mb[6] or "").lower()
