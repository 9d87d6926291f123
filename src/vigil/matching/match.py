"""The matcher: a pure function of (inventory, advisory reader) → matches.

Each installed package is looked up in the database's index by (namespace, name) — never by scanning
advisories — and each candidate entry is evaluated with the version scheme of its ecosystem
(`verdicts`). Results are merged per (vulnerability id, package): a DSA and the tracker's CVE entry, or
a GHSA and a PYSEC record of the same flaw, become one match with the others as related ids.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vigil.advisories.model import Advisory, AffectedPackage, Status
from vigil.advisories.store import Candidate
from vigil.enums import Ecosystem
from vigil.inventory.model import Inventory
from vigil.matching.model import Evidence, Match, MatchResult, SkippedPackage
from vigil.matching.targets import LookupTarget, lookup_targets
from vigil.matching.verdicts import CLEARED, Kind, Verdict, advisory_verdict, combine

# Ubuntu's ESM (Pro) data is the only data for old LTS releases: matched, and the fix says it needs Pro.
# FIPS, realtime-kernel and vendor-image channels describe other builds than the standard archive's.
_MATCHED_CHANNELS = frozenset({None, "pro"})


class AdvisoryReader(Protocol):
    """What the matcher reads from the advisory database (`AdvisoryDB` implements it)."""

    def lookup(self, namespace: str, package: str) -> list[Candidate]: ...
    def advisory(self, source: str, advisory_id: str) -> Advisory: ...


@dataclass
class _Statements:
    """What every advisory says about one (vulnerability id, package)."""

    target: LookupTarget
    entries: list[list[AffectedPackage]] = field(default_factory=list)  # per advisory
    verdicts: list[Verdict] = field(default_factory=list)  # per advisory, on the installed version
    # the advisories that flag it, by (source, id, entry): hashing an advisory would parse all its entries
    evidence: dict[tuple[str, str, AffectedPackage], Evidence] = field(default_factory=dict)


def match_inventory(inventory: Inventory, reader: AdvisoryReader) -> MatchResult:
    targets, skipped = lookup_targets(inventory)
    return match_targets(targets, reader, skipped)


TargetMatches = dict[tuple[LookupTarget, ...], tuple[Match, ...]]
"""The matches of one package's lookup targets (at index 0), for a caller matching many inventories against
one database version: a fleet's inventories share most of their packages."""


def match_targets(
    targets: Sequence[LookupTarget],
    reader: AdvisoryReader,
    skipped: Sequence[SkippedPackage] = (),
    *,
    cache: TargetMatches | None = None,
) -> MatchResult:
    """Match these lookup targets of an inventory. Each package is matched on its own (a re-evaluation after
    an advisory update matches only some, and the others' matches are what they were), so a package's
    matches are a function of its lookup targets alone: with `cache`, each distinct package is matched
    once."""
    if cache is not None:
        by_package: dict[int, list[LookupTarget]] = defaultdict(list)
        for target in targets:
            by_package[target.index].append(target)
        matches = []
        for index, own in by_package.items():
            key = tuple(dataclasses.replace(t, index=0) for t in own)
            known = cache.get(key)
            if known is None:
                known = cache[key] = match_targets(key, reader).matches
            matches += [dataclasses.replace(m, package_index=index) for m in known]
        matches.sort(key=lambda m: (m.vulnerability_id, m.package_index))
        return MatchResult(tuple(matches), tuple(skipped), len(by_package))
    statements: dict[tuple[str, int], _Statements] = {}
    # advisories whose fix the installed version is at or above: read only when a statement without any
    # version (a distribution's "will not fix") needs them (a kernel has hundreds, mostly of this kind)
    cleared: dict[int, list[tuple[str, str, list[AffectedPackage]]]] = defaultdict(list)
    for target in targets:
        for (source, advisory_id), entries in _by_advisory(reader, target).items():
            verdict = advisory_verdict(target.ecosystem, target.version, entries)
            if verdict is None:
                continue
            if verdict.kind is Kind.CLEARED:
                cleared[target.index].append((source, advisory_id, entries))
                continue
            advisory = reader.advisory(source, advisory_id)
            for vuln_id in _ids(advisory, entries[0]):
                said = statements.setdefault((vuln_id, target.index), _Statements(target))
                said.entries.append(entries)
                said.verdicts.append(verdict)
                if verdict.kind is Kind.FLAGGED:
                    for entry in entries:
                        said.evidence.setdefault((source, advisory_id, entry), Evidence(advisory, entry))
    cleared_ids = _ClearedIds(reader, cleared)
    matches = []
    for (vuln_id, index), said in sorted(statements.items(), key=lambda item: item[0]):
        verdicts = said.verdicts
        if all(v.unversioned for v in verdicts if v.kind is Kind.FLAGGED) and vuln_id in cleared_ids.of(
            index
        ):
            verdicts = [*verdicts, CLEARED]
        verdict = combine(said.target.ecosystem, verdicts)
        if verdict is not None and verdict.kind is Kind.FLAGGED:
            matches.append(_match(vuln_id, said, _clearing(said, verdict)))
    return MatchResult(tuple(matches), tuple(skipped), len({t.index for t in targets}))


def _by_advisory(
    reader: AdvisoryReader, target: LookupTarget
) -> dict[tuple[str, str], list[AffectedPackage]]:
    """The entries for the target that apply to it, per advisory."""
    by_advisory: dict[tuple[str, str], list[AffectedPackage]] = {}
    for candidate in reader.lookup(target.namespace, target.name):
        if _applies(target, candidate.affected):
            by_advisory.setdefault((candidate.source, candidate.advisory_id), []).append(candidate.affected)
    return by_advisory


class _ClearedIds:
    """Per package, the vulnerability ids of the advisories whose fix it has: read on first need."""

    def __init__(
        self, reader: AdvisoryReader, cleared: dict[int, list[tuple[str, str, list[AffectedPackage]]]]
    ):
        self._reader = reader
        self._cleared = cleared
        self._ids: dict[int, set[str]] = {}

    def of(self, index: int) -> set[str]:
        if index not in self._ids:
            self._ids[index] = {
                vuln_id
                for source, advisory_id, entries in self._cleared.get(index, ())
                for vuln_id in _ids(self._reader.advisory(source, advisory_id), entries[0])
            }
        return self._ids[index]


def _clearing(said: _Statements, verdict: Verdict) -> Verdict:
    """The verdict with a fix that clears it: a fix that another statement still flags is followed on.

    Go's stdlib fixed CVE-2023-45283 in 1.20.11, then found that fix incomplete and fixed 1.20.11 in
    1.20.12 (GO-2023-2185 says both): a 1.19 installation must go to 1.20.12. When nothing clears the
    fix, no version is named.
    """
    ecosystem = said.target.ecosystem
    tried: set[str] = set()
    while verdict.fix is not None and verdict.fix not in tried:
        tried.add(verdict.fix)
        said_at_fix = (advisory_verdict(ecosystem, verdict.fix, entries) for entries in said.entries)
        at_fix = combine(ecosystem, [v for v in said_at_fix if v is not None])
        if at_fix is None or at_fix.kind is not Kind.FLAGGED:
            return verdict
        verdict = at_fix
    return verdict if verdict.fix not in tried else Verdict(Kind.FLAGGED, state=verdict.state)


def _applies(target: LookupTarget, affected: AffectedPackage) -> bool:
    if target.ecosystem is Ecosystem.ORACLE_LINUX:
        if affected.channel != target.build:  # a ksplice build is fixed by ksplice builds only, and so on
            return False
    elif affected.channel not in _MATCHED_CHANNELS:
        return False
    if target.via_source and affected.arch != "src":
        return False
    arch = target.arch or target.package.arch
    return not (affected.arch and arch and affected.arch not in (arch, "noarch", "src"))


def _ids(advisory: Advisory, affected: AffectedPackage) -> list[str]:
    """The vulnerability ids an advisory reports for one entry: its CVEs, else one canonical id.

    A USN lists, per release, the CVEs it fixes there; only those count for that release's entry.
    """
    cves = list(dict.fromkeys(advisory.cves))
    per_entry = advisory.extra.get("affected")
    if per_entry and cves and affected in advisory.affected:
        entry_cves = per_entry[advisory.affected.index(affected)].get("cves")
        if entry_cves:
            cves = [c for c in cves if c in entry_cves] or cves
    if cves:
        return cves
    ghsa = sorted(i for i in (advisory.id, *advisory.aliases) if i.startswith("GHSA-"))
    return [ghsa[0] if ghsa else advisory.id]


def _match(vuln_id: str, said: _Statements, verdict: Verdict) -> Match:
    target = said.target
    evidence = tuple(said.evidence.values())
    related = sorted({i for e in evidence for i in (e.advisory.id, *e.advisory.aliases)} - {vuln_id})
    return Match(
        vulnerability_id=vuln_id,
        package=target.package,
        package_index=target.index,
        advisory_name=target.name,
        fixed_in=verdict.fix,
        status=Status.FIXED if verdict.fix is not None else verdict.state,
        evidence=evidence,
        related=tuple(related),
        fix_needs_pro=verdict.fix is not None and any(e.affected.channel == "pro" for e in evidence),
    )


__all__ = ["AdvisoryReader", "match_inventory"]
