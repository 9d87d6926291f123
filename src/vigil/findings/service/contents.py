"""A finding split as the store keeps it: its content (what it says about the vulnerability, shared by every
instance holding the same packages, stored once by digest) and its resource (the instance it was found on).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigil.enums import Severity
from vigil.findings.model import epoch
from vigil.fleet.model import Instance
from vigil.store.findings import (
    FindingComponentRow,
    FindingContentRow,
    FindingPackageRow,
    FindingRelatedRow,
    FindingRow,
)

CHANGING_MEMBERS = ("status", "firstObservedAt", "lastObservedAt", "updatedAt")  # kept in columns
NAMING_MEMBERS = ("findingArn", "awsAccountId", "resources")  # the finding's own, around its content
_DIGESTS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class Content:
    digest: str
    body: dict[str, Any]

    @classmethod
    def of(cls, finding: Mapping[str, Any]) -> Content:
        """The content of a finding's JSON (`Finding.to_json()`)."""
        body = {k: v for k, v in finding.items() if k not in CHANGING_MEMBERS and k not in NAMING_MEMBERS}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return cls(hashlib.sha256(canonical.encode()).hexdigest(), body)

    def columns(self) -> dict[str, Any]:
        """The finding row's columns that its content decides (filters, sorts, aggregations)."""
        body = self.body
        details = body.get("packageVulnerabilityDetails", {})
        network = body.get("networkReachabilityDetails", {})
        ports = network.get("openPortRange", {})
        return {
            "content": self.digest,
            "finding_type": body["type"],
            "vulnerability_id": details.get("vulnerabilityId", ""),
            "title": body.get("title", ""),
            "severity_rank": Severity(body["severity"]).rank,
            "inspector_score": body.get("inspectorScore"),
            "epss_score": body.get("epss", {}).get("score"),
            "fix_available": body.get("fixAvailable"),
            "exploit_available": body.get("exploitAvailable"),
            "vulnerability_source": details.get("source"),
            "vendor_severity": details.get("vendorSeverity"),
            "network_protocol": network.get("protocol"),
            "open_port_begin": ports.get("begin"),
            "open_port_end": ports.get("end"),
        }


def described_resource(finding: Mapping[str, Any], instance: Instance) -> dict[str, Any]:
    """The finding's `resources[0]`, describing the instance as it is now (its tags, image, network)."""
    (resource,) = finding["resources"]
    _, partition, _, region, *_ = finding["findingArn"].split(":")
    ec2 = {k: epoch(v) if isinstance(v, dt.datetime) else v for k, v in instance.ec2_details().items()}
    evaluated = resource["details"]["awsEc2Instance"].get("platform", "UNKNOWN")
    # DEBIAN_12 says more than LINUX
    ec2["platform"] = ec2["platform"] if evaluated == "UNKNOWN" else evaluated
    described = {"type": resource["type"], "id": resource["id"], "partition": partition, "region": region}
    if instance.tags:
        described["tags"] = dict(instance.tags)
    return described | {"details": {"awsEc2Instance": ec2}}


def finding_document(
    content: Mapping[str, Any], arn: str, account_id: str, resource: Mapping[str, Any]
) -> dict[str, Any]:
    """The finding's JSON (but its status and times) from its parts."""
    return {"findingArn": arn, "awsAccountId": account_id, **content, "resources": [resource]}


def save_contents(session: Session, contents: Iterable[Content]) -> None:
    """Store the contents not stored yet, with their packages and related vulnerabilities (another
    recording may store the same one meanwhile: a conflict is the same row)."""
    wanted = {c.digest: c for c in contents}
    digests = sorted(wanted)
    known: set[str] = set()
    for start in range(0, len(digests), _DIGESTS_PER_QUERY):
        chunk = digests[start : start + _DIGESTS_PER_QUERY]
        known.update(
            session.scalars(select(FindingContentRow.digest).where(FindingContentRow.digest.in_(chunk)))
        )
    new = [wanted[d] for d in digests if d not in known]
    if not new:
        return
    packages, related, components = [], [], []
    for content in new:
        steps = content.body.get("networkReachabilityDetails", {}).get("networkPath", {}).get("steps", [])
        components += [
            {"content": content.digest, "position": i, "component_id": s["componentId"],
             "component_type": s["componentType"]}
            for i, s in enumerate(steps)
        ]  # fmt: skip
        details = content.body.get("packageVulnerabilityDetails", {})
        packages += [
            _package(content.digest, i, p) for i, p in enumerate(details.get("vulnerablePackages", []))
        ]
        related += [
            {"content": content.digest, "vulnerability_id": v}
            for v in dict.fromkeys(details.get("relatedVulnerabilities", []))
        ]
    _insert_new(session, FindingContentRow, [{"digest": c.digest, "body": c.body} for c in new])
    _insert_new(session, FindingPackageRow, packages)
    _insert_new(session, FindingRelatedRow, related)
    _insert_new(session, FindingComponentRow, components)


def drop_unused_contents(session: Session) -> None:
    """Delete the contents no finding holds any more (their packages and relations go with them)."""
    unused = ~exists().where(FindingRow.content == FindingContentRow.digest)
    digests = list(session.scalars(select(FindingContentRow.digest).where(unused)))
    for start in range(0, len(digests), _DIGESTS_PER_QUERY):
        chunk = digests[start : start + _DIGESTS_PER_QUERY]
        session.execute(delete(FindingPackageRow).where(FindingPackageRow.content.in_(chunk)))
        session.execute(delete(FindingRelatedRow).where(FindingRelatedRow.content.in_(chunk)))
        session.execute(delete(FindingComponentRow).where(FindingComponentRow.content.in_(chunk)))
        session.execute(delete(FindingContentRow).where(FindingContentRow.digest.in_(chunk)))


def insert_many(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """The driver's executemany (measured: 3x the ORM's bulk insert, which splits rows into many-VALUES
    statements under SQLite's parameter limit)."""
    if rows:
        session.connection().execute(insert(model.__table__), rows)


def _insert_new(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.connection().execute(dialect.insert(model.__table__).on_conflict_do_nothing(), rows)


def _package(content: str, position: int, package: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "content": content,
        "position": position,
        "name": package["name"],
        "version": package["version"],
        "epoch": package.get("epoch", 0),
        "release": package.get("release"),
        "arch": package.get("arch"),
        "file_path": package.get("filePath"),
    }
