"""dpkg versions: [epoch:]upstream[-revision], compared as Debian Policy §5.6.12 (and dpkg's verrevcmp)."""

from __future__ import annotations

import re
from functools import lru_cache

from vigil.versions.base import InvalidVersion, parses, sign

# dpkg only warns about an upstream version that does not start with a digit; comparisons accept it
_VALID = re.compile(r"^[A-Za-z0-9.+~:-]+$")


def _order(char: str) -> int:
    """dpkg's `order()`: `~` sorts before the end, the end before letters, letters before the rest."""
    if char == "~":
        return -1
    if char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return sign(ac, bc)
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = sign(a[i], b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


@lru_cache(maxsize=65536)
def parse(version: str) -> tuple[int, str, str]:
    """(epoch, upstream, revision); a missing revision is "" (sorts like dpkg's "0")."""
    text = version.strip()
    epoch = 0
    if ":" in text:
        head, _, rest = text.partition(":")
        if not head.isdigit():
            raise InvalidVersion("Debian", version, "epoch is not a number")
        epoch, text = int(head), rest
    upstream, sep, revision = text.rpartition("-")
    if not sep:
        upstream, revision = text, ""
    if not upstream or not _VALID.match(upstream) or (sep and not re.fullmatch(r"[A-Za-z0-9.+~]+", revision)):
        raise InvalidVersion("Debian", version)
    return epoch, upstream, revision


class DpkgScheme:
    name = "dpkg"

    def compare(self, a: str, b: str) -> int:
        ea, ua, ra = parse(a)
        eb, ub, rb = parse(b)
        return sign(ea, eb) or verrevcmp(ua, ub) or verrevcmp(ra, rb)

    def is_valid(self, version: str) -> bool:
        return parses(parse, version)
