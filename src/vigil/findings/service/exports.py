"""Where reports go and how they are written: `DIR/exports/<bucketName>/<keyPrefix>/…`, never elsewhere.

`s3Destination.bucketName` names a folder the administrator made under the exports folder (as a bucket must
exist before Inspector writes to it); the key prefix names folders inside it. Names are checked before any
path is made of them, and every file is written beside its final name and renamed into place, so a reader
never sees half a report.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vigil.findings.service.errors import InvalidRequest

BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3's rule for bucket names
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,254}")
MAX_KEY_PREFIX = 1024
TIMESTAMP_MEMBERS = frozenset(
    {"firstObservedAt", "lastObservedAt", "updatedAt", "vendorCreatedAt", "vendorUpdatedAt",
     "lastKnownExploitAt", "launchedAt"}
)  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run a cell starting so


class BucketNotFound(Exception):
    """The destination's folder does not exist under the exports folder."""


def destination_parts(destination: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The bucket and the key prefix's folders, checked: InvalidRequest for a name that could leave them."""
    if not isinstance(destination, Mapping):
        raise InvalidRequest("s3Destination", "not a Destination structure")
    bucket = destination.get("bucketName")
    if not isinstance(bucket, str) or not BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise InvalidRequest(
            "s3Destination.bucketName", "3 to 63 lowercase letters, digits, dots and hyphens"
        )
    prefix = destination.get("keyPrefix") or ""
    if not isinstance(prefix, str) or len(prefix) > MAX_KEY_PREFIX:
        raise InvalidRequest("s3Destination.keyPrefix", f"at most {MAX_KEY_PREFIX} characters")
    parts = tuple(p for p in prefix.split("/") if p)
    if any(not SAFE_NAME.fullmatch(p) for p in parts):
        raise InvalidRequest(
            "s3Destination.keyPrefix", "folders of letters, digits and . _ = + - (none starting with a dot)"
        )
    return bucket, parts


def target_folder(exports: Path, destination: Mapping[str, Any], *more: str) -> Path:
    """The folder a report is written to, made if needed; BucketNotFound without the bucket's folder."""
    bucket, parts = destination_parts(destination)
    root = exports / bucket
    if not root.is_dir():
        raise BucketNotFound(f"no folder {bucket} under {exports}: make it to receive reports there")
    folder = root.joinpath(*parts, *more)
    if not folder.resolve().is_relative_to(root.resolve()):
        raise BucketNotFound(f"{folder} leads out of {root}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def safe_name(name: str) -> str:
    """A file name from an identifier (an instance id): itself when harmless, else a digest of it."""
    if SAFE_NAME.fullmatch(name) and not name.startswith("."):
        return name
    return hashlib.sha256(name.encode()).hexdigest()


@contextmanager
def replacing(path: Path) -> Iterator[IO[str]]:
    """Write `path` in full or not at all: a partial file beside it, renamed when the block ends well."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def iso_times(value: Any, key: str = "") -> Any:
    """A finding's JSON with its timestamps (epoch seconds on the wire) written as ISO 8601, for people."""
    if isinstance(value, dict):
        return {k: iso_times(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [iso_times(v) for v in value]
    if key in TIMESTAMP_MEMBERS and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC).isoformat().replace("+00:00", "Z")
    return value


def write_json(out: IO[str], batches: Iterable[list[dict[str, Any]]]) -> int:
    """`{"findings": [...]}` written batch by batch; returns how many findings."""
    count = 0
    out.write('{"findings": [')
    for batch in batches:
        for finding in batch:
            out.write(",\n" if count else "\n")
            out.write(json.dumps(iso_times(finding), ensure_ascii=False))
            count += 1
    out.write("\n]}\n")
    return count


CSV_COLUMNS = (
    "AWS Account Id", "Severity", "Fix Available", "Finding Type", "Title", "Description", "Finding ARN",
    "First Seen", "Last Seen", "Last Updated", "Resource ID", "Resource Type", "Region", "Platform", "Ami",
    "Resource Vpc", "Resource Tags", "Affected Packages", "Package Installed Version", "Fixed in Version",
    "Package Remediation", "File Path", "Remediation", "Inspector Score", "Inspector Score Vector", "Status",
    "Vulnerability Id", "Vendor", "Vendor Severity", "Vendor Advisory", "Vendor Advisory Published",
    "Related Vulnerabilities", "Epss Score", "Exploit Available", "Last Exploited At",
)  # fmt: skip


def write_csv(out: IO[str], batches: Iterable[list[dict[str, Any]]]) -> int:
    """One row per finding, Inspector's report columns, packages joined; returns how many findings."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for batch in batches:
        for finding in batch:
            writer.writerow([_cell(v) for v in _row(iso_times(finding))])
            count += 1
    return count


def _row(finding: dict[str, Any]) -> tuple[Any, ...]:
    (resource,) = finding["resources"]
    ec2 = resource.get("details", {}).get("awsEc2Instance", {})
    details = finding.get("packageVulnerabilityDetails", {})
    packages = details.get("vulnerablePackages", [])
    score = finding.get("inspectorScoreDetails", {}).get("adjustedCvss", {})

    def each(member: str) -> str:
        return "; ".join(str(p.get(member, "")) for p in packages)

    return (
        finding["awsAccountId"], finding["severity"], finding.get("fixAvailable"), finding["type"],
        finding.get("title"), finding["description"], finding["findingArn"], finding["firstObservedAt"],
        finding["lastObservedAt"], finding.get("updatedAt"), resource["id"], resource["type"],
        resource.get("region"), ec2.get("platform"), ec2.get("imageId"), ec2.get("vpcId"),
        json.dumps(resource["tags"], ensure_ascii=False, sort_keys=True) if "tags" in resource else "",
        each("name"), "; ".join(_installed(p) for p in packages), each("fixedInVersion"), each("remediation"),
        each("filePath"), finding.get("remediation", {}).get("recommendation", {}).get("text"),
        finding.get("inspectorScore"), score.get("scoringVector"), finding["status"],
        details.get("vulnerabilityId"), details.get("source"), details.get("vendorSeverity"),
        details.get("sourceUrl"), details.get("vendorCreatedAt"),
        "; ".join(details.get("relatedVulnerabilities", [])), finding.get("epss", {}).get("score"),
        finding.get("exploitAvailable"), finding.get("exploitabilityDetails", {}).get("lastKnownExploitAt"),
    )  # fmt: skip


def _installed(package: dict[str, Any]) -> str:
    version = f"{package['version']}-{package['release']}" if package.get("release") else package["version"]
    return f"{package['epoch']}:{version}" if package.get("epoch") else version


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
