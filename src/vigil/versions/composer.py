"""Composer (Packagist) versions, ordered as osv.dev orders them (PHP's version_compare, made exact).

`v1.2.3-RC1` → `1.2.3.RC.1`: separators `-_+` become `.`, and a `.` goes between digits and
non-digits. Special forms order: other words < dev < alpha = a < beta = b < RC = rc < number < pl = p.
Like osv.dev's port (whose test cases we pass) and unlike PHP's C code, a special form must match a
part exactly (`betafoo` is "another word", not `beta`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from vigil.versions.base import sign

_SPECIAL = {"dev": 0, "alpha": 1, "a": 1, "beta": 2, "b": 2, "RC": 3, "rc": 3, "#": 4, "pl": 5, "p": 5}
_NUMBER = "#"


@lru_cache(maxsize=65536)
def canonical(version: str) -> tuple[str, ...]:
    text = version[1:] if version.startswith("v") else version
    text = re.sub(r"[-_+]", ".", text)
    text = re.sub(r"([^\d.])(\d)", r"\1.\2", text)
    text = re.sub(r"(\d)([^\d.])", r"\1.\2", text)
    return tuple(text.split("."))


def _special(a: str, b: str) -> int:
    return sign(_SPECIAL.get(a, -1), _SPECIAL.get(b, -1))


def _compare_parts(left: tuple[str, ...], right: tuple[str, ...]) -> int:
    for x, y in zip(left, right, strict=False):
        if x.isdigit() and y.isdigit():
            result = sign(int(x), int(y))
        elif not x.isdigit() and not y.isdigit():
            result = _special(x, y)
        else:
            result = _special(_NUMBER, y) if x.isdigit() else _special(x, _NUMBER)
        if result:
            return result
    if len(left) > len(right):
        rest = left[len(right) :]
        return 1 if rest[0].isdigit() else _compare_parts(rest, (_NUMBER,))
    if len(left) < len(right):
        rest = right[len(left) :]
        return -1 if rest[0].isdigit() else _compare_parts((_NUMBER,), rest)
    return 0


def version_compare(a: str, b: str) -> int:
    return _compare_parts(canonical(a), canonical(b))


class ComposerScheme:
    name = "composer"

    def compare(self, a: str, b: str) -> int:
        return version_compare(a, b)

    def is_valid(self, version: str) -> bool:
        return bool(version.strip())
