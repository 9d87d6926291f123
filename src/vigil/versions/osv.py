"""OSV's ordering on top of a scheme: `0` is the start of time, unreadable versions sort last.

OSV records use `introduced: "0"` for "since the beginning", and osv.dev's ecosystem helpers sort a
version they cannot parse after every valid one; range evaluation follows both rules.
"""

from __future__ import annotations

from vigil.versions.base import InvalidVersion, sign
from vigil.versions.registry import scheme_for

ZERO = "0"


def osv_compare(ecosystem: str, a: str, b: str) -> int:
    if a == ZERO or b == ZERO:
        return sign(a != ZERO, b != ZERO)
    scheme = scheme_for(ecosystem)
    valid_a, valid_b = scheme.is_valid(a), scheme.is_valid(b)
    if valid_a != valid_b:
        return sign(not valid_a, not valid_b)
    try:
        result = scheme.compare(a, b)
    except InvalidVersion:
        result = 0
    # two versions the scheme cannot read, that it cannot tell apart: order them as text
    return result if valid_a or result else sign(a, b)
