"""What the matcher finds: one `Vulnerability` per (vulnerability id, package), as findings show it."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.advisories.model import Status


@dataclass(frozen=True, slots=True)
class CvssScore:
    version: str  # 2.0, 3.0, 3.1, 4.0
    vector: str
    base_score: float
    source: str  # who scored it: nvd@nist.gov, the advisory's vendor, …


@dataclass(frozen=True, slots=True)
class VulnerablePackage:
    """An installed package, as a finding lists it (Inspector's `vulnerablePackages[]`)."""

    name: str
    version: str
    package_manager: str
    purl: str
    epoch: int | None = None
    release: str | None = None
    arch: str | None = None
    file_path: str | None = None
    source_name: str | None = None
    fixed_in_version: str | None = None  # None: no fix (see `status`)
    status: Status = Status.FIXED  # fixed (a fix exists), affected (no fix yet), will_not_fix, end_of_life
    remediation: str | None = None

    @property
    def has_fix(self) -> bool:
        return self.fixed_in_version is not None


@dataclass(frozen=True, slots=True)
class Vulnerability:
    """One vulnerability affecting one installed package."""

    id: str  # the CVE when there is one, else the advisory's own id (GHSA, PYSEC, RUSTSEC, ALSA …)
    package: VulnerablePackage
    related: tuple[str, ...]  # the other ids of the same vulnerability (DSA, ALAS, GHSA, aliases)
    severity: str  # INFORMATIONAL | LOW | MEDIUM | HIGH | CRITICAL | UNTRIAGED
    vendor_severity: str | None
    source: str  # the advisory source that decided the match (debian-tracker, osv, …)
    source_url: str | None
    title: str | None = None
    description: str | None = None
    cvss: tuple[CvssScore, ...] = ()
    epss: float | None = None
    exploit_known_since: str | None = None  # CISA KEV dateAdded: exploited in the wild
    references: tuple[str, ...] = ()
    published: str | None = None
    modified: str | None = None

    @property
    def exploit_available(self) -> bool:
        return self.exploit_known_since is not None


@dataclass(frozen=True, slots=True)
class SkippedPackage:
    """A package the matcher deliberately did not match, and why (listed, never silently dropped)."""

    name: str
    version: str
    purl: str
    reason: str  # "installed kernel that is not running", "owned by OS package X", "no advisories for …"


@dataclass
class MatchResult:
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    skipped: list[SkippedPackage] = field(default_factory=list)
    packages_matched: int = 0
