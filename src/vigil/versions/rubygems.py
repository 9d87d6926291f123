"""RubyGems versions, ordered as Gem::Version orders them (segments, letters make a pre-release)."""

from __future__ import annotations

import re
from functools import lru_cache

from vigil.versions.base import InvalidVersion, sign

_VALID = re.compile(r"^\s*([0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?\s*$")
_SEGMENT = re.compile(r"[0-9]+|[a-z]+", re.IGNORECASE)


@lru_cache(maxsize=65536)
def canonical_segments(version: str) -> tuple[int | str, ...]:
    if not _VALID.match(version):
        raise InvalidVersion("RubyGems", version)
    text = version.strip() or "0"
    text = text.replace("-", ".pre.")  # Gem::Version: "1.0-rc1" is the pre-release "1.0.pre.rc1"
    segments: list[int | str] = [int(s) if s.isdigit() else s for s in _SEGMENT.findall(text)]
    first_string = next((i for i, s in enumerate(segments) if isinstance(s, str)), len(segments))
    numeric, strings = segments[:first_string], segments[first_string:]
    # trailing zeros of each part are dropped: 1.0 == 1, 1.0.a == 1.a
    while numeric and numeric[-1] == 0:
        numeric.pop()
    while strings and strings[-1] == 0:
        strings.pop()
    return tuple(numeric + strings)


class RubyGemsScheme:
    name = "rubygems"

    def compare(self, a: str, b: str) -> int:
        left, right = canonical_segments(a), canonical_segments(b)
        for i in range(max(len(left), len(right))):
            x = left[i] if i < len(left) else 0
            y = right[i] if i < len(right) else 0
            if x == y:
                continue
            if isinstance(x, str) and isinstance(y, int):
                return -1
            if isinstance(x, int) and isinstance(y, str):
                return 1
            return sign(x, y)
        return 0

    def is_valid(self, version: str) -> bool:
        return _VALID.match(version) is not None
