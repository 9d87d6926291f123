"""Findings in Inspector's `Finding` shape (botocore's `inspector2` model), as the API will return them.

`to_json` writes the wire form boto3 parses: members named as in the model and nothing else, absent
optional members left out (never `null`, never an empty string where the model wants one character),
timestamps as epoch seconds (rest-json's form), strings cut to the model's maximum length. A few
attributes that are not members (a package's source name, its status) are kept for the text outputs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from vigil.advisories.model import Status
from vigil.enums import PackageManager, Severity
from vigil.findings.scoring import CvssScore

NOT_AVAILABLE = "NotAvailable"  # Inspector's fixedInVersion when no version fixes it
PACKAGE_VULNERABILITY = "PACKAGE_VULNERABILITY"
EC2_INSTANCE = "AWS_EC2_INSTANCE"
_ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """`text`, cut to the model's maximum length (a description can be longer than Inspector allows)."""
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def epoch(moment: dt.datetime) -> int | float:
    """rest-json's timestamp: seconds since the epoch (whole seconds stay integers)."""
    seconds = moment.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def _members(**members: Any) -> dict[str, Any]:
    """The members that are present: None and empty strings or lists are left out."""
    return {k: v for k, v in members.items() if v is not None and v != "" and v != []}


@dataclass(frozen=True, slots=True)
class VulnerablePackage:
    name: str
    version: str
    package_manager: PackageManager
    purl: str
    fixed_in_version: str | None  # None: no version fixes it (written as NotAvailable)
    status: Status  # not a member: fixed, affected, will_not_fix, end_of_life
    epoch: int = 0
    release: str | None = None
    arch: str | None = None
    file_path: str | None = None
    remediation: str | None = None
    source_name: str | None = None  # not a member: the advisories' name for it (a source package)

    @property
    def installed(self) -> str:
        """The installed version as one string: `1:2.36-9`, `3.0.11-1~deb12u2`, `2.31.0`."""
        text = f"{self.version}-{self.release}" if self.release else self.version
        return f"{self.epoch}:{text}" if self.epoch else text

    def to_json(self) -> dict[str, Any]:
        return _members(
            name=clip(self.name, 1024),
            version=clip(self.version, 1024),
            epoch=self.epoch,
            release=clip(self.release or "", 1024),
            arch=clip(self.arch or "", 64),
            packageManager=str(self.package_manager),
            filePath=clip(self.file_path or "", 1024),
            fixedInVersion=clip(self.fixed_in_version or NOT_AVAILABLE, 1024),
            remediation=clip(self.remediation or "", 1024),
            purl=clip(self.purl, 2048),
        )


@dataclass(frozen=True, slots=True)
class PackageVulnerabilityDetails:
    vulnerability_id: str
    source: str
    vulnerable_packages: tuple[VulnerablePackage, ...]
    source_url: str | None = None
    vendor_severity: str | None = None
    vendor_created_at: dt.datetime | None = None
    vendor_updated_at: dt.datetime | None = None
    cvss: tuple[CvssScore, ...] = ()
    related_vulnerabilities: tuple[str, ...] = ()
    reference_urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return _members(
            vulnerabilityId=clip(self.vulnerability_id, 128),
            source=self.source,
            sourceUrl=self.source_url,
            vendorSeverity=self.vendor_severity,
            vendorCreatedAt=epoch(self.vendor_created_at) if self.vendor_created_at else None,
            vendorUpdatedAt=epoch(self.vendor_updated_at) if self.vendor_updated_at else None,
            cvss=[
                {
                    "baseScore": c.base_score,
                    "scoringVector": c.scoring_vector,
                    "version": c.version,
                    "source": c.source,
                }
                for c in self.cvss
            ],
            relatedVulnerabilities=[clip(r, 128) for r in self.related_vulnerabilities if r],
            referenceUrls=[r for r in self.reference_urls if r],
            vulnerablePackages=[p.to_json() for p in self.vulnerable_packages],
        )


@dataclass(frozen=True, slots=True)
class Finding:
    """One PACKAGE_VULNERABILITY finding: one vulnerability on one resource, with its vulnerable packages."""

    arn: str
    account_id: str
    resource_id: str
    platform: str
    title: str
    description: str
    severity: Severity
    observed_at: dt.datetime  # first, last and updated: one evaluation sees each finding once
    recommendation: str
    fix_available: str  # YES | NO | PARTIAL
    details: PackageVulnerabilityDetails
    exploited_since: dt.datetime | None = None  # CISA KEV: exploited in the wild since
    epss: float | None = None
    inspector_score: CvssScore | None = None  # the CVSS v3 score the Inspector score is based on
    status: str = "ACTIVE"

    @property
    def vulnerability_id(self) -> str:
        return self.details.vulnerability_id

    def to_json(self) -> dict[str, Any]:
        observed = epoch(self.observed_at)
        score = self.inspector_score
        return _members(
            findingArn=self.arn,
            awsAccountId=self.account_id,
            type=PACKAGE_VULNERABILITY,
            title=clip(self.title, 1024),
            description=clip(self.description, 1024),
            severity=self.severity.value,
            status=self.status,
            firstObservedAt=observed,
            lastObservedAt=observed,
            updatedAt=observed,
            fixAvailable=self.fix_available,
            exploitAvailable="YES" if self.exploited_since else "NO",
            exploitabilityDetails={"lastKnownExploitAt": epoch(self.exploited_since)}
            if self.exploited_since
            else None,
            epss={"score": min(max(self.epss, 0.0), 1.0)} if self.epss is not None else None,
            inspectorScore=score.base_score if score else None,
            inspectorScoreDetails={
                "adjustedCvss": {
                    "scoreSource": score.source,
                    "version": score.version,
                    "score": score.base_score,
                    "scoringVector": score.scoring_vector,
                    "adjustments": [],
                }
            }
            if score
            else None,
            remediation={"recommendation": {"text": self.recommendation}},
            resources=[
                {
                    "type": EC2_INSTANCE,
                    "id": self.resource_id,
                    "details": {"awsEc2Instance": {"platform": clip(self.platform, 1024)}},
                }
            ],
            packageVulnerabilityDetails=self.details.to_json(),
        )
