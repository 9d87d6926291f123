"""Vulnerabilities in Inspector's `Finding` shape (type PACKAGE_VULNERABILITY), as `vigil scan` prints them.

One finding per vulnerability id on one target, listing every vulnerable package of that target; the
fleet service stores the same shape.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from typing import Any

from vigil.advisories.namespaces import os_namespace
from vigil.inventory.model import Inventory
from vigil.matching.model import MatchResult, Vulnerability, VulnerablePackage
from vigil.matching.severity import rank

NOT_AVAILABLE = "NotAvailable"


def finding_arn(target_id: str, vulnerability_id: str, account: str = "000000000000") -> str:
    """Stable: the same target and vulnerability always give the same ARN."""
    digest = hashlib.sha256(f"{target_id}\0{vulnerability_id}".encode()).hexdigest()[:32]
    return f"arn:aws:inspector2:local:{account}:finding/{digest}"


def _split_version(package: VulnerablePackage) -> tuple[str, str]:
    """Inspector lists version and release apart: rpm has them apart already; deb/apk split the revision."""
    if package.release is not None:
        return package.version, package.release
    version = package.version
    if package.package_manager == "OS":
        version = version.split(":", 1)[1] if ":" in version.split("-", 1)[0] else version
        upstream, sep, revision = version.rpartition("-")
        if sep:
            return upstream, revision
    return version, ""


def _package_json(package: VulnerablePackage) -> dict[str, Any]:
    version, release = _split_version(package)
    data: dict[str, Any] = {
        "name": package.name,
        "version": version,
        "epoch": package.epoch or 0,
        "release": release,
        "arch": package.arch or "",
        "packageManager": package.package_manager,
        "fixedInVersion": package.fixed_in_version or NOT_AVAILABLE,
        "remediation": package.remediation or "",
    }
    if package.file_path:
        data["filePath"] = package.file_path
    if package.source_name:
        data["sourceName"] = package.source_name
    return data


def to_findings(
    result: MatchResult, inventory: Inventory, *, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    target_id = inventory.target.hostname or ",".join(inventory.target.paths)
    by_id: dict[str, list[Vulnerability]] = defaultdict(list)
    for vulnerability in result.vulnerabilities:
        by_id[vulnerability.id].append(vulnerability)
    findings = [_finding(vid, vulns, target_id, inventory, stamp) for vid, vulns in by_id.items()]
    eol = end_of_life_finding(inventory, target_id, stamp)
    if eol is not None:
        findings.append(eol)
    findings.sort(key=lambda f: (-rank(f["severity"]), f["packageVulnerabilityDetails"]["vulnerabilityId"]))
    return findings


def end_of_life_id(inventory: Inventory) -> str | None:
    """`DEBIAN-11-END-OF-LIFE` when the OS is past its end of life, else None.

    Named by the release as advisories key it (Debian 11.6 is Debian 11), so that every source of the
    same machine's inventory (its tree, Trivy's SBOM naming 11.6) gives the same finding.
    """
    os = inventory.os
    if os is None or not os.eol:
        return None
    namespace = os_namespace(os.id, os.version_id)
    release = namespace[0].replace(":", "-").upper() if namespace else f"{os.id.upper()}-{os.version_id}"
    return f"{release}-END-OF-LIFE"


def end_of_life_finding(inventory: Inventory, target_id: str, stamp: str) -> dict[str, Any] | None:
    """DESIGN §3.7: an OS past its end of life is still scanned and gets one CRITICAL finding."""
    vuln_id = end_of_life_id(inventory)
    if vuln_id is None or inventory.os is None:
        return None
    os = inventory.os
    title = f"{os.name or os.id} reached its end of life on {os.eol_date}"
    return {
        "findingArn": finding_arn(target_id, vuln_id),
        "type": "PACKAGE_VULNERABILITY",
        "title": title,
        "description": f"{title}: it no longer receives security updates, so vulnerabilities found "
        "from now on will not be fixed. Upgrade to a supported release.",
        "severity": "CRITICAL",
        "status": "ACTIVE",
        "firstObservedAt": stamp,
        "lastObservedAt": stamp,
        "updatedAt": stamp,
        "fixAvailable": "NO",
        "exploitAvailable": "NO",
        "remediation": {"recommendation": {"text": "Upgrade the instance to a supported release."}},
        "resources": [
            {
                "type": "AWS_EC2_INSTANCE",
                "id": target_id,
                "details": {"awsEc2Instance": _instance_details(inventory)},
            }
        ],
        "packageVulnerabilityDetails": {
            "vulnerabilityId": vuln_id,
            "source": "vigil-eol",
            "vendorSeverity": "CRITICAL",
            "cvss": [],
            "relatedVulnerabilities": [],
            "referenceUrls": [],
            "vulnerablePackages": [],
        },
    }


def _finding(
    vuln_id: str, vulns: list[Vulnerability], target_id: str, inventory: Inventory, stamp: str
) -> dict[str, Any]:
    top = max(vulns, key=lambda v: rank(v.severity))
    with_fix = sum(v.package.has_fix for v in vulns)
    fix_available = "YES" if with_fix == len(vulns) else "NO" if with_fix == 0 else "PARTIAL"
    names = ", ".join(sorted({v.package.name for v in vulns}))
    cvss = [
        {"baseScore": c.base_score, "scoringVector": c.vector, "version": c.version, "source": c.source}
        for c in top.cvss
    ]
    base = next((c.base_score for c in top.cvss if c.version.startswith("3")), None)
    finding: dict[str, Any] = {
        "findingArn": finding_arn(target_id, vuln_id),
        "type": "PACKAGE_VULNERABILITY",
        "title": f"{vuln_id} - {names}",
        "description": top.description or top.title or vuln_id,
        "severity": top.severity,
        "status": "ACTIVE",
        "firstObservedAt": stamp,
        "lastObservedAt": stamp,
        "updatedAt": stamp,
        "fixAvailable": fix_available,
        "exploitAvailable": "YES" if top.exploit_available else "NO",
        "remediation": {"recommendation": {"text": _recommendation(vulns)}},
        "resources": [
            {
                "type": "AWS_EC2_INSTANCE",
                "id": target_id,
                "details": {"awsEc2Instance": _instance_details(inventory)},
            }
        ],
        "packageVulnerabilityDetails": {
            "vulnerabilityId": vuln_id,
            "source": top.source,
            "sourceUrl": top.source_url,
            "vendorSeverity": top.vendor_severity,
            "vendorCreatedAt": top.published,
            "vendorUpdatedAt": top.modified,
            "cvss": cvss,
            "relatedVulnerabilities": sorted({r for v in vulns for r in v.related}),
            "referenceUrls": list(dict.fromkeys(r for v in vulns for r in v.references))[:20],
            "vulnerablePackages": [_package_json(v.package) for v in vulns],
        },
    }
    if base is not None:
        finding["inspectorScore"] = base
    if top.epss is not None:
        finding["epss"] = {"score": top.epss}
    if top.exploit_known_since:
        finding["exploitabilityDetails"] = {"lastKnownExploitAt": top.exploit_known_since}
    return {k: v for k, v in finding.items() if v is not None}


def _recommendation(vulns: list[Vulnerability]) -> str:
    commands = sorted({v.package.remediation for v in vulns if v.package.remediation})
    if commands:
        return "; ".join(commands)
    return "None Provided"


def _instance_details(inventory: Inventory) -> dict[str, Any]:
    os = inventory.os
    return {
        "platform": f"{os.id.upper()}_{os.version_id}"
        if os and os.version_id
        else (os.id.upper() if os else "UNKNOWN"),
        "imageId": None,
        "type": None,
        "launchedAt": None,
    }
