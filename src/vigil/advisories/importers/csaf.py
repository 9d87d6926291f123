"""CSAF 2.0 security advisories and VEX documents (Red Hat RHSA and VEX, Rocky Linux from CIQ).

A product id like `red_hat_enterprise_linux_9:openssl-1:3.0.7-27.el9.x86_64` joins a platform (whose
CPE says the release: `cpe:/o:redhat:enterprise_linux:9` → `rhel:9`) and a component (an rpm NEVRA, or
just a name in VEX documents for products still affected). Statuses map to Vigil's: `fixed` with the
NEVRA's epoch:version-release, `known_affected` (with remediation `no_fix_planned` → will not fix),
`known_not_affected`. Several fixed builds of one package (z-streams, module streams) are kept: the
matcher treats them as alternatives.

Sources: https://security.access.redhat.com/data/csaf/v2/ (Red Hat, CC-BY-4.0) and
https://github.com/ctrliq/advisories (Rocky Linux from CIQ; no licence file found).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from vigil.advisories.importer import MAX_RECORD_BYTES, RecordError, SourceFormatError
from vigil.advisories.importers import jsondoc
from vigil.advisories.importers.enrichment_files import head, read_limited
from vigil.advisories.model import Advisory, AffectedPackage, SeverityScore, Status

DEFAULT_URL = "https://security.access.redhat.com/data/csaf/v2/"
LICENCE = "Red Hat CSAF/VEX: CC-BY-4.0; CIQ (Rocky Linux) advisories: no licence stated"

# platform CPEs → (namespace prefix, scheme ecosystem)
_PLATFORMS = (
    (re.compile(r"^cpe:(?:/[oa]|2\.3:[oa]):redhat:(?:enterprise_linux|rhel_eus|rhel_aus|rhel_e4s|rhel_tus|rhel_els):(\d+)"),
     "rhel", "Red Hat"),
    (re.compile(r"^cpe:(?:/[oa]|2\.3:[oa]):(?:rocky|ciq|resf):(?:rocky|rocky_linux|rocky_linux_from_ciq):(\d+)"),
     "rocky", "Rocky Linux"),
)  # fmt: skip
# without a CPE, the platform's product id or name still says which distribution and release it is
_PLATFORM_NAMES = (
    (re.compile(r"^(?:rlc|rocky)-(\d+)|Rocky Linux(?: from CIQ)? (\d+)"), "rocky", "Rocky Linux"),
    (re.compile(r"^red_hat_enterprise_linux_(\d+)|Red Hat Enterprise Linux (\d+)"), "rhel", "Red Hat"),
)
# module builds carry their stream after the NEVRA: `…aarch64::ruby:3.1` or `…aarch64.rpm-ruby:2.7`
_MODULE_SUFFIX = re.compile(r"(?:::[^:]+:[^:]+|\.rpm-[^:]+:[^:]+)$")
_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_NEVRA = re.compile(
    r"^(?P<name>.+)-(?:(?P<epoch>\d+):)?(?P<version>[^-]+)-(?P<release>[^-]+)\.(?P<arch>[^.]+)$"
)
_STATUS_BUCKETS = {
    "fixed": Status.FIXED,
    "first_fixed": Status.FIXED,
    "known_affected": Status.AFFECTED,
    "known_not_affected": Status.NOT_AFFECTED,
}


class CsafImporter:
    name: ClassVar[str] = "csaf"
    licence: ClassVar[str] = LICENCE

    def recognises(self, path: Path) -> bool:
        if path.is_dir():
            return any(self.recognises(p) for p in sorted(path.rglob("*.json"))[:3])
        start = head(path, 4096)
        return b'"csaf_version"' in start or (b'"document"' in start and b'"csaf_' in start)

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[Advisory]:
        files = sorted(p for p in path.rglob("*.json") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                document = jsondoc.loads(read_limited(file, MAX_RECORD_BYTES), str(file))
            except (ValueError, SourceFormatError) as exc:
                if len(files) == 1:
                    raise SourceFormatError(f"{file}: not a CSAF JSON document: {exc}") from exc
                errors.append(RecordError(str(file), f"not a CSAF JSON document: {exc}"))
                continue
            try:
                advisory = _advisory(document, errors, str(file))
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                found = _tracking_id(document)
                errors.append(RecordError(str(file), f"malformed CSAF document: {exc!r}", record_id=found))
                continue
            if advisory is not None:
                yield advisory


def _tracking_id(document: Any) -> str | None:
    """The advisory id of a document too malformed to read, when it at least has that."""
    try:
        found = document["document"]["tracking"]["id"]
    except (KeyError, TypeError):
        return None
    return found if isinstance(found, str) else None


def _products(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every product in the tree's branches, by product id."""
    found: dict[str, dict[str, Any]] = {}
    stack = list(tree.get("branches", ()))
    while stack:
        branch = stack.pop()
        product = branch.get("product")
        if product:
            found[product["product_id"]] = product
        stack.extend(branch.get("branches", ()))
    return found


def _platform(platform_id: str, product: dict[str, Any] | None) -> tuple[str, str] | None:
    cpe = ((product or {}).get("product_identification_helper") or {}).get("cpe", "")
    for pattern, prefix, ecosystem in _PLATFORMS:
        match = pattern.match(cpe)
        if match:
            return f"{prefix}:{match.group(1)}", ecosystem
    if cpe:
        return None  # a product with a CPE that is not a distribution Vigil scans
    for text in (platform_id, (product or {}).get("name", "")):
        for pattern, prefix, ecosystem in _PLATFORM_NAMES:
            found = pattern.search(text)
            if found:
                return f"{prefix}:{found.group(1) or found.group(2)}", ecosystem
    return None


def _component(product_id: str, product: dict[str, Any] | None) -> tuple[str, str | None, str | None] | None:
    """(name, epoch:version-release or None, arch) of a component product."""
    match = _NEVRA.match(_MODULE_SUFFIX.sub("", product_id))
    if match and match["arch"] in (
        "x86_64",
        "aarch64",
        "ppc64le",
        "s390x",
        "i686",
        "noarch",
        "src",
        "ppc64",
        "s390",
    ):
        epoch = match["epoch"]
        evr = f"{match['version']}-{match['release']}"
        if epoch and epoch != "0":
            evr = f"{epoch}:{evr}"
        return match["name"], evr, match["arch"]
    purl = ((product or {}).get("product_identification_helper") or {}).get("purl", "")
    if purl.startswith("pkg:rpm/"):
        name = purl.split("/")[-1].split("?")[0].split("@")[0]
        return name, None, "src" if "arch=src" in purl else None
    if not purl and _PACKAGE_NAME.match(product_id):
        return product_id, None, None  # older VEX documents name the component only
    return None


def _advisory(document: dict[str, Any], errors: list[RecordError], where: str) -> Advisory | None:
    meta = document["document"]
    tree = document.get("product_tree") or {}
    products = _products(tree)
    relations = {
        r["full_product_name"]["product_id"]: (r["relates_to_product_reference"], r["product_reference"])
        for r in tree.get("relationships", ())
    }
    tracking_id = meta["tracking"]["id"]
    affected: dict[tuple[str, str, str | None, Status, str | None], AffectedPackage] = {}
    cves: list[str] = []
    scores: list[SeverityScore] = []
    for vulnerability in document.get("vulnerabilities", ()):
        cve = vulnerability.get("cve")
        if cve:
            cves.append(cve)
        for score in vulnerability.get("scores", ()):
            vector = (score.get("cvss_v3") or {}).get("vectorString")
            if vector:
                scores.append(SeverityScore("CVSS_V3", vector))
        no_fix = {pid for r in vulnerability.get("remediations", ()) if r.get("category") == "no_fix_planned"
                  for pid in r.get("product_ids", ())}  # fmt: skip
        for bucket, status in _STATUS_BUCKETS.items():
            for product_id in vulnerability.get("product_status", {}).get(bucket, ()):
                entry = _entry(product_id, status, relations, products, no_fix)
                if entry is not None:
                    key = (entry.namespace, entry.package, entry.fixed_version, entry.status, entry.arch)
                    affected.setdefault(key, entry)
    if not affected:
        return None
    severity = (meta.get("aggregate_severity") or {}).get("text")
    return Advisory(
        id=tracking_id,
        source="csaf",
        affected=tuple(affected.values()),
        aliases=tuple(dict.fromkeys(c for c in cves if c != tracking_id)),
        summary=meta.get("title"),
        published=meta["tracking"].get("initial_release_date"),
        modified=meta["tracking"].get("current_release_date"),
        severity=tuple(dict.fromkeys(scores)),
        vendor_severity=severity.lower() if severity else None,
        references=tuple(r["url"] for r in meta.get("references", ()) if r.get("category") == "self")[:1],
    )


def _entry(
    product_id: str,
    status: Status,
    relations: dict[str, tuple[str, str]],
    products: dict[str, dict[str, Any]],
    no_fix: set[str],
) -> AffectedPackage | None:
    relation = relations.get(product_id)
    if relation is None:
        return None
    platform_id, component_id = relation
    platform = _platform(platform_id, products.get(platform_id))
    component = _component(component_id, products.get(component_id))
    if platform is None or component is None:
        return None  # a product Vigil does not scan (Satellite, OpenShift…), or not an rpm
    name, evr, arch = component
    if name.endswith(("-debuginfo", "-debugsource")):
        return None  # debug packages are never what an instance runs
    source_only = arch == "src"  # kept: the matcher reaches it through each binary's source rpm
    namespace, ecosystem = platform
    if status is Status.FIXED and evr is None:
        return None
    if status is Status.AFFECTED and product_id in no_fix:
        status = Status.WILL_NOT_FIX
    return AffectedPackage(
        ecosystem,
        namespace,
        name,
        status,
        fixed_version=evr if status is Status.FIXED else None,
        arch="src" if source_only else None,
    )
