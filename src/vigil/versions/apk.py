"""apk (Alpine) versions, ordered as apk-tools 3 orders them.

`digit{.digit}…{letter}{_suffix{number}}…{~hash}{-rN}`: pre-release suffixes (`_alpha _beta _pre _rc`)
sort before the bare version, post-release ones (`_cvs _svn _git _hg _p`) after it; a number with a
leading zero compares as a string (as Gentoo specifies). apk-tools also orders versions it considers
invalid (`1.0bc`) by comparing what it could read, so `compare` does too instead of raising.
"""

from __future__ import annotations

import re
from functools import lru_cache

from vigil.versions.base import sign

INITIAL_DIGIT, DIGIT, LETTER, SUFFIX, SUFFIX_NO, COMMIT_HASH, REVISION_NO, END, INVALID = range(9)
# suffix order: pre-releases < none < post-releases
SUFFIXES = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9}
SUFFIX_NONE = 4

_DIGITS = re.compile(r"[0-9]*")
_LOWER = re.compile(r"[a-z]*")
_HEX = re.compile(r"[0-9a-f]*")

Token = tuple[int, str, int]  # (kind, text, numeric value: the number, letter code or suffix rank)


@lru_cache(maxsize=65536)
def tokens(version: str) -> tuple[Token, ...]:
    """The tokens apk-tools reads, ending with END or INVALID."""
    out: list[Token] = []
    digits = _DIGITS.match(version, 0)
    assert digits is not None
    if not digits.group():
        return ((INVALID, "", 0),)
    out.append((INITIAL_DIGIT, digits.group(), int(digits.group())))
    pos, kind = digits.end(), INITIAL_DIGIT
    while True:
        if pos >= len(version):
            out.append((END, "", 0))
            return tuple(out)
        char = version[pos]
        token: Token | None = None
        if "a" <= char <= "z" and kind <= DIGIT:
            token, pos = (LETTER, char, ord(char)), pos + 1
        elif (char == "." and kind <= DIGIT) or (char.isdigit() and kind in (INITIAL_DIGIT, DIGIT, SUFFIX)):
            start = pos + 1 if char == "." else pos
            new_kind = DIGIT if char == "." or kind != SUFFIX else SUFFIX_NO
            match = _DIGITS.match(version, start)
            assert match is not None
            if match.group():
                token, pos = (new_kind, match.group(), int(match.group())), match.end()
        elif char == "_" and kind <= SUFFIX_NO:
            match = _LOWER.match(version, pos + 1)
            assert match is not None
            rank = SUFFIXES.get(match.group())
            if rank is not None:
                token, pos = (SUFFIX, match.group(), rank), match.end()
        elif char == "~" and kind < COMMIT_HASH:
            match = _HEX.match(version, pos + 1)
            assert match is not None
            if match.group():
                token, pos = (COMMIT_HASH, match.group(), 0), match.end()
        elif char == "-" and kind < REVISION_NO and version.startswith("-r", pos):
            match = _DIGITS.match(version, pos + 2)
            assert match is not None
            if match.group():
                token, pos = (REVISION_NO, match.group(), int(match.group())), match.end()
        if token is None:
            out.append((INVALID, "", 0))
            return tuple(out)
        out.append(token)
        kind = token[0]


def _blob_sort(a: str, b: str) -> int:
    common = min(len(a), len(b))
    return sign(a[:common], b[:common]) or sign(len(a), len(b))


def _token_cmp(a: Token, b: Token) -> int:
    kind = a[0]
    if kind == DIGIT and (a[1].startswith("0") or b[1].startswith("0")):
        return _blob_sort(a[1], b[1])  # a leading zero: compare as strings (1.01 < 1.1)
    if kind in (INITIAL_DIGIT, DIGIT, SUFFIX_NO, REVISION_NO, LETTER, SUFFIX):
        return sign(a[2], b[2])
    return _blob_sort(a[1], b[1])


def compare_apk(a: str, b: str, *, fuzzy: bool = False) -> int:
    ta, tb = tokens(a), tokens(b)
    i = 0
    while ta[i][0] == tb[i][0] and ta[i][0] < END:
        result = _token_cmp(ta[i], tb[i])
        if result:
            return result
        i += 1
    ka, kb = ta[i], tb[i]
    if ka[0] == kb[0]:
        return 0
    if kb[0] == END and fuzzy:
        return 0  # `~1.2` accepts 1.2 and anything that continues it
    if ka[0] == SUFFIX and ka[2] < SUFFIX_NONE:
        return -1
    if kb[0] == SUFFIX and kb[2] < SUFFIX_NONE:
        return 1
    return -sign(ka[0], kb[0])


def fuzzy_match(version: str, op: str, reference: str) -> bool:
    """apk's dependency operators, fuzzy ones included: `~`, `<~`, `>~`, `<`, `<=`, `=`, `>=`, `>`."""
    fuzzy = "~" in op
    result = compare_apk(version, reference, fuzzy=fuzzy)
    allowed = {-1: "<", 0: "=", 1: ">"}[result]
    return allowed in op or (result == 0 and fuzzy)


class ApkScheme:
    name = "apk"

    def compare(self, a: str, b: str) -> int:
        return compare_apk(a, b)

    def is_valid(self, version: str) -> bool:
        return tokens(version)[-1][0] == END
