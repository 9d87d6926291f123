"""OSV records (JSON and YAML): single files, directories, and the per-ecosystem `all.zip` archives.

One schema serves every distribution and language ecosystem, but each source bends it a little; this
module keeps what each says and straightens only what the matcher could not otherwise use:

* Ubuntu names **source** packages and lists the binaries (and their versions) in
  `ecosystem_specific.binaries`; USN records put the CVEs in `upstream` as `UBUNTU-CVE-…` ids with empty
  `aliases`, and each release's CVE priorities in `database_specific.cves_map`.
* AlmaLinux and Rocky Linux name **binary** rpms (epoch only when non-zero), put the CVEs in `related`
  and the Red Hat severity in the summary (`Important: openssl security update`).
* GHSA writes one `affected[]` entry per range of the same package and its severity label in
  `database_specific.severity`; RustSec marks advisories that are not vulnerabilities (unmaintained,
  unsound, notice) in `database_specific.informational`; Go and PyPI have `withdrawn` records.

Sources: https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip (OSV.dev), and the
upstream repositories (AlmaLinux/osv-database, golang/vulndb, pypa/advisory-database, rustsec/advisory-db,
github/advisory-database, canonical/ubuntu-security-notices). Licences differ per source: see LICENCES.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import yaml

from vigil.advisories.files import open_regular, read_bounded
from vigil.advisories.importer import MAX_ARCHIVE_BYTES, MAX_RECORD_BYTES, RecordError, SourceFormatError
from vigil.advisories.importers import fields, jsondoc
from vigil.advisories.model import Advisory, AffectedPackage, Range, SeverityScore, Status
from vigil.advisories.namespaces import parse_osv_ecosystem

DEFAULT_URL = "https://osv-vulnerabilities.storage.googleapis.com"
LICENCE = "per source (see LICENCES): CC-BY-4.0 (OSV.dev, GHSA, PyPA, Go), CC0-1.0 (RustSec), MIT (AlmaLinux)"
# the data licence of each ecosystem's records, as its publisher states it
LICENCES = {
    "AlmaLinux": "MIT (AlmaLinux/osv-database)",
    "Debian": "Debian security tracker data (public; no explicit licence)",
    "Ubuntu": "Canonical Ubuntu security data (licence not verified)",
    "Rocky Linux": "Rocky Enterprise Software Foundation data (licence not stated)",
    "Red Hat": "CC-BY-4.0 (Red Hat security data)",
    "SUSE": "SUSE security data (licence not verified)",
    "openSUSE": "SUSE security data (licence not verified)",
    "Alpine": "Alpine secdb data (no licence stated)",
    "PyPI": "CC-BY-4.0 (PyPA advisory database, GHSA)",
    "Go": "CC-BY-4.0 (Go vulnerability database)",
    "crates.io": "CC0-1.0 (RustSec advisory database)",
    "npm": "CC-BY-4.0 (GitHub Advisory Database)",
    "Maven": "CC-BY-4.0 (GitHub Advisory Database)",
    "RubyGems": "CC-BY-4.0 (GitHub Advisory Database)",
    "Packagist": "CC-BY-4.0 (GitHub Advisory Database)",
    "NuGet": "CC-BY-4.0 (GitHub Advisory Database)",
}
MAX_ARCHIVE_MEMBERS = 1_000_000  # npm's all.zip, the largest, holds a few hundred thousand records

RECORD_SUFFIXES = (".json", ".yaml", ".yml")
_EVENTS = frozenset({"introduced", "fixed", "last_affected", "limit"})
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's vulndb writes its zero time for "unknown"
_RPM_SUMMARY_SEVERITY = re.compile(r"^(Low|Moderate|Important|Critical): ")
_RPM_SUMMARY_ECOSYSTEMS = frozenset({"AlmaLinux", "Rocky Linux", "Red Hat"})
_UBUNTU_PRIORITIES = ("negligible", "low", "medium", "high", "critical")
_UBUNTU_CVE = re.compile(r"^UBUNTU-(CVE-\d{4}-\d+)$")


def all_zip_url(ecosystem: str) -> str:
    """OSV.dev's archive of every record of one ecosystem (`Debian`, `Rocky Linux`, `PyPI`, …)."""
    return f"{DEFAULT_URL}/{quote(ecosystem)}/all.zip"


class _StringLoader(yaml.CSafeLoader):
    """PyYAML's safe loader with every plain scalar a string (only `null`/`~` stay None), and no aliases.

    OSV versions, names and timestamps must stay strings: `fixed: 1.10` is not the float 1.1, a package
    named `on` is not True, and `modified: 2023-11-07T20:24:23Z` is not a datetime. Aliases are refused so
    a "billion laughs" document cannot make the walk over the record explode (records never use them).
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases are not allowed in advisory records", node.start_mark
            )
        return super().construct_object(node, deep)


_StringLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(data: bytes | str) -> Any:
    """Parse one YAML document safely, scalars kept as strings (shared with the Alpine secdb importer)."""
    return yaml.load(data, Loader=_StringLoader)  # a SafeLoader subclass


class OsvImporter:
    """OSV JSON/YAML files, directories of them (recursively) and OSV.dev's `all.zip` archives."""

    name: ClassVar[str] = "osv"
    licence: ClassVar[str] = LICENCE

    def __init__(
        self,
        *,
        max_record_bytes: int = MAX_RECORD_BYTES,
        max_archive_bytes: int = MAX_ARCHIVE_BYTES,
        max_members: int = MAX_ARCHIVE_MEMBERS,
    ) -> None:
        self.max_record_bytes = max_record_bytes
        self.max_archive_bytes = max_archive_bytes
        self.max_members = max_members

    def recognises(self, path: Path) -> bool:
        if path.is_dir():
            first = next(source_files(path, (*RECORD_SUFFIXES, ".zip")), None)
            return first is not None and self.recognises(first)
        try:
            with open_regular(path) as stream:
                start = stream.read(65536)
        except OSError:
            return False
        if start.startswith(b"PK\x03\x04"):
            return _first_zip_member(start).endswith(RECORD_SUFFIXES)
        return path.suffix in RECORD_SUFFIXES and _looks_like_osv(start, path.suffix)

    def read(
        self, path: Path, errors: list[RecordError], skipped: Counter[str] | None = None
    ) -> Iterator[Advisory]:
        """The advisories in `path`; withdrawn and informational records are counted in `skipped`."""
        skipped = Counter() if skipped is None else skipped
        if path.is_dir():
            for file in source_files(path, (*RECORD_SUFFIXES, ".zip")):
                if file.suffix == ".zip":
                    yield from self._archive(file, errors, skipped)
                else:
                    yield from self._file(file, errors, skipped, whole_source=False)
        elif _is_zip(path):
            yield from self._archive(path, errors, skipped)
        else:
            yield from self._file(path, errors, skipped, whole_source=True)

    def _file(
        self, path: Path, errors: list[RecordError], skipped: Counter[str], *, whole_source: bool
    ) -> Iterator[Advisory]:
        """One record file; when it is the whole source, a file that is no record fails the import."""
        try:
            data = _load(_read_bounded(path, self.max_record_bytes), path.suffix, str(path))
            if whole_source and (not isinstance(data, dict) or "id" not in data):
                raise ValueError(f"{path}: not an OSV record (no `id`)")
        except ValueError as exc:
            if whole_source:
                raise SourceFormatError(str(exc)) from exc
            errors.append(RecordError(str(path), str(exc)))
            return
        yield from _advisory(data, str(path), errors, skipped)

    def _archive(self, path: Path, errors: list[RecordError], skipped: Counter[str]) -> Iterator[Advisory]:
        """Members are read one by one, each bounded, with the total bounded before and while reading."""
        try:
            with open_regular(path) as stream, zipfile.ZipFile(stream) as archive:
                yield from self._members(archive, path, errors, skipped)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceFormatError(f"{path}: not a readable zip archive: {exc}") from exc

    def _members(
        self, archive: zipfile.ZipFile, path: Path, errors: list[RecordError], skipped: Counter[str]
    ) -> Iterator[Advisory]:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > self.max_members:
            raise SourceFormatError(f"{path}: {len(members)} members, more than {self.max_members}")
        declared = sum(m.file_size for m in members)
        if declared > self.max_archive_bytes:
            raise SourceFormatError(
                f"{path}: members add up to {declared} bytes, more than {self.max_archive_bytes}"
            )
        total = 0
        for member in members:
            where = f"{path}!{member.filename}"
            suffix = os.path.splitext(member.filename)[1]
            if suffix not in RECORD_SUFFIXES:
                skipped["not a record file"] += 1
                continue
            if member.file_size > self.max_record_bytes:
                errors.append(RecordError(where, f"larger than {self.max_record_bytes} bytes"))
                continue
            try:
                with archive.open(member) as stream:
                    raw = stream.read(self.max_record_bytes + 1)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError) as exc:
                errors.append(RecordError(where, f"damaged archive member: {exc}"))
                continue
            total += len(raw)
            if total > self.max_archive_bytes:
                raise SourceFormatError(f"{path}: more than {self.max_archive_bytes} bytes decompressed")
            try:
                data = _load(raw, suffix, where)
            except ValueError as exc:
                errors.append(RecordError(where, str(exc)))
                continue
            yield from _advisory(data, where, errors, skipped)


def source_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Files below `root` whose names end in `suffixes`, in a stable order, hidden ones skipped.

    Shared with the Alpine and Amazon importers: a mirror of a feed is a directory tree of its files.
    """
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(suffixes) and not name.startswith("."):
                yield Path(directory, name)


def _first_zip_member(start: bytes) -> str:
    """The name in the first local file header: enough to tell an archive of records, without its index."""
    if len(start) < 30:
        return ""
    name_length = int.from_bytes(start[26:28], "little")
    return start[30 : 30 + name_length].decode("utf-8", "replace")


def _looks_like_osv(start: bytes, suffix: str) -> bool:
    if suffix == ".json":
        text = start.lstrip()
        return (
            text.startswith(b"{")
            and b'"id"' in text
            and any(key in text for key in (b'"affected"', b'"modified"', b'"schema_version"'))
            # other formats whose text can hold those words: Alpine's secdb, CSAF, an NVD API page (whose
            # descriptions quote words such as "affected")
            and not any(key in text for key in (b'"secfixes"', b'"csaf_version"', b'"NVD_CVE"'))
        )
    return (
        re.search(rb"(?m)^id: ", start) is not None
        and re.search(rb"(?m)^(affected|modified):", start) is not None
    )


def _is_zip(path: Path) -> bool:
    with open_regular(path) as stream:
        return zipfile.is_zipfile(stream)


def _read_bounded(path: Path, limit: int) -> bytes:
    try:
        return read_bounded(path, limit)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read: {exc.strerror or exc}") from exc


def _load(data: bytes, suffix: str, where: str) -> Any:
    """A record's JSON or YAML document; ValueError with the location when it is not one."""
    try:
        if suffix == ".json":
            return jsondoc.loads(data, where)
        return load_yaml(data)
    except jsondoc.TooDeep:
        raise
    except RecursionError:
        raise ValueError(f"{where}: {jsondoc.TOO_DEEP}") from None
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if suffix == ".json" else "YAML"
        raise ValueError(f"{where}: not valid {kind}: {str(exc)[:200]}") from exc


def _advisory(data: Any, where: str, errors: list[RecordError], skipped: Counter[str]) -> Iterator[Advisory]:
    """Zero or one advisory from one decoded record; a malformed record becomes a RecordError."""
    try:
        advisory = _parse_record(data, where, errors, skipped)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        record_id = data.get("id") if isinstance(data, dict) else None
        errors.append(
            RecordError(
                where,
                f"malformed OSV record: {exc}",
                record_id=record_id if isinstance(record_id, str) else None,
            )
        )
        return
    if advisory is not None:
        yield advisory


def _parse_record(data: Any, where: str, errors: list[RecordError], skipped: Counter[str]) -> Advisory | None:
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, found {type(data).__name__}")
    record_id = fields.text(data, "id")
    if not record_id:
        raise ValueError("no `id`")
    if data.get("withdrawn"):
        skipped["withdrawn"] += 1
        return None
    entries = fields.items(data, "affected")
    if any(_informational(entry) for entry in entries):
        skipped["informational"] += 1  # RustSec unmaintained/unsound/notice: not a vulnerability
        return None
    affected, extras = _affected_entries(entries, f"{where}#{record_id}", errors, skipped)
    if not affected:
        if not entries:
            skipped["no affected packages"] += 1
        return None
    severity = _severity(data)
    upstream = [_id_string(i) for i in fields.items(data, "upstream")]
    extra: dict[str, Any] = {}
    if upstream:
        extra["upstream"] = upstream
    if any(extras):
        extra["affected"] = extras
    return Advisory(
        id=record_id,
        source=f"osv-{affected[0].namespace.split(':')[0]}",
        affected=tuple(affected),
        aliases=_aliases(record_id, [_id_string(i) for i in fields.items(data, "aliases")], upstream),
        related=tuple(dict.fromkeys(_id_string(i) for i in fields.items(data, "related"))),
        summary=fields.text(data, "summary"),
        details=fields.text(data, "details"),
        published=_time(fields.text(data, "published")),
        modified=_time(fields.text(data, "modified")),
        severity=severity,
        vendor_severity=_vendor_severity(data, severity, affected[0].ecosystem),
        references=tuple(dict.fromkeys(_reference(r) for r in fields.items(data, "references"))),
        extra=extra,
    )


def _affected_entries(
    entries: list[Any], where: str, errors: list[RecordError], skipped: Counter[str]
) -> tuple[list[AffectedPackage], list[dict[str, Any]]]:
    """The entries Vigil can match, and beside each what only its source's own fields say."""
    affected: list[AffectedPackage] = []
    extras: list[dict[str, Any]] = []
    for entry in entries:
        try:
            parsed = _affected(entry)
        except UnknownEcosystem as exc:
            errors.append(RecordError(where, str(exc), partial=True))
            continue
        if parsed is None:
            skipped["affected entry without ecosystem ranges or versions"] += 1
            continue
        affected.append(parsed[0])
        extras.append(parsed[1])
    return affected, extras


class UnknownEcosystem(ValueError):
    """An affected entry in an ecosystem Vigil has no version scheme and namespace for."""


def _affected(entry: Any) -> tuple[AffectedPackage, dict[str, Any]] | None:
    """One `affected[]` entry, and what of it only the source's own fields hold (kept in `extra`)."""
    if not isinstance(entry, dict):
        raise ValueError("an affected entry is not an object")
    package = fields.mapping(entry, "package")
    ecosystem, name = fields.text(package, "ecosystem"), fields.text(package, "name")
    if not ecosystem or not name:
        raise ValueError("an affected entry lacks package.ecosystem or package.name")
    try:
        scheme, namespace, channel = parse_osv_ecosystem(ecosystem)
    except ValueError as exc:
        raise UnknownEcosystem(str(exc)) from exc
    ranges = tuple(r for r in (_range(r) for r in fields.items(entry, "ranges")) if r is not None)
    versions = tuple(_version(v) for v in fields.items(entry, "versions"))
    if not ranges and not versions:
        return None  # only GIT ranges: nothing a package version can be compared with
    events = [kind for r in ranges for kind, _ in r.events]
    status = Status.FIXED if "fixed" in events else Status.AFFECTED
    fixed = None
    if len(ranges) == 1 and len(ranges[0].events) == 2 and ranges[0].events[0] == ("introduced", "0"):
        kind, version = ranges[0].events[1]
        fixed = version if kind == "fixed" else None
    extra = _entry_extra(entry)
    return (
        AffectedPackage(
            ecosystem=scheme,
            namespace=namespace,
            package=name,
            status=status,
            ranges=ranges,
            versions=versions,
            fixed_version=fixed,
            severity=_highest_ubuntu_priority(extra.get("cves", {})),
            channel=channel,
        ),
        extra,
    )


def _range(data: Any) -> Range | None:
    if not isinstance(data, dict):
        raise ValueError("a range is not an object")
    kind = data.get("type")
    if kind == "GIT":
        return None  # commits: Vigil compares package versions, never commits
    if kind not in ("ECOSYSTEM", "SEMVER"):
        raise ValueError(f"unknown range type {kind!r}")
    events = []
    for event in fields.items(data, "events"):
        if not isinstance(event, dict) or len(event) != 1:
            raise ValueError(f"malformed range event {str(event)[:80]}")
        ((key, value),) = event.items()
        if key not in _EVENTS or not isinstance(value, str):
            raise ValueError(f"malformed range event {str(event)[:80]}")
        events.append((key, value))
    return Range(kind, tuple(events))


def _entry_extra(entry: dict[str, Any]) -> dict[str, Any]:
    """Ubuntu's binaries, availability and per-CVE priorities; GHSA's last known affected range."""
    extra: dict[str, Any] = {}
    specific = fields.mapping(entry, "ecosystem_specific")
    binaries = {
        b["binary_name"]: b["binary_version"]
        for b in fields.items(specific, "binaries")
        if isinstance(b, dict)
        and isinstance(b.get("binary_name"), str)
        and isinstance(b.get("binary_version"), str)
    }
    if binaries:
        extra["binaries"] = binaries
    if availability := fields.text(specific, "availability"):
        extra["availability"] = availability
    database = fields.mapping(entry, "database_specific")
    cves = {
        cve["id"]: [
            {"type": s["type"], "score": s["score"]} for s in fields.items(cve, "severity") if _is_score(s)
        ]
        for cve in fields.items(fields.mapping(database, "cves_map"), "cves")
        if isinstance(cve, dict) and isinstance(cve.get("id"), str)
    }
    if cves:
        extra["cves"] = cves
    if last_known := fields.text(database, "last_known_affected_version_range"):
        extra["last_known_affected_version_range"] = last_known
    return extra


def _highest_ubuntu_priority(cves: dict[str, list[dict[str, str]]]) -> str | None:
    """A USN fixes several CVEs in one release: its severity there is the highest of their priorities."""
    labels = [s["score"].lower() for scores in cves.values() for s in scores if s["type"] == "Ubuntu"]
    if not labels:
        return None
    return max(
        labels, key=lambda label: _UBUNTU_PRIORITIES.index(label) if label in _UBUNTU_PRIORITIES else -1
    )


def _informational(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    database = entry.get("database_specific")
    return isinstance(database, dict) and bool(database.get("informational"))


def _severity(data: dict[str, Any]) -> tuple[SeverityScore, ...]:
    scores = [s for s in fields.items(data, "severity") if _is_score(s)]
    return tuple(dict.fromkeys(SeverityScore(s["type"], s["score"]) for s in scores))


def _is_score(value: Any) -> bool:
    return (
        isinstance(value, dict) and isinstance(value.get("type"), str) and isinstance(value.get("score"), str)
    )


def _vendor_severity(data: dict[str, Any], scores: tuple[SeverityScore, ...], scheme: str) -> str | None:
    """The vendor's own label: Ubuntu's priority, GHSA's `database_specific.severity`, Red Hat's prefix."""
    for score in scores:
        if not score.type.startswith("CVSS_"):
            return score.score.lower()
    label = fields.mapping(data, "database_specific").get("severity")
    if isinstance(label, str) and label:
        return label.lower()
    summary = fields.text(data, "summary")
    if scheme in _RPM_SUMMARY_ECOSYSTEMS and summary and (match := _RPM_SUMMARY_SEVERITY.match(summary)):
        return match[1].lower()
    return None


def _aliases(record_id: str, aliases: list[str], upstream: list[str]) -> tuple[str, ...]:
    """`aliases`, then `upstream` (a USN's UBUNTU-CVE ids), then the CVE each UBUNTU-CVE id stands for.

    A USN, like a DSA, names the CVEs it fixes as aliases, so the matcher merges them the same way.
    """
    found = [*aliases, *upstream]
    found += [m[1] for i in (record_id, *found) if (m := _UBUNTU_CVE.match(i))]
    return tuple(i for i in dict.fromkeys(found) if i != record_id)


def _reference(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("url"), str):
        return str(value["url"])
    raise ValueError(f"malformed reference {str(value)[:80]}")


def _time(value: str | None) -> str | None:
    return None if value == _ZERO_TIME else value


def _version(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"version {value!r} is not a string")
    return value


def _id_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"id {value!r} is not a string")
    return value
