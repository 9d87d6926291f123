"""The matcher: a pure function of (inventory, advisory database) → vulnerabilities.

Each installed package is looked up in the database's index by (namespace, name) — never by scanning
advisories — and each candidate entry is evaluated with the version scheme of its ecosystem. Results
are merged per (vulnerability id, package): a DSA and the tracker's CVE entry, or a GHSA and a PYSEC
record of the same flaw, become one vulnerability with the others as related ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vigil.advisories.model import Advisory, AffectedPackage, Cvss, Epss, KnownExploited, Status
from vigil.advisories.store import Candidate
from vigil.inventory.model import Inventory, Package
from vigil.matching.model import CvssScore, MatchResult, SkippedPackage, Vulnerability, VulnerablePackage
from vigil.matching.remediation import remediation
from vigil.matching.severity import from_score, from_vendor, score_vector
from vigil.matching.targets import LookupTarget, lookup_targets
from vigil.versions import InvalidVersion, compare, key
from vigil.versions.ranges import is_affected

# Ubuntu's ESM (Pro) data is the only data for old LTS releases: matched, and the fix says it needs Pro.
# FIPS, realtime-kernel and vendor-image channels describe other builds than the standard archive's.
_MATCHED_CHANNELS = frozenset({None, "pro"})
_NO_FIX_PRECEDENCE = (Status.WILL_NOT_FIX, Status.END_OF_LIFE, Status.AFFECTED)


class AdvisoryReader(Protocol):
    """What the matcher reads from the advisory database (`AdvisoryDB` implements it)."""

    def lookup(self, namespace: str, package: str) -> list[Candidate]: ...
    def advisory(self, source: str, advisory_id: str) -> Advisory: ...
    def cvss(self, cve: str) -> list[Cvss]: ...
    def epss(self, cve: str) -> Epss | None: ...
    def kev(self, cve: str) -> KnownExploited | None: ...


@dataclass
class _Hit:
    """Everything the matching entries say about one (vulnerability id, package)."""

    target: LookupTarget
    advisories: list[tuple[Advisory, AffectedPackage]] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    states: set[Status] = field(default_factory=set)
    vetoed: bool = False
    pro_only: bool = False


def match_inventory(inventory: Inventory, db: AdvisoryReader) -> MatchResult:
    targets, skipped = lookup_targets(inventory)
    hits: dict[tuple[str, int], _Hit] = {}
    for target in targets:
        index = target.index
        by_advisory: dict[tuple[str, str], list[AffectedPackage]] = {}
        for candidate in db.lookup(target.namespace, target.name):
            by_advisory.setdefault((candidate.source, candidate.advisory_id), []).append(candidate.affected)
        for (source, advisory_id), entries in by_advisory.items():
            verdict = _evaluate_advisory(target, entries)
            if verdict is None:
                continue
            kind, affected, fix = verdict
            advisory = db.advisory(source, advisory_id)
            for vuln_id in _ids(advisory, affected):
                hit = hits.setdefault((vuln_id, index), _Hit(target))
                if kind == "not_affected":
                    hit.vetoed = True  # the distribution says this release is not affected: it knows
                    continue
                hit.advisories.append((advisory, affected))
                hit.pro_only |= affected.channel == "pro"
                if kind == "fixed":
                    hit.fixes.append(fix)
                else:
                    hit.states.add(affected.status)
    result = MatchResult(skipped=skipped, packages_matched=len({t.index for t in targets}))
    for (vuln_id, _), hit in sorted(hits.items(), key=lambda item: (item[0][0], item[0][1])):
        if hit.vetoed or not hit.advisories:
            continue
        result.vulnerabilities.append(_vulnerability(vuln_id, hit, inventory, db))
    return result


def _evaluate_advisory(
    target: LookupTarget, entries: list[AffectedPackage]
) -> tuple[str, AffectedPackage, str] | None:
    """One advisory's entries for one package → (`fixed`/`unfixed`/`not_affected`, entry, fix) or None.

    Several fixed entries for the same package in one advisory are alternatives (module streams,
    z-stream builds): the package is vulnerable only when it is below every one of them, and its fix
    is the nearest one.
    """
    verdicts = [(_evaluate(target, entry), entry) for entry in entries]
    applicable = [(v, e) for v, e in verdicts if v is not None]
    if not applicable:
        return None
    for verdict, entry in applicable:
        if verdict == "not_affected":
            return "not_affected", entry, ""
    fixed_entries = [e for e in entries if e.fixed_version is not None and _applies(target, e)]
    vulnerable_fixed = [e for v, e in applicable if v == "fixed"]
    if fixed_entries and len(vulnerable_fixed) < len(fixed_entries):
        return None  # at or above one alternative's fix
    if vulnerable_fixed:
        best = min(vulnerable_fixed, key=_fix_key)
        return "fixed", best, best.fixed_version or _fixed_from_ranges(best)
    verdict, entry = applicable[0]
    return verdict, entry, _fixed_from_ranges(entry) if verdict == "fixed" else ""


def _fix_key(entry: AffectedPackage) -> Any:
    fixed = entry.fixed_version or _fixed_from_ranges(entry)
    try:
        return key(entry.ecosystem, fixed)
    except InvalidVersion:
        return key(entry.ecosystem, "0")


def _applies(target: LookupTarget, affected: AffectedPackage) -> bool:
    package = target.package
    if affected.channel not in _MATCHED_CHANNELS or (target.via_source and affected.arch != "src"):
        return False
    return not (affected.arch and package.arch and affected.arch not in (package.arch, "noarch", "src"))


def _evaluate(target: LookupTarget, affected: AffectedPackage) -> str | None:
    """`fixed` (vulnerable, a fix exists), `unfixed`, `not_affected`, or None when it does not apply."""
    if not _applies(target, affected):
        return None
    if affected.status is Status.NOT_AFFECTED:
        return "not_affected"
    try:
        if affected.fixed_version is not None:
            vulnerable = compare(affected.ecosystem, target.version, affected.fixed_version) < 0
            return "fixed" if vulnerable else None
        if affected.ranges or affected.versions:
            if not is_affected(affected.ecosystem, target.version, affected.to_json()):
                return None
            return "fixed" if _fixed_from_ranges(affected) else "unfixed"
    except InvalidVersion:
        return None  # a version the scheme cannot read cannot be said to be affected
    return "unfixed" if affected.status in _NO_FIX_PRECEDENCE else None


def _fixed_from_ranges(affected: AffectedPackage) -> str:
    fixes = [v for r in affected.ranges for kind, v in r.events if kind == "fixed"]
    return fixes[-1] if fixes else ""


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


def _nearest_fix(hit: _Hit) -> str | None:
    fixes = [f for f in hit.fixes if f]
    if not fixes:
        return None
    ecosystem = hit.advisories[0][1].ecosystem
    best = fixes[0]
    for fix in fixes[1:]:
        try:
            if compare(ecosystem, fix, best) < 0:
                best = fix
        except InvalidVersion:
            continue
    return best


def _vulnerability(vuln_id: str, hit: _Hit, inventory: Inventory, db: AdvisoryReader) -> Vulnerability:
    package = hit.target.package
    fixed = _nearest_fix(hit)
    if fixed is not None:
        status = Status.FIXED
    else:
        status = next((s for s in _NO_FIX_PRECEDENCE if s in hit.states), Status.AFFECTED)
    first = hit.advisories[0][0]
    related = sorted({i for a, _ in hit.advisories for i in (a.id, *a.aliases)} - {vuln_id})
    cvss = _cvss(vuln_id, hit.advisories, db)
    vendor = _vendor_severity(hit.advisories) if package.package_manager == "OS" else None
    severity = (
        from_vendor(vendor) or _severity_from_cvss(cvss) or _label_severity(hit.advisories) or "UNTRIAGED"
    )
    epss = db.epss(vuln_id) if vuln_id.startswith("CVE-") else None
    kev = db.kev(vuln_id) if vuln_id.startswith("CVE-") else None
    return Vulnerability(
        id=vuln_id,
        package=VulnerablePackage(
            name=package.name,
            version=package.version,
            package_manager=package.package_manager,
            purl=package.purl,
            epoch=package.epoch,
            release=package.release,
            arch=package.arch,
            file_path=package.locations[0] if package.locations else None,
            source_name=hit.target.name if hit.target.name != package.name else None,
            fixed_in_version=fixed,
            status=status,
            remediation=_remediation(package, fixed, inventory, hit.pro_only),
        ),
        related=tuple(related),
        severity=severity,
        vendor_severity=vendor,
        source=first.source,
        source_url=_source_url(vuln_id, first),
        title=first.summary,
        description=first.details or first.summary,
        cvss=cvss,
        epss=epss.score if epss else None,
        exploit_known_since=kev.date_added if kev else None,
        references=_references(hit.advisories),
        published=first.published,
        modified=max((a.modified for a, _ in hit.advisories if a.modified), default=None),
    )


def _references(advisories: list[tuple[Advisory, AffectedPackage]]) -> tuple[str, ...]:
    """Every advisory's references, once each (one advisory, the common case, is already a tuple)."""
    if len(advisories) == 1:
        return tuple(advisories[0][0].references)
    return tuple(dict.fromkeys(r for a, _ in advisories for r in a.references))


def _remediation(package: Package, fixed: str | None, inventory: Inventory, pro_only: bool) -> str | None:
    command = remediation(package, fixed, inventory.os)
    if command and pro_only:
        return f"{command} (the fix is in Ubuntu Pro's ESM archive: attach the machine to Ubuntu Pro)"
    return command


def _vendor_severity(advisories: Iterable[tuple[Advisory, AffectedPackage]]) -> str | None:
    for advisory, affected in advisories:
        label = affected.severity or advisory.vendor_severity
        if label and from_vendor(label):
            return label
    return None


def _label_severity(advisories: Iterable[tuple[Advisory, AffectedPackage]]) -> str | None:
    """A language advisory's own label (GHSA's MODERATE…), when nothing scored it with CVSS."""
    for advisory, _ in advisories:
        severity = from_vendor(advisory.vendor_severity)
        if severity:
            return severity
    return None


def _cvss(
    vuln_id: str, advisories: list[tuple[Advisory, AffectedPackage]], db: AdvisoryReader
) -> tuple[CvssScore, ...]:
    scores: list[CvssScore] = []
    if vuln_id.startswith("CVE-"):
        scores += [CvssScore(c.version, c.vector, c.base_score, c.source) for c in db.cvss(vuln_id)]
    seen = {s.vector for s in scores}
    for advisory, _ in advisories:
        for severity in advisory.severity:
            if not severity.type.startswith("CVSS") or severity.score in seen:
                continue
            scored = score_vector(severity.score)
            if scored:
                seen.add(severity.score)
                scores.append(CvssScore(scored[0], severity.score, scored[1], advisory.source))
    return tuple(scores)


def _severity_from_cvss(scores: tuple[CvssScore, ...]) -> str | None:
    """NVD's v3.x score first, then any v3.x, v4.0, v2.0 score."""

    def preference(s: CvssScore) -> tuple[int, int]:
        return (
            0 if s.source == "nvd@nist.gov" else 1,
            {"3.1": 0, "3.0": 1, "4.0": 2, "2.0": 3}.get(s.version, 4),
        )

    ranked = sorted(scores, key=preference)
    return from_score(ranked[0].base_score) if ranked else None


def _source_url(vuln_id: str, advisory: Advisory) -> str | None:
    if advisory.references:
        return advisory.references[0]
    if vuln_id.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vuln_id}"
    return None


__all__ = ["AdvisoryReader", "SkippedPackage", "match_inventory"]
