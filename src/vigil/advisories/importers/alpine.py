"""Alpine secdb: per release and repository, each package's `secfixes` (fixed version → ids fixed in it).

Three renderings of the same data are read: the secdb JSON (`v3.20/main.json`: `packages[].pkg.{name,
secfixes}`), aquasecurity/vuln-list's per-package split of it (`name` and `secfixes` at the top), and the
deprecated YAML (`v3.x/main.yaml`). The package is the **origin** (aport) name, the one every binary
subpackage records as its origin; a `"0"` key says the release was never affected.

Findings are per vulnerability id, so the importer turns secdb's package → version → ids around: one
advisory per id (CVE, or `ALPINE-13661`, `XSA-260` …) with one affected entry per (release, origin,
fixed version) found anywhere in what is read. Reading the release files of one mirror together gives
each id all its releases; ids are not version-sorted in secdb and each fix is kept as it is.

Source: https://secdb.alpinelinux.org (`/<release>/main.json`, `/<release>/community.json`). No licence
is stated for secdb data (the alpine-secdb repository has none).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from vigil.advisories.files import open_regular, read_bounded
from vigil.advisories.importer import MAX_RECORD_BYTES, RecordError, SourceFormatError
from vigil.advisories.importers import jsondoc
from vigil.advisories.importers.osv import load_yaml, source_files
from vigil.advisories.model import Advisory, AffectedPackage, Status
from vigil.advisories.namespaces import release_key

DEFAULT_URL = "https://secdb.alpinelinux.org"
LICENCE = "Alpine secdb data (no licence stated)"

_SUFFIXES = (".json", ".yaml", ".yml")
_RELEASE = re.compile(r"^v?\d+\.\d+$|^edge$")
# legacy slips: `CVE_2019-2426`, and `CVE-2017-17434-1`/`-2` for two patches of one CVE in one release
_SLIPPED_CVE = re.compile(r"^CVE[-_](\d{4})-(\d{4,})(?:-\d+)?$", re.IGNORECASE)


def secdb_url(release: str, repository: str) -> str:
    """The secdb JSON of one release (`v3.20`, `edge`) and repository (`main`, `community`)."""
    return f"{DEFAULT_URL}/{release}/{repository}.json"


@dataclass
class _Collected:
    aliases: dict[str, None] = field(default_factory=dict)
    affected: dict[AffectedPackage, None] = field(default_factory=dict)


class AlpineSecdbImporter:
    """secdb JSON, vuln-list's per-package JSON and the legacy YAML, as files or directories of them."""

    name: ClassVar[str] = "alpine-secdb"
    licence: ClassVar[str] = LICENCE

    def recognises(self, path: Path) -> bool:
        if path.is_dir():
            first = next(source_files(path, _SUFFIXES), None)
            return first is not None and self.recognises(first)
        if path.suffix not in _SUFFIXES:
            return False
        try:
            with open_regular(path) as stream:
                start = stream.read(8192)
        except OSError:
            return False
        return b"secfixes" in start or b"distroversion" in start

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[Advisory]:
        """All ids of everything under `path`, grouped first: one id's releases may be in several files."""
        collected: dict[str, _Collected] = {}
        if path.is_dir():
            for file in source_files(path, _SUFFIXES):
                try:
                    self._collect(file, collected, errors)
                except SourceFormatError as exc:
                    errors.append(RecordError(str(file), str(exc)))
        else:
            self._collect(path, collected, errors)
        for vulnerability, found in collected.items():
            yield Advisory(
                id=vulnerability,
                source=self.name,
                affected=tuple(found.affected),
                aliases=tuple(found.aliases),
                references=_references(vulnerability),
            )

    def _collect(self, path: Path, collected: dict[str, _Collected], errors: list[RecordError]) -> None:
        data = _load(path, errors)
        if not isinstance(data, dict):
            raise SourceFormatError(f"{path}: not an Alpine secdb document (expected an object)")
        release = data.get("distroversion")
        if not isinstance(release, str) or not _RELEASE.match(release):
            raise SourceFormatError(f"{path}: no usable `distroversion` ({release!r})")
        namespace = f"alpine:{release_key(release, 2)}"
        entries = [{"pkg": data}] if "secfixes" in data else data.get("packages") or []  # vuln-list: flat
        if not isinstance(entries, list):
            raise SourceFormatError(f"{path}: `packages` is not a list")
        for entry in entries:
            package = entry.get("pkg") if isinstance(entry, dict) else entry
            try:
                _collect_package(package, namespace, collected)
            except (TypeError, ValueError) as exc:
                name = package.get("name") if isinstance(package, dict) else None
                errors.append(RecordError(f"{path}#{name or '?'}", str(exc)))


def _collect_package(package: Any, namespace: str, collected: dict[str, _Collected]) -> None:
    if not isinstance(package, dict):
        raise TypeError("a package entry is not an object")
    origin, secfixes = package.get("name"), package.get("secfixes") or {}
    if not isinstance(origin, str) or not origin:
        raise ValueError("a package entry has no name")
    if not isinstance(secfixes, dict):
        raise TypeError(f"`secfixes` of {origin} is not an object")
    for version, ids in secfixes.items():
        if not isinstance(version, str) or not isinstance(ids, list | None):
            raise TypeError(f"malformed secfixes entry {version!r}: {str(ids)[:80]}")
        never = version == "0"
        affected = AffectedPackage(
            ecosystem="Alpine",
            namespace=namespace,
            package=origin,
            status=Status.NOT_AFFECTED if never else Status.FIXED,
            fixed_version=None if never else version,
        )
        for entry in ids or ():
            tokens = str(entry).split()  # legacy entries: `CVE-2018-8897 XSA-260`
            if not tokens:
                continue
            vulnerability = _SLIPPED_CVE.sub(r"CVE-\1-\2", tokens[0])
            found = collected.setdefault(vulnerability, _Collected())
            found.aliases.update(dict.fromkeys(t for t in tokens[1:] if t != vulnerability))
            found.affected[affected] = None


def _references(vulnerability: str) -> tuple[str, ...]:
    if vulnerability.startswith("CVE-"):
        return (f"https://security.alpinelinux.org/vuln/{vulnerability}",)
    return ()


def _load(path: Path, errors: list[RecordError]) -> Any:
    """A secdb document; a package entry nested too deeply is left out and reported (JSON)."""
    try:
        raw = read_bounded(path, MAX_RECORD_BYTES)
    except OSError as exc:
        raise SourceFormatError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise SourceFormatError(str(exc)) from exc
    try:
        if path.suffix == ".json":
            return jsondoc.load_records(raw, str(path), errors)
        return load_yaml(raw)
    except RecursionError:
        raise SourceFormatError(f"{path}: {jsondoc.TOO_DEEP}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise SourceFormatError(f"{path}: not valid {path.suffix[1:].upper()}: {str(exc)[:200]}") from exc
