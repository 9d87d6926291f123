"""The Inspector score (DESIGN §4): a CVSS v3.1 base score adjusted to the instance it was found on.

Its base is the vendor's v3 vector where the vendor is one Inspector takes scores from (Amazon, Debian, Red
Hat), else NVD's, else any v3 vector an advisory carries (a language advisory's own). Ubuntu instances get
no score: Ubuntu rates vulnerabilities with its own priorities, not CVSS, as Inspector says of it.

The adjustment: a vulnerability exploitable over the network (`AV:N`) on an instance none of whose ports is
reachable from outside its VPC (no internet gateway, peering connection or virtual private gateway reaches a
port the host firewall lets in) can only be exploited from within its network: the vector becomes `AV:A`
and the score is computed again. Exploit data counts against lowering: a vulnerability exploited in the wild
(CISA KEV) is not lowered, since its exploits are known to travel inside networks. Where the instance's
network is not known (no network description), nothing is adjusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cvss import CVSS3
from cvss.exceptions import CVSSError

from vigil.findings.scoring import CvssScore

NVD = "nvd@nist.gov"
_VENDOR_SOURCES = ("amazon", "alas", "debian", "redhat", "red hat", "csaf", "rhel")
NOT_REACHABLE = (
    "no port of the instance is reachable from outside its VPC (internet gateway, VPC peering connection, "
    "virtual private gateway): the network attack vector is lowered to adjacent"
)


def base_score(scores: Sequence[CvssScore], os_id: str | None) -> CvssScore | None:
    """The CVSS v3 score the Inspector score starts from (None for Ubuntu, and without any v3 score)."""
    if os_id == "ubuntu":
        return None
    v3 = [s for s in scores if s.version.startswith("3")]
    vendor = [s for s in v3 if _is_vendor(s.source)]
    nvd = [s for s in v3 if s.source == NVD]
    for chosen in (vendor, nvd, v3):
        if chosen:
            return max(chosen, key=lambda s: s.version)  # 3.1 before 3.0
    return None


def _is_vendor(source: str) -> bool:
    lowered = source.lower()
    return any(name in lowered for name in _VENDOR_SOURCES)


@dataclass(frozen=True, slots=True)
class Adjusted:
    """Inspector's `CvssScoreDetails` of `inspectorScoreDetails.adjustedCvss`."""

    score: float
    scoring_vector: str
    version: str
    source: str
    adjustments: tuple[tuple[str, str], ...] = ()  # (metric, reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "scoreSource": self.source,
            "version": self.version,
            "score": self.score,
            "scoringVector": self.scoring_vector,
            "adjustments": [{"metric": m, "reason": r} for m, r in self.adjustments],
        }


def unadjusted(base: CvssScore) -> Adjusted:
    return Adjusted(base.base_score, base.scoring_vector, base.version, base.source)


def adjust(base: Adjusted, *, reachable: bool | None, exploited: bool) -> Adjusted:
    """The score of `base` (unadjusted) on an instance with (True) or without (False) a port reachable from
    outside its VPC, or whose network is unknown (None)."""
    if reachable is not False or exploited or "/AV:N" not in base.scoring_vector:
        return base
    vector = base.scoring_vector.replace("/AV:N", "/AV:A")
    score = _score(vector)
    if score is None:
        return base
    return Adjusted(score, vector, base.version, base.source, (*base.adjustments, ("AV", NOT_REACHABLE)))


@lru_cache(maxsize=4096)
def _score(vector: str) -> float | None:
    try:
        return float(CVSS3(vector).base_score)
    except (CVSSError, ValueError, KeyError, AttributeError):
        return None


def from_document(details: Mapping[str, Any] | None) -> Adjusted | None:
    """A finding's `inspectorScoreDetails` read back (None when it has none)."""
    cvss = (details or {}).get("adjustedCvss")
    if not cvss:
        return None
    adjustments: Iterable[Mapping[str, str]] = cvss.get("adjustments", [])
    return Adjusted(
        float(cvss["score"]),
        cvss["scoringVector"],
        cvss["version"],
        cvss["scoreSource"],
        tuple((a["metric"], a["reason"]) for a in adjustments),
    )
