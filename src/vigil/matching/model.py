"""What the matcher finds: what the advisories say about each installed package, and nothing more.

Scores (severity, CVSS, EPSS, KEV) and remediation change without any advisory changing: they are the
findings' business (`vigil.findings`), computed from these matches.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.advisories.model import Advisory, AffectedPackage, Status
from vigil.inventory.model import Package


@dataclass(frozen=True, slots=True)
class Evidence:
    """One advisory that flags the package, and its entry for it."""

    advisory: Advisory
    affected: AffectedPackage


@dataclass(frozen=True, slots=True)
class Match:
    """One vulnerability affecting one installed package."""

    vulnerability_id: str  # the CVE when there is one, else the advisory's own id (GHSA, PYSEC, RUSTSEC…)
    package: Package
    package_index: int  # the package's position in the inventory
    advisory_name: str  # the package as the advisories name it (a Debian source package, …)
    fixed_in: str | None  # the version that clears it; None: none does (see `status`)
    status: Status  # FIXED (a fix exists), AFFECTED (no fix yet), WILL_NOT_FIX, END_OF_LIFE
    evidence: tuple[Evidence, ...]  # the advisories that flag it, in the database's order
    related: tuple[str, ...]  # the other ids of the same vulnerability (DSA, ALAS, GHSA, aliases)
    fix_needs_pro: bool = False  # the fix is in Ubuntu Pro's ESM archive only

    @property
    def source_name(self) -> str | None:
        """The advisories' name for the package when it is not the package's own."""
        return self.advisory_name if self.advisory_name != self.package.name else None


@dataclass(frozen=True, slots=True)
class SkippedPackage:
    """A package the matcher deliberately did not match, and why (listed, never silently dropped)."""

    name: str
    version: str
    purl: str
    reason: str  # "installed kernel that is not running", "owned by OS package X", "no advisory source"


@dataclass(frozen=True, slots=True)
class MatchResult:
    matches: tuple[Match, ...]
    skipped: tuple[SkippedPackage, ...]
    packages_matched: int
