"""What advisories say about an installed version: flagged (with the fix clearing it), cleared, not affected.

The fix a finding names must clear it. Three rules make that hold:

- An affected entry names the fix that closes the range holding the installed version (Django 3.2.20
  is fixed in 3.2.23, not in the 4.2.7 of the same record's later range).
- Several entries of one advisory with a plain fix are alternatives (module streams, z-stream builds):
  at or above one of them the advisory no longer flags the package, below all of them the nearest
  one is the fix. Entries with version ranges add up, as OSV says: each one holding the version must
  be left, so the highest of their fixes is needed.
- Across the advisories that flag one package for one vulnerability, the highest of their fixes is
  named: installing a lower one leaves another advisory open. A statement without any version
  ("will not fix", "affected", a range from 0 with no end) yields to a fix that the version is at or
  above: the source that names a fixed version knows more than the one that names none.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cmp_to_key

from vigil.advisories.model import AffectedPackage, Range, Status
from vigil.versions import InvalidVersion, compare
from vigil.versions.osv import osv_compare
from vigil.versions.ranges import range_ecosystem, range_includes

# the most telling state first, when nothing names a fix
NO_FIX_PRECEDENCE = (Status.WILL_NOT_FIX, Status.END_OF_LIFE, Status.AFFECTED)
_ZERO = frozenset({"0", "0.0.0-0"})  # `introduced` at the very first version


class Kind(enum.Enum):
    FLAGGED = "flagged"  # the version is affected
    CLEARED = "cleared"  # the version is at or above a fix this statement names
    NOT_AFFECTED = "not_affected"  # the source says its package is not affected at all


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind
    fix: str | None = None  # for FLAGGED: the version that clears it, None when none does
    state: Status = Status.AFFECTED  # for FLAGGED without a fix: what the source says instead
    unversioned: bool = False  # a FLAGGED statement that names no version at all


CLEARED = Verdict(Kind.CLEARED)
NOT_AFFECTED = Verdict(Kind.NOT_AFFECTED)


def entry_verdict(ecosystem: str, version: str, entry: AffectedPackage) -> Verdict | None:
    """One affected entry's verdict on `version` (None: it says nothing about it, or cannot read it)."""
    if entry.status is Status.NOT_AFFECTED:
        return NOT_AFFECTED
    try:
        if entry.fixed_version is not None:
            if compare(ecosystem, version, entry.fixed_version) < 0:
                return Verdict(Kind.FLAGGED, fix=entry.fixed_version)
            return CLEARED
        if entry.ranges or entry.versions:
            return _range_verdict(ecosystem, version, entry)
    except InvalidVersion:
        return None  # a version the scheme cannot read cannot be said to be affected
    if entry.status in NO_FIX_PRECEDENCE:
        return Verdict(Kind.FLAGGED, state=entry.status, unversioned=True)
    return None


def _range_verdict(ecosystem: str, version: str, entry: AffectedPackage) -> Verdict | None:
    listed = version in entry.versions  # a listed version is affected even where no scheme reads it
    try:
        holding = [r for r in entry.ranges if r.type != "GIT" and _holds(ecosystem, version, r)]
    except InvalidVersion:
        if not listed:
            raise
        holding = []
    if holding or listed:
        # a version the record lists, outside its ranges (ranges and lists disagree): the next fix it names
        fixes = [_closing_fix(ecosystem, version, r) for r in holding] or _next_fix(ecosystem, version, entry)
        if not fixes or None in fixes:
            state = entry.status if entry.status in NO_FIX_PRECEDENCE else Status.AFFECTED
            unversioned = bool(entry.ranges) and all(_from_zero(r) for r in entry.ranges)
            return Verdict(Kind.FLAGGED, state=state, unversioned=unversioned)
        return Verdict(Kind.FLAGGED, fix=_highest(ecosystem, [f for f in fixes if f is not None]))
    if any(_at_or_above(ecosystem, version, range_type, fix) for range_type, fix in _stated_fixes(entry)):
        return CLEARED
    return None


def _stated_fixes(entry: AffectedPackage) -> list[tuple[str, str]]:
    return [(r.type, v) for r in entry.ranges if r.type != "GIT" for kind, v in r.events if kind == "fixed"]


def _next_fix(ecosystem: str, version: str, entry: AffectedPackage) -> list[str | None]:
    above = [
        fix
        for range_type, fix in _stated_fixes(entry)
        if not _at_or_above(ecosystem, version, range_type, fix)
    ]
    return [_lowest(ecosystem, above)] if above else []


def _holds(ecosystem: str, version: str, r: Range) -> bool:
    return range_includes(range_ecosystem(ecosystem, r.type), version, [{kind: v} for kind, v in r.events])


def _from_zero(r: Range) -> bool:
    """A range that starts at the first version and never ends: it names no version at all."""
    return all(kind == "introduced" and value in _ZERO for kind, value in r.events)


def _closing_fix(ecosystem: str, version: str, r: Range) -> str | None:
    """The `fixed` event that ends the stretch of `r` holding `version` (None: it ends unfixed)."""
    scheme = range_ecosystem(ecosystem, r.type)

    def by_version(a: tuple[str, str], b: tuple[str, str]) -> int:
        return osv_compare(scheme, a[1], b[1])

    events = sorted(
        ((kind, value) for kind, value in r.events if kind != "limit"), key=cmp_to_key(by_version)
    )
    for kind, value in events:
        if kind == "fixed" and osv_compare(scheme, version, value) < 0:
            return value
        if kind == "last_affected" and osv_compare(scheme, version, value) <= 0:
            return None
    return None


def _at_or_above(ecosystem: str, version: str, range_type: str, fix: str) -> bool:
    return osv_compare(range_ecosystem(ecosystem, range_type), version, fix) >= 0


def advisory_verdict(ecosystem: str, version: str, entries: Iterable[AffectedPackage]) -> Verdict | None:
    """One advisory's verdict from its entries for one package (plain fixes are alternatives)."""
    plain: list[Verdict] = []
    others: list[Verdict] = []
    for entry in entries:
        verdict = entry_verdict(ecosystem, version, entry)
        if verdict is not None:
            (plain if entry.fixed_version is not None else others).append(verdict)
    if any(v.kind is Kind.CLEARED for v in plain):
        plain = [CLEARED]  # at or above one alternative
    elif plain:
        plain = [Verdict(Kind.FLAGGED, fix=_lowest(ecosystem, [v.fix for v in plain if v.fix]))]
    return combine(ecosystem, [*plain, *others])


def combine(ecosystem: str, verdicts: Sequence[Verdict]) -> Verdict | None:
    """Statements that all hold at once (entries of one advisory, advisories of one vulnerability)."""
    if len(verdicts) == 1:
        return verdicts[0]  # the common case: one statement says it all
    if any(v.kind is Kind.NOT_AFFECTED for v in verdicts):
        return NOT_AFFECTED  # the distribution says this release is not affected: it knows
    flags = [v for v in verdicts if v.kind is Kind.FLAGGED]
    cleared = any(v.kind is Kind.CLEARED for v in verdicts)
    versioned = [v for v in flags if not v.unversioned]
    if versioned:
        unfixed = [v for v in versioned if v.fix is None]
        if unfixed:
            return Verdict(Kind.FLAGGED, state=_telling(unfixed))
        return Verdict(Kind.FLAGGED, fix=_highest(ecosystem, [v.fix for v in versioned if v.fix]))
    if flags and not cleared:
        return Verdict(Kind.FLAGGED, state=_telling(flags), unversioned=True)
    return CLEARED if cleared else None


def _telling(flags: Sequence[Verdict]) -> Status:
    states = {v.state for v in flags}
    return next((s for s in NO_FIX_PRECEDENCE if s in states), Status.AFFECTED)


def _extreme(ecosystem: str, versions: Sequence[str], better: Callable[[int], bool]) -> str:
    best = versions[0]
    for candidate in versions[1:]:
        try:
            if better(compare(ecosystem, candidate, best)):
                best = candidate
        except InvalidVersion:
            continue
    return best


def _highest(ecosystem: str, versions: Sequence[str]) -> str:
    return _extreme(ecosystem, versions, lambda c: c > 0)


def _lowest(ecosystem: str, versions: Sequence[str]) -> str:
    return _extreme(ecosystem, versions, lambda c: c < 0)
