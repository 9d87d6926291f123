"""Matches become findings: one per vulnerability id on one resource, listing every vulnerable package of it.

DESIGN §4: severity is the worst of its packages' (the vendor's rating for distribution advisories, else
CVSS), the Inspector score the CVSS v3.x base score, `exploitAvailable` from CISA KEV, `epss.score` from
EPSS; DESIGN §3.7: an OS past its end of life gets one CRITICAL finding.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from vigil.advisories.namespaces import os_namespace
from vigil.enums import Severity
from vigil.findings.inspector_score import base_score
from vigil.findings.model import Finding, PackageVulnerabilityDetails, VulnerablePackage
from vigil.findings.remediation import remediation
from vigil.findings.scoring import EnrichmentReader, Scores, score
from vigil.inventory.model import Inventory, OSInfo
from vigil.inventory.os.eol import end_of_life
from vigil.matching.model import Match

_NO_RECOMMENDATION = "None Provided"  # Inspector's text when no command fixes it
_MAX_REFERENCES = 20
DEFAULT_REGION = "us-east-1"  # the region the service answers as (ARNs must name one of AWS's form)
_AWS_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")


def arn_region(region: str) -> str:
    """The region a finding's ARN names: the server's when it has AWS's form, else `us-east-1`.

    Inspector's model only accepts finding ARNs naming an AWS-shaped region; a server whose region is
    `local` (the default) still answers ARNs that boto3 users' scripts can parse and filter on.
    """
    return region if _AWS_REGION.fullmatch(region) else DEFAULT_REGION


@dataclass(frozen=True, slots=True)
class Resource:
    """Where the findings are: an account's instance, as Inspector's ARNs and `resources[]` name it."""

    account_id: str
    region: str
    resource_id: str
    platform: str


def finding_arn(resource: Resource, vulnerability_id: str) -> str:
    """Stable: the same account, resource and vulnerability always give the same ARN."""
    key = f"{resource.account_id}\0{resource.resource_id}\0{vulnerability_id}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"arn:aws:inspector2:{arn_region(resource.region)}:{resource.account_id}:finding/{digest}"


def platform(os: OSInfo | None) -> str:
    """Inspector's instance platform: `DEBIAN_12`, `ALMALINUX_9.4`, `UNKNOWN`."""
    if os is None:
        return "UNKNOWN"
    return f"{os.id.upper()}_{os.version_id}" if os.version_id else os.id.upper()


def package_findings(
    matches: Sequence[Match],
    inventory: Inventory,
    reader: EnrichmentReader,
    resource: Resource,
    now: dt.datetime,
) -> list[Finding]:
    by_id: dict[str, list[Match]] = defaultdict(list)
    for match in matches:
        by_id[match.vulnerability_id].append(match)
    return [
        _finding(vuln_id, [(m, score(m, reader)) for m in group], inventory, resource, now)
        for vuln_id, group in by_id.items()
    ]


def _finding(
    vuln_id: str,
    scored: list[tuple[Match, Scores]],
    inventory: Inventory,
    resource: Resource,
    now: dt.datetime,
) -> Finding:
    top_match, top = max(scored, key=lambda pair: pair[1].severity.rank)
    packages = [_package(m, inventory) for m, _ in scored]
    with_fix = sum(p.fixed_in_version is not None for p in packages)
    advisory = top_match.evidence[0].advisory
    commands = sorted({p.remediation for p in packages if p.remediation})
    base = base_score(top.cvss, inventory.os.id if inventory.os else None)
    names = ", ".join(sorted({p.name for p in packages}))
    return Finding(
        arn=finding_arn(resource, vuln_id),
        account_id=resource.account_id,
        resource_id=resource.resource_id,
        platform=resource.platform,
        title=f"{vuln_id} - {names}",
        description=advisory.details or advisory.summary or vuln_id,
        severity=top.severity,
        observed_at=now,
        recommendation="; ".join(commands) or _NO_RECOMMENDATION,
        fix_available="YES" if with_fix == len(packages) else "NO" if with_fix == 0 else "PARTIAL",
        details=PackageVulnerabilityDetails(
            vulnerability_id=vuln_id,
            source=advisory.source,
            vulnerable_packages=tuple(packages),
            source_url=_source_url(vuln_id, advisory.references),
            vendor_severity=top.vendor_severity,
            vendor_created_at=_timestamp(advisory.published),
            vendor_updated_at=max(
                (t for m, _ in scored for e in m.evidence if (t := _timestamp(e.advisory.modified))),
                default=None,
            ),
            cvss=top.cvss,
            related_vulnerabilities=tuple(sorted({r for m, _ in scored for r in m.related})),
            reference_urls=tuple(
                dict.fromkeys(r for m, _ in scored for e in m.evidence for r in e.advisory.references)
            )[:_MAX_REFERENCES],
        ),
        exploited_since=_timestamp(top.exploited_since),
        epss=top.epss,
        inspector_score=base,
    )


def _package(match: Match, inventory: Inventory) -> VulnerablePackage:
    package = match.package
    version, release = _split_version(package.version, package.release, package.type)
    return VulnerablePackage(
        name=package.name,
        version=version,
        package_manager=package.package_manager,
        purl=package.purl,
        fixed_in_version=match.fixed_in,
        status=match.status,
        epoch=package.epoch or _deb_epoch(package.version, package.type),
        release=release,
        arch=package.arch,
        file_path=package.locations[0] if package.locations else None,
        remediation=remediation(match, inventory.os),
        source_name=match.source_name,
    )


def _split_version(version: str, release: str | None, purl_type: str) -> tuple[str, str | None]:
    """Inspector lists version and release apart: rpm has them apart already; deb/apk split the revision."""
    if release is not None or purl_type not in ("deb", "apk"):
        return version, release
    upstream = version.split(":", 1)[1] if ":" in version.split("-", 1)[0] else version
    head, sep, revision = upstream.rpartition("-")
    return (head, revision) if sep else (upstream, None)


def _deb_epoch(version: str, purl_type: str) -> int:
    epoch, sep, _ = version.partition(":")
    return int(epoch) if purl_type == "deb" and sep and epoch.isdigit() else 0


def _source_url(vuln_id: str, references: Sequence[str]) -> str | None:
    if references:
        return references[0]
    if vuln_id.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vuln_id}"
    return None


def _timestamp(text: str | None) -> dt.datetime | None:
    """An advisory's date or date-time as an aware datetime (None when absent or unreadable)."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def end_of_life_finding(inventory: Inventory, resource: Resource, now: dt.datetime) -> Finding | None:
    """DESIGN §3.7: an OS past its end of life on `now` is still scanned and gets one CRITICAL finding."""
    os = inventory.os
    if os is None:
        return None
    known = end_of_life(os.id, os.version_id)
    listed = _timestamp(os.eol_date)
    day = known.date if known else listed.date() if listed else None
    if day is None or now.date() <= day:
        return None
    # named by the release as advisories key it (Debian 11.6 is Debian 11), so that every source of one
    # machine's inventory (its tree, Trivy's SBOM saying 11.6) gives the same finding
    namespace = os_namespace(os.id, os.version_id)
    release = namespace[0].replace(":", "-").upper() if namespace else f"{os.id.upper()}-{os.version_id}"
    vuln_id = f"{release}-END-OF-LIFE"
    title = f"{os.name or os.id} reached its end of life on {day.isoformat()}"
    return Finding(
        arn=finding_arn(resource, vuln_id),
        account_id=resource.account_id,
        resource_id=resource.resource_id,
        platform=resource.platform,
        title=title,
        description=f"{title}: it no longer receives security updates, so vulnerabilities found from now "
        "on will not be fixed. Upgrade to a supported release.",
        severity=Severity.CRITICAL,
        observed_at=now,
        recommendation="Upgrade the instance to a supported release.",
        fix_available="NO",
        details=PackageVulnerabilityDetails(
            vulnerability_id=vuln_id, source="vigil-eol", vulnerable_packages=(), vendor_severity="CRITICAL"
        ),
    )
