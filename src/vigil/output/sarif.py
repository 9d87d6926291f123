"""SARIF 2.1.0 for code-scanning dashboards: one rule per vulnerability, one result per vulnerable package."""

from __future__ import annotations

import json
from typing import Any

from vigil import __version__
from vigil.enums import Severity
from vigil.findings.evaluate import Evaluation
from vigil.findings.model import Finding, VulnerablePackage

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFORMATIONAL: "note",
    Severity.UNTRIAGED: "warning",
}


def to_sarif(evaluation: Evaluation) -> str:
    findings = [f for f in evaluation.findings if f.details.vulnerable_packages]
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {"name": "vigil", "version": __version__, "rules": [_rule(f) for f in findings]}
                },
                "results": [_result(f, p) for f in findings for p in f.details.vulnerable_packages],
            }
        ],
    }
    return json.dumps(doc, indent=2)


def _rule(finding: Finding) -> dict[str, Any]:
    score = max((c.base_score for c in finding.details.cvss), default=None)
    properties: dict[str, Any] = {
        "tags": ["security", "vulnerability"],
        "problem.severity": finding.severity.value.lower(),
    }
    if score is not None:
        properties["security-severity"] = f"{score:.1f}"
    return {
        "id": finding.vulnerability_id,
        "shortDescription": {"text": finding.title},
        "fullDescription": {"text": finding.description[:4000]},
        "helpUri": finding.details.source_url or "",
        "properties": properties,
    }


def _result(finding: Finding, package: VulnerablePackage) -> dict[str, Any]:
    fix = f"; fixed in {package.fixed_in_version}" if package.fixed_in_version else "; no fix available"
    vuln_id = finding.vulnerability_id
    return {
        "ruleId": vuln_id,
        "level": _LEVEL[finding.severity],
        "message": {
            "text": f"{package.name} {package.installed} is affected by {vuln_id} ({finding.severity}){fix}"
        },
        "locations": [
            {"physicalLocation": {"artifactLocation": {"uri": (package.file_path or "/").lstrip("/")}}}
        ],
        "properties": {"purl": package.purl},
    }
