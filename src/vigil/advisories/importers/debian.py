"""Debian security tracker: the DSA/DLA lists, and the tracker's JSON export.

Both name **source** packages and **codenames**. The lists give one advisory per DSA/DLA with the fixed
version per release (or `<not-affected>`, `<unfixed>`, `<end-of-life>`); the JSON export gives, per
source package and CVE, each release's status, fixed version and urgency (with `nodsa` notes).

Sources: https://salsa.debian.org/security-tracker-team/security-tracker (data/DSA/list, data/DLA/list)
and https://security-tracker.debian.org/tracker/data/json. Debian project data (no licence file; the
tracker is published for public use).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from vigil.advisories.importer import MAX_RECORD_BYTES, RecordError, SourceFormatError
from vigil.advisories.importers import jsondoc
from vigil.advisories.importers.enrichment_files import head, read_limited
from vigil.advisories.model import Advisory, AffectedPackage, Status

DEFAULT_DSA_URL = "https://salsa.debian.org/security-tracker-team/security-tracker/-/raw/master/data/DSA/list"
DEFAULT_DLA_URL = "https://salsa.debian.org/security-tracker-team/security-tracker/-/raw/master/data/DLA/list"
DEFAULT_JSON_URL = "https://security-tracker.debian.org/tracker/data/json"
LICENCE = "Debian security tracker data (public; no explicit licence)"

CODENAMES = {
    "buzz": "1.1", "rex": "1.2", "bo": "1.3", "hamm": "2.0", "slink": "2.1", "potato": "2.2",
    "woody": "3.0", "sarge": "3.1", "etch": "4", "lenny": "5", "squeeze": "6", "wheezy": "7",
    "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13",
    "forky": "14", "duke": "15",
}  # fmt: skip

# old entries vary: `DSA-1304` without revision, double spaces, a missing package name
_HEADER = re.compile(r"^\[(?P<date>\d{1,2} \w{3} \d{4})\]\s+(?P<id>D[SL]A-\d+(?:-\d+)?)\s*(?P<rest>.*)$")
_CVES = re.compile(r"^\s+\{(?P<cves>[^}]*)\}")
_RELEASE = re.compile(r"^\s+\[(?P<release>\w+)\] - (?P<package>\S+)(?: (?P<version>\S+))?")
_SPECIAL = {
    "<not-affected>": Status.NOT_AFFECTED,
    "<unfixed>": Status.AFFECTED,
    "<end-of-life>": Status.END_OF_LIFE,
}
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}  # noqa: SIM905


def _namespace(codename: str) -> str | None:
    number = CODENAMES.get(codename)
    return f"debian:{number}" if number else None


def _iso(date: str) -> str:
    day, month, year = date.split()
    return f"{year}-{_MONTHS.get(month, 1):02d}-{int(day):02d}T00:00:00Z"


class DebianListImporter:
    """`data/DSA/list` and `data/DLA/list`: one advisory per DSA or DLA."""

    name: ClassVar[str] = "debian-lists"
    licence: ClassVar[str] = LICENCE

    def recognises(self, path: Path) -> bool:
        return (
            path.is_file()
            and _HEADER.match(head(path, 300).decode("utf-8", "replace").split("\n")[0]) is not None
        )

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[Advisory]:
        lines = read_limited(path, MAX_RECORD_BYTES).decode("utf-8", "replace").splitlines()
        if lines and not _HEADER.match(lines[0]):
            raise SourceFormatError(f"{path}: not a Debian DSA/DLA list (first line: {lines[0][:60]!r})")
        entry: list[str] = []
        for number, line in enumerate(lines, start=1):
            if line.startswith("[") and entry:
                yield from self._entry(entry, path, number - len(entry), errors)
                entry = []
            entry.append(line)
        if entry:
            yield from self._entry(entry, path, len(lines) - len(entry) + 1, errors)

    def _entry(
        self, lines: list[str], path: Path, number: int, errors: list[RecordError]
    ) -> Iterator[Advisory]:
        header = _HEADER.match(lines[0])
        if header is None:
            errors.append(RecordError(f"{path}:{number}", f"not an advisory header: {lines[0][:80]!r}"))
            return
        cves: list[str] = []
        affected: list[AffectedPackage] = []
        for line in lines[1:]:
            if match := _CVES.match(line):
                cves.extend(match["cves"].split())
            elif match := _RELEASE.match(line):
                namespace = _namespace(match["release"])
                version = match["version"]
                if namespace is None or version is None:
                    continue  # a release Vigil does not know (or a malformed line): nothing to match
                status = _SPECIAL.get(version, Status.FIXED)
                affected.append(
                    AffectedPackage(
                        "Debian", namespace, match["package"], status,
                        fixed_version=version if status is Status.FIXED else None,
                    )
                )  # fmt: skip
        if not affected:
            return  # end-of-life announcements and regression notes without a package line
        yield Advisory(
            id=header["id"],
            source=self.name,
            affected=tuple(affected),
            aliases=tuple(dict.fromkeys(cves)),
            summary=header["rest"].strip() or None,
            published=_iso(header["date"]),
            references=(_reference(header["id"]),),
        )


def _reference(advisory_id: str) -> str:
    return f"https://security-tracker.debian.org/tracker/{advisory_id}"


class DebianTrackerImporter:
    """The tracker's JSON export: one advisory per CVE, one affected entry per (release, source package)."""

    name: ClassVar[str] = "debian-tracker"
    licence: ClassVar[str] = LICENCE

    def recognises(self, path: Path) -> bool:
        if not path.is_file():
            return False
        start = head(path, 2048)
        return start.lstrip().startswith(b"{") and b'"releases"' in start and b'"CVE-' in start

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[Advisory]:
        try:
            data = jsondoc.load_records(read_limited(path), str(path), errors, record_id=_cve_of)
        except ValueError as exc:
            raise SourceFormatError(f"{path}: not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise SourceFormatError(f"{path}: not the tracker's JSON export (expected an object of packages)")
        by_cve: dict[str, list[AffectedPackage]] = {}
        descriptions: dict[str, str] = {}
        for package, cves in data.items():
            if not isinstance(cves, dict):
                errors.append(RecordError(f"{path}#{package}", "package entry is not an object"))
                continue
            for cve, entry in cves.items():
                try:
                    found = list(_tracker_affected(package, entry))
                except (KeyError, TypeError, AttributeError, ValueError) as exc:
                    errors.append(
                        RecordError(f"{path}#{package}/{cve}", f"malformed entry: {exc!r}", record_id=cve)
                    )
                    continue
                by_cve.setdefault(cve, []).extend(found)
                if isinstance(entry, dict) and entry.get("description"):
                    descriptions.setdefault(cve, str(entry["description"]))
        for cve, affected in by_cve.items():
            if affected:
                yield Advisory(
                    id=cve,
                    source=self.name,
                    affected=tuple(affected),
                    details=descriptions.get(cve),
                    references=(_reference(cve),),
                )


def _cve_of(path: tuple[str, ...]) -> str | None:
    """The tracker's records are package → CVE → entry: the advisory an entry belongs to is its CVE."""
    return path[1] if len(path) == 2 else None


def _tracker_affected(package: str, entry: dict[str, Any]) -> Iterator[AffectedPackage]:
    releases = entry.get("releases") or {}
    if not isinstance(releases, dict):
        return  # the export writes `[]` for a CVE with no release data
    for codename, info in releases.items():
        namespace = _namespace(codename)
        if namespace is None:
            continue  # sid and unknown codenames
        urgency = str(info.get("urgency") or "").rstrip("*") or None
        fixed = info.get("fixed_version")
        status = _tracker_status(str(info["status"]), fixed, urgency, info.get("nodsa_reason"))
        yield AffectedPackage(
            "Debian", namespace, package, status,
            fixed_version=str(fixed) if status is Status.FIXED else None,
            severity=urgency,
        )  # fmt: skip


def _tracker_status(status: str, fixed: object, urgency: str | None, nodsa_reason: object) -> Status:
    if fixed == "0":
        return Status.NOT_AFFECTED  # the tracker's way of saying this release never had the bug
    if status == "resolved" and fixed:
        return Status.FIXED
    if urgency == "end-of-life":
        return Status.END_OF_LIFE
    if nodsa_reason == "ignored":
        return Status.WILL_NOT_FIX
    if status in ("open", "undetermined", "resolved"):
        return Status.AFFECTED
    raise ValueError(f"unknown status {status!r}")
