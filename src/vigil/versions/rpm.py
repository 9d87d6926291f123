"""rpm versions: [epoch:]version[-release], compared with rpmvercmp (tilde and caret included).

Follows rpm's real behaviour, including the cases its test suite documents as "arguably buggy"
(e.g. `1b.fc17` vs `1.fc17`): alphabetic and numeric segments, numeric segments newer than alphabetic.
"""

from __future__ import annotations

import re
from functools import lru_cache

from vigil.versions.base import InvalidVersion, parses, sign

_SEGMENT = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")


def _alnum(char: str) -> bool:
    """rpm's risalnum: ASCII only (any other character, `α` included, is a separator)."""
    return char.isascii() and char.isalnum()


def rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        # skip separators (anything not alphanumeric, ~ or ^)
        while i < len(a) and not (_alnum(a[i]) or a[i] in "~^"):
            i += 1
        while j < len(b) and not (_alnum(b[j]) or b[j] in "~^"):
            j += 1
        # tilde: sorts before everything, even the end
        if (i < len(a) and a[i] == "~") or (j < len(b) and b[j] == "~"):
            if i >= len(a) or a[i] != "~":
                return 1
            if j >= len(b) or b[j] != "~":
                return -1
            i += 1
            j += 1
            continue
        # caret: sorts after the end, before everything else
        if (i < len(a) and a[i] == "^") or (j < len(b) and b[j] == "^"):
            if i >= len(a):
                return -1
            if j >= len(b):
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if i >= len(a) or j >= len(b):
            break
        match_a = _SEGMENT.match(a, i)
        match_b = _SEGMENT.match(b, j)
        assert match_a is not None and match_b is not None
        seg_a, seg_b = match_a.group(), match_b.group()
        numeric = seg_a[0].isdigit()
        if numeric != seg_b[0].isdigit():
            return 1 if numeric else -1  # numeric segments are newer than alphabetic ones
        i, j = match_a.end(), match_b.end()
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return sign(len(seg_a), len(seg_b))
        if seg_a != seg_b:
            return sign(seg_a, seg_b)
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


@lru_cache(maxsize=65536)
def parse(version: str) -> tuple[int, str, str | None]:
    """(epoch, version, release); a missing epoch is 0, a missing release is None (not compared)."""
    text = version.strip()
    if not text:
        raise InvalidVersion("rpm", version, "empty")
    epoch = 0
    head, sep, rest = text.partition(":")
    if sep:
        if not head.isdigit():
            raise InvalidVersion("rpm", version, "epoch is not a number")
        epoch, text = int(head), rest
    ver, sep, release = text.rpartition("-") if "-" in text else (text, "", "")
    if not ver or any(c.isspace() for c in text):
        raise InvalidVersion("rpm", version)
    return epoch, ver, release if sep else None


def compare_evr(a: tuple[int, str, str | None], b: tuple[int, str, str | None]) -> int:
    result = sign(a[0], b[0]) or rpmvercmp(a[1], b[1])
    if result or a[2] is None or b[2] is None:
        return result  # a release only compares when both sides have one (rpm's evr semantics)
    return rpmvercmp(a[2], b[2])


class RpmScheme:
    name = "rpm"

    def compare(self, a: str, b: str) -> int:
        return compare_evr(parse(a), parse(b))

    def is_valid(self, version: str) -> bool:
        return parses(parse, version)
