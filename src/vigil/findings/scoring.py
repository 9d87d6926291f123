"""Scores of a matched vulnerability: severity, CVSS, EPSS and exploitation, read at evaluation time.

They change without any advisory changing (EPSS daily, KEV when an exploit is seen), so they are
computed for findings, never stored with the matches. Severity is the vendor's own rating for
distribution advisories, else from CVSS (NVD's v3.x first), else a language advisory's label (GHSA's
MODERATE…), else UNTRIAGED.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from vigil.advisories.model import Cvss, Epss, KnownExploited
from vigil.enums import PackageManager, Severity
from vigil.matching.model import Evidence, Match

# vendor labels (Debian urgency, Ubuntu priority, Red Hat / Alma / Rocky / Amazon severity, GHSA …)
_VENDOR = {
    "negligible": Severity.INFORMATIONAL,
    "unimportant": Severity.LOW,
    "low": Severity.LOW,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "important": Severity.HIGH,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
_NVD = "nvd@nist.gov"
_VERSION_PREFERENCE = {"3.1": 0, "3.0": 1, "4.0": 2, "2.0": 3}


class EnrichmentReader(Protocol):
    """What scoring reads besides the advisories: per-CVE scores and exploit data (`AdvisoryDB`)."""

    def cvss(self, cve: str) -> list[Cvss]: ...
    def epss(self, cve: str) -> Epss | None: ...
    def kev(self, cve: str) -> KnownExploited | None: ...


@dataclass(frozen=True, slots=True)
class CvssScore:
    """Inspector's `CvssScore`."""

    base_score: float
    scoring_vector: str
    version: str  # 2.0, 3.0, 3.1, 4.0
    source: str  # who scored it: nvd@nist.gov, the advisory's source, …


@dataclass(frozen=True, slots=True)
class Scores:
    """Everything scored about one match."""

    severity: Severity
    vendor_severity: str | None  # the vendor's own label, as it wrote it
    cvss: tuple[CvssScore, ...]
    epss: float | None
    exploited_since: str | None  # CISA KEV's dateAdded: exploited in the wild


def from_vendor(label: str | None) -> Severity | None:
    """A vendor's label as an Inspector severity, or None when the vendor has not rated it."""
    if not label:
        return None
    return _VENDOR.get(label.strip().rstrip("*").lower())


def from_score(score: float) -> Severity:
    """CVSS base score → severity (0 informational, 0.1–3.9 low, 4–6.9 medium, 7–8.9 high, 9–10 critical)."""
    if score == 0:
        return Severity.INFORMATIONAL
    if score < 4:
        return Severity.LOW
    if score < 7:
        return Severity.MEDIUM
    if score < 9:
        return Severity.HIGH
    return Severity.CRITICAL


@lru_cache(maxsize=4096)
def score_vector(vector: str) -> tuple[str, float] | None:
    """(CVSS version, base score) computed from a vector, or None for a vector that does not parse.

    Remembered: the same vectors come back with every instance that has the package (a CVSS 4.0 base
    score takes 0.5 ms to compute).
    """
    try:
        if vector.startswith("CVSS:4.0/"):
            return "4.0", float(CVSS4(vector).base_score)
        if vector.startswith("CVSS:3."):
            return vector[5:8], float(CVSS3(vector).base_score)
        return "2.0", float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, KeyError, AttributeError):
        return None


def score(match: Match, reader: EnrichmentReader) -> Scores:
    vuln_id = match.vulnerability_id
    is_cve = vuln_id.startswith("CVE-")
    cvss = cvss_scores(vuln_id, match.evidence, reader)
    vendor = _vendor_label(match.evidence) if match.package.package_manager == PackageManager.OS else None
    severity = (
        from_vendor(vendor)
        or _from_cvss(cvss)
        or next((s for e in match.evidence if (s := from_vendor(e.advisory.vendor_severity))), None)
        or Severity.UNTRIAGED
    )
    epss = reader.epss(vuln_id) if is_cve else None
    kev = reader.kev(vuln_id) if is_cve else None
    return Scores(severity, vendor, cvss, epss.score if epss else None, kev.date_added if kev else None)


def cvss_scores(
    vuln_id: str, evidence: Iterable[Evidence], reader: EnrichmentReader
) -> tuple[CvssScore, ...]:
    """NVD's (or another scorer's) scores of a CVE, then the vectors the advisories carry, once each."""
    scores: list[CvssScore] = []
    if vuln_id.startswith("CVE-"):
        scores += [CvssScore(c.base_score, c.vector, c.version, c.source) for c in reader.cvss(vuln_id)]
    seen = {s.scoring_vector for s in scores}
    for e in evidence:
        for severity in e.advisory.severity:
            if not severity.type.startswith("CVSS") or severity.score in seen:
                continue
            scored = score_vector(severity.score)
            if scored:
                seen.add(severity.score)
                scores.append(CvssScore(scored[1], severity.score, scored[0], e.advisory.source))
    return tuple(scores)


def _vendor_label(evidence: Iterable[Evidence]) -> str | None:
    for e in evidence:
        label = e.affected.severity or e.advisory.vendor_severity
        if label and from_vendor(label):
            return label
    return None


def _from_cvss(scores: tuple[CvssScore, ...]) -> Severity | None:
    """NVD's v3.x score first, then any v3.x, v4.0, v2.0 score."""
    ranked = sorted(
        scores, key=lambda s: (0 if s.source == _NVD else 1, _VERSION_PREFERENCE.get(s.version, 4))
    )
    return from_score(ranked[0].base_score) if ranked else None
