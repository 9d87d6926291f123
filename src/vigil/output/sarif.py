"""SARIF 2.1.0 for code-scanning dashboards: one rule per vulnerability, one result per vulnerable package."""

from __future__ import annotations

import json
from typing import Any

from vigil import __version__
from vigil.matching.model import MatchResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "INFORMATIONAL": "note",
          "UNTRIAGED": "warning"}  # fmt: skip


def to_sarif(result: MatchResult) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for v in result.vulnerabilities:
        if v.id not in rules:
            score = max((c.base_score for c in v.cvss), default=None)
            rules[v.id] = {
                "id": v.id,
                "shortDescription": {"text": v.title or v.id},
                "fullDescription": {"text": (v.description or v.title or v.id)[:4000]},
                "helpUri": v.source_url or "",
                "properties": {"tags": ["security", "vulnerability"], "problem.severity": v.severity.lower()}
                | ({"security-severity": f"{score:.1f}"} if score is not None else {}),
            }
        package = v.package
        fix = f"; fixed in {package.fixed_in_version}" if package.fixed_in_version else "; no fix available"
        results.append(
            {
                "ruleId": v.id,
                "level": _LEVEL[v.severity],
                "message": {
                    "text": f"{package.name} {package.version} is affected by {v.id} ({v.severity}){fix}"
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": (package.file_path or "/").lstrip("/")}
                        }
                    }
                ],
                "properties": {"purl": package.purl},
            }
        )
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "vigil", "version": __version__, "rules": list(rules.values())}},
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2)
