"""Amazon Linux security advisories (ALAS) from the repositories' yum `updateinfo.xml`.

Amazon publishes ALAS as `updateinfo.xml(.gz)` in each repository's repodata (found through
`repodata/repomd.xml`, see `updateinfo_href`), for Amazon Linux 2 (`ALAS2-…`, and the extras'
`ALASKERNEL-5.10-…`), 2022 (`ALAS2022-…`) and 2023 (`ALAS2023-…`). Each `<update type="security">`
lists its CVEs as `<reference type="cve">` and its fixed binary rpms **one per architecture**, with epoch,
version and release as separate attributes; everything below the listed version is affected.
aquasecurity/vuln-list's JSON rendering of one ALAS per file is read with the same mapping.

Fixed versions are written `[epoch:]version-release` with the epoch only when it is non-zero, as rpm
prints them and as AlmaLinux's OSV data writes them: the rpm comparison reads a missing epoch as 0, so
both spellings compare the same, and one spelling serves every RPM distribution in the database.

The XML is parsed as a stream by defusedxml (see `safexml`): a document declaring a DTD is refused in
any encoding, so entity expansion ("billion laughs") and external entities cannot happen.

Source: https://alas.aws.amazon.com (the advisories); the updateinfo.xml files are served from the
Amazon Linux repositories' repodata. Amazon ALAS data; no licence stated.
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from vigil.advisories.files import is_regular, kind_of, open_regular, read_bounded
from vigil.advisories.importer import MAX_RECORD_BYTES, RecordError, SourceFormatError
from vigil.advisories.importers import fields, jsondoc, safexml
from vigil.advisories.importers.enrichment_files import head
from vigil.advisories.importers.osv import source_files
from vigil.advisories.model import Advisory, AffectedPackage, Status

DEFAULT_URL = "https://alas.aws.amazon.com"
LICENCE = "Amazon Linux security advisories (ALAS) data (no licence stated)"
MAX_UPDATEINFO_BYTES = 1 << 30  # AL2's updateinfo.xml is tens of MB uncompressed

_SUFFIXES = (".xml", ".xml.gz", ".json")  # updateinfo.xml, <checksum>-updateinfo.xml.gz, ALAS JSON
_REPO_NS = "{http://linux.duke.edu/metadata/repo}"
_ALAS_RELEASE = re.compile(r"^ALAS(\d{4}|2)-")  # ALAS2-, ALAS2022-, ALAS2023-; ALAS- is Amazon Linux 1
_PACKAGE_RELEASE = re.compile(r"\.amzn(\d+)")
_DATE = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d)(?::(\d\d))?$")
_ALAS_JSON = re.compile(rb'^\s*\{\s*"id"\s*:\s*"ALAS')


class AmazonUpdateinfoImporter:
    """updateinfo.xml (plain or gzip), vuln-list ALAS JSON, or a directory holding either."""

    name: ClassVar[str] = "amazon-updateinfo"
    licence: ClassVar[str] = LICENCE

    def __init__(self, *, max_bytes: int = MAX_UPDATEINFO_BYTES) -> None:
        self.max_bytes = max_bytes

    def recognises(self, path: Path) -> bool:
        if path.is_dir():
            return any(_kind(file) for _, file in zip(range(50), source_files(path, _SUFFIXES), strict=False))
        return _kind(path) is not None

    def read(
        self, path: Path, errors: list[RecordError], skipped: Counter[str] | None = None
    ) -> Iterator[Advisory]:
        """The security advisories in `path`; other update types (bugfix, enhancement) go to `skipped`."""
        skipped = Counter() if skipped is None else skipped
        if not path.is_dir():
            # a file named on its own is read as what it claims to be, so its damage is what gets reported
            kind = _kind(path) or ("alas-json" if path.suffix == ".json" else "updateinfo")
            yield from self._read_file(path, kind, errors, skipped, strict=True)
            return
        for file in source_files(path, _SUFFIXES):
            if not is_regular(file):
                errors.append(RecordError(str(file), f"{kind_of(file)}, not a regular file"))
            elif found := _kind(file):  # repodata also holds repomd.xml, primary.xml …: not advisories
                try:
                    yield from self._read_file(file, found, errors, skipped, strict=False)
                except SourceFormatError as exc:
                    errors.append(RecordError(str(file), str(exc)))

    def _read_file(
        self, path: Path, kind: str, errors: list[RecordError], skipped: Counter[str], *, strict: bool
    ) -> Iterator[Advisory]:
        if kind == "updateinfo":
            for where, fields in self._updates(path):
                yield from _advisories(fields, where, errors, skipped)
            return
        try:
            data = jsondoc.loads(read_bounded(path, MAX_RECORD_BYTES), str(path))
        except (OSError, ValueError) as exc:
            if strict:
                raise SourceFormatError(f"{path}: not a readable ALAS JSON record: {exc}") from exc
            errors.append(RecordError(str(path), f"not a readable ALAS JSON record: {exc}"))
            return
        yield from _advisories(data, str(path), errors, skipped)

    def _updates(self, path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each `<update>` as the same fields vuln-list's JSON has, read as a stream and then dropped."""
        with open_regular(path) as raw:
            events = safexml.events(_decompressed(raw), str(path), self.max_bytes)
            root = None
            depth = count = 0
            for event, element in events:
                if event == "start":
                    if root is None and element.tag != "updates":
                        raise SourceFormatError(f"{path}: root element is <{element.tag}>, not <updates>")
                    root = element if root is None else root
                    depth += 1
                    continue
                depth -= 1
                if depth == 1 and element.tag == "update" and root is not None:
                    count += 1
                    yield f"{path}#{element.findtext('id') or count}", _update_fields(element)
                    root.remove(element)  # keeps memory flat on AL2's tens of MB
            if root is None:
                raise SourceFormatError(f"{path}: empty document")


def updateinfo_href(repomd: bytes) -> str:
    """The updateinfo location in a repository's `repodata/repomd.xml` (relative to the repository)."""
    root = safexml.parse(repomd, "repomd.xml")
    for data in root.iter(f"{_REPO_NS}data"):
        location = data.find(f"{_REPO_NS}location")
        if data.get("type") == "updateinfo" and location is not None and location.get("href"):
            return str(location.get("href"))
    raise SourceFormatError("repomd.xml: no updateinfo entry")


def _kind(path: Path) -> str | None:
    if not path.is_file():
        return None
    start = head(path, 4096)  # empty for a damaged gzip: then the name still tells what it should be
    if b"<updates" in start or "updateinfo.xml" in path.name:
        return "updateinfo"
    if path.suffix == ".json" and _ALAS_JSON.match(start):
        return "alas-json"
    return None


def _decompressed(raw: BinaryIO) -> Callable[[int], bytes]:
    """The reader of the file's content: gunzipped when it is gzip (updateinfo.xml.gz), else as it is."""
    magic = raw.read(2)
    raw.seek(0)
    return gzip.GzipFile(fileobj=raw).read if magic == b"\x1f\x8b" else raw.read


def _update_fields(update: ET.Element) -> dict[str, Any]:
    return {
        "type": update.get("type"),
        "id": update.findtext("id"),
        "title": update.findtext("title"),
        "issued": {"date": _attribute(update.find("issued"), "date")},
        "updated": {"date": _attribute(update.find("updated"), "date")},
        "severity": update.findtext("severity"),
        "description": update.findtext("description"),
        "references": [dict(r.attrib) for r in update.iterfind("references/reference")],
        "packages": [dict(p.attrib) for p in update.iterfind("pkglist/collection/package")],
    }


def _attribute(element: ET.Element | None, name: str) -> str | None:
    return None if element is None else element.get(name)


def _advisories(
    data: Any, where: str, errors: list[RecordError], skipped: Counter[str]
) -> Iterator[Advisory]:
    if not isinstance(data, dict):
        errors.append(RecordError(where, "an ALAS record is not an object"))
        return
    kind = data.get("type") or "security"  # vuln-list keeps only security updates, without the type
    if kind != "security":
        skipped[f"{kind} update"] += 1
        return
    try:
        yield _advisory(data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        errors.append(RecordError(where, f"malformed ALAS record: {exc}"))


def _advisory(data: dict[str, Any]) -> Advisory:
    alas_id = fields.text(data, "id")
    if not alas_id:
        raise ValueError("no id")
    packages = fields.items(data, "packages")
    release = _release(alas_id, packages)
    namespace = f"amzn:{release}"
    affected = dict.fromkeys(_affected(namespace, package) for package in packages)
    if not affected:
        raise ValueError(f"{alas_id} lists no packages")
    references = [r for r in fields.items(data, "references") if isinstance(r, dict)]
    cves = [r["id"] for r in references if r.get("type") == "cve" and isinstance(r.get("id"), str)]
    cves += [c for c in fields.items(data, "cveids") if isinstance(c, str)]
    page = f"https://alas.aws.amazon.com/{'' if release == '1' else f'AL{release}/'}{alas_id}.html"
    hrefs = [r["href"] for r in references if isinstance(r.get("href"), str)]
    severity = fields.text(data, "severity")
    return Advisory(
        id=alas_id,
        source=AmazonUpdateinfoImporter.name,
        affected=tuple(affected),
        aliases=tuple(dict.fromkeys(c for c in cves if c != alas_id)),
        summary=fields.text(data, "title"),
        details=fields.text(data, "description"),
        published=_date(data.get("issued")),
        modified=_date(data.get("updated")),
        vendor_severity=severity.strip().lower() if severity and severity.strip() else None,
        references=tuple(dict.fromkeys([page, *hrefs])),
    )


def _affected(namespace: str, package: Any) -> AffectedPackage:
    if not isinstance(package, dict):
        raise TypeError("a package is not an object")
    name, version, release = package.get("name"), package.get("version"), package.get("release")
    if not (isinstance(name, str) and isinstance(version, str) and isinstance(release, str)):
        raise ValueError(f"package without name, version or release: {str(package)[:120]}")
    epoch = package.get("epoch") or "0"
    if not isinstance(epoch, str) or not epoch.isdigit():
        raise ValueError(f"{name}: epoch {epoch!r} is not a number")
    evr = f"{version}-{release}" if int(epoch) == 0 else f"{int(epoch)}:{version}-{release}"
    arch = package.get("arch")
    return AffectedPackage(
        ecosystem="Amazon Linux",
        namespace=namespace,
        package=name,
        status=Status.FIXED,
        fixed_version=evr,
        arch=arch if isinstance(arch, str) and arch else None,
    )


def _release(alas_id: str, packages: list[Any]) -> str:
    """`ALAS2023-…` → 2023; otherwise (extras, Amazon Linux 1) the `amznN` its packages were built for."""
    if match := _ALAS_RELEASE.match(alas_id):
        return match[1]
    built_for = Counter(
        m[1]
        for p in packages
        if isinstance(p, dict)
        and isinstance(p.get("release"), str)
        and (m := _PACKAGE_RELEASE.search(p["release"]))
    )
    if not built_for:
        raise ValueError(f"{alas_id}: cannot tell the Amazon Linux release")
    return built_for.most_common(1)[0][0]


def _date(value: Any) -> str | None:
    """`2023-02-17 20:41` (updateinfo) or `2023-02-17 20:41:00` (vuln-list) → ISO 8601 in UTC."""
    date = value.get("date") if isinstance(value, dict) else None
    if not isinstance(date, str) or not date:
        return None
    match = _DATE.match(date.strip())
    return f"{match[1]}T{match[2]}:{match[3] or '00'}Z" if match else date
