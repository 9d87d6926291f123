"""Severity: the vendor's own rating for distribution advisories, else from CVSS, else UNTRIAGED."""

from __future__ import annotations

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "UNTRIAGED")

# vendor labels (Debian urgency, Ubuntu priority, Red Hat / Alma / Rocky / Amazon severity, GHSA …)
_VENDOR = {
    "negligible": "INFORMATIONAL",
    "unimportant": "LOW",
    "low": "LOW",
    "moderate": "MEDIUM",
    "medium": "MEDIUM",
    "important": "HIGH",
    "high": "HIGH",
    "critical": "CRITICAL",
}


def from_vendor(label: str | None) -> str | None:
    """A vendor's label as an Inspector severity, or None when the vendor has not rated it."""
    if not label:
        return None
    return _VENDOR.get(label.strip().rstrip("*").lower())


def from_score(score: float) -> str:
    """CVSS base score → severity (0 informational, 0.1–3.9 low, 4–6.9 medium, 7–8.9 high, 9–10 critical)."""
    if score == 0:
        return "INFORMATIONAL"
    if score < 4:
        return "LOW"
    if score < 7:
        return "MEDIUM"
    if score < 9:
        return "HIGH"
    return "CRITICAL"


def score_vector(vector: str) -> tuple[str, float] | None:
    """(CVSS version, base score) computed from a vector, or None for a vector that does not parse."""
    try:
        if vector.startswith("CVSS:4.0/"):
            return "4.0", float(CVSS4(vector).base_score)
        if vector.startswith("CVSS:3."):
            return vector[5:8], float(CVSS3(vector).base_score)
        return "2.0", float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, KeyError, AttributeError):
        return None


def rank(severity: str) -> int:
    """Order for --fail-on and sorting: UNTRIAGED ranks with nothing known (lowest)."""
    return {"UNTRIAGED": 0, "INFORMATIONAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}[severity]
