"""The `Inventory` document: what is installed on one target, in one versioned JSON shape.

The agent, the agentless scanner and `vigil inventory` all produce it; the server matches it. Every part is
frozen: an inventory crosses process and trust boundaries (an agent's document is untrusted input), so it is
validated once when read (`Inventory.from_json`) and never changes after that.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from vigil.enums import PackageManager

SCHEMA = "vigil.inventory"
SCHEMA_VERSION = 1

# pydantic reads this on each dataclass when validating (`vigil.inventory.document`); a plain dict, so that
# producing an inventory (the agent) never imports pydantic
_STRICT: dict[str, Any] = {"extra": "forbid", "str_max_length": 8192}

TargetKind = Literal["host", "directory", "image", "inventory", "sbom"]


def _tuples(obj: object, *names: str) -> None:
    """Coerce list arguments to tuples, so that a frozen part is hashable and truly immutable."""
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, tuple):
            object.__setattr__(obj, name, tuple(value))


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """JSON without absent members (None, empty lists, empty strings)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items() if v not in (None, (), [], "")}


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package.

    `version` is what the package manager shows: a dpkg version with its epoch (`1:2.36-9`), an rpm
    version without epoch and release (those are `epoch` and `release`), an apk `pkgver-rN`, a language
    package's declared version.
    """

    __pydantic_config__ = _STRICT

    name: str
    version: str
    type: str  # the purl type: deb, rpm, apk, pypi, npm, maven, golang, cargo, gem, composer, nuget
    package_manager: PackageManager
    purl: str
    extractor: str
    epoch: int | None = None
    release: str | None = None
    arch: str | None = None
    source_name: str | None = None  # the source package (dpkg Source:, rpm SOURCERPM, apk origin)
    source_version: str | None = None
    locations: tuple[str, ...] = ()  # where it was found: the database or manifest file(s)
    owner: str | None = None  # for a language package whose files an OS package installed: that package
    notes: tuple[str, ...] = ()  # e.g. "version from the file name" when that was the last resort

    def __post_init__(self) -> None:
        _tuples(self, "locations", "notes")

    @property
    def key(self) -> str:
        """Identity inside one inventory: the same package found twice is one package."""
        return self.purl

    def to_json(self) -> dict[str, Any]:
        # the member names once per class, not per package: a host's inventory has thousands of packages
        # and its document is made for each content hash (`dataclasses.fields` was a third of the cost)
        data = {
            name: list(value) if isinstance(value, tuple) else value
            for name in _PACKAGE_MEMBERS
            if (value := getattr(self, name)) not in (None, (), [], "")
        }
        data["version"] = self.version  # required, even when a manifest declared none
        return data


_PACKAGE_MEMBERS = tuple(f.name for f in dataclasses.fields(Package))


@dataclass(frozen=True, slots=True)
class OSInfo:
    """The operating system: from os-release or the legacy release files."""

    __pydantic_config__ = _STRICT

    family: str  # debian, redhat, suse, alpine, amazon, unknown
    id: str  # os-release ID: debian, ubuntu, almalinux, rocky, rhel, amzn, alpine, sles, …
    version_id: str | None = None
    version: str | None = None
    codename: str | None = None
    name: str | None = None
    cpe: str | None = None
    eol: bool | None = None  # None: end of life not known for this release
    eol_date: str | None = None
    source: str = ""  # the file it was read from

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class KernelInfo:
    """The running kernel (live host) or the default one per the boot loader (image), and the rest."""

    __pydantic_config__ = _STRICT

    running: str | None = None  # `uname -r` on a live host
    default: str | None = None  # the release the boot loader boots by default (image)
    package: str | None = None  # the package providing the running/default kernel (name)
    installed: tuple[str, ...] = ()  # every installed kernel release
    source: str = ""

    def __post_init__(self) -> None:
        _tuples(self, "installed")

    def to_json(self) -> dict[str, Any]:
        return _compact(dataclasses.asdict(self))


@dataclass(frozen=True, slots=True)
class FileError:
    __pydantic_config__ = _STRICT

    path: str
    error: str


@dataclass(frozen=True, slots=True)
class ExtractorRun:
    """What one extractor did: its stable name and version, the files it read, and per-file errors."""

    __pydantic_config__ = _STRICT

    name: str
    version: int
    packages: int = 0
    files_read: tuple[str, ...] = ()
    errors: tuple[FileError, ...] = ()

    def __post_init__(self) -> None:
        _tuples(self, "files_read", "errors")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "packages": self.packages,
            "files_read": list(self.files_read),
            "errors": [{"path": e.path, "error": e.error} for e in self.errors],
        }


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    __pydantic_config__ = _STRICT

    name: str
    size: int
    content: str  # ext4, xfs, lvm2, luks2, vfat, swap, …
    uuid: str | None = None
    label: str | None = None
    mountpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """What was inventoried."""

    __pydantic_config__ = _STRICT

    kind: TargetKind
    paths: tuple[str, ...]
    hostname: str | None = None
    volumes: tuple[VolumeInfo, ...] = ()
    problems: tuple[str, ...] = ()  # what could not be read, kept and reported

    def __post_init__(self) -> None:
        _tuples(self, "paths", "volumes", "problems")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "paths": list(self.paths)}
        if self.hostname:
            data["hostname"] = self.hostname
        if self.volumes:
            data["volumes"] = [
                {k: v for k, v in dataclasses.asdict(vol).items() if v is not None} for vol in self.volumes
            ]
        data["problems"] = list(self.problems)
        return data


@dataclass(frozen=True, slots=True)
class Stats:
    """How the collection went: run metadata, left out of the content hash."""

    __pydantic_config__ = _STRICT

    files_seen: int = 0
    bytes_read: int = 0
    duration_s: float = 0.0
    walked: bool = False  # False when only exact paths were wanted and no walk happened


@dataclass(frozen=True, slots=True)
class LimitHit:
    """A collection limit that was reached; what was collected before it is kept."""

    __pydantic_config__ = _STRICT

    limit: str  # package_count | collection_time | scan_time
    value: float
    detail: str

    def __post_init__(self) -> None:
        # always a float: a limit of 5000 read back from JSON is 5000.0, and the content hash of an inventory
        # must survive the round trip (an agent's and the server's hash of it must agree)
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True, slots=True)
class Inventory:
    """One target's packages, OS and kernel, with what each extractor did and what could not be read."""

    __pydantic_config__ = _STRICT

    target: Target
    os: OSInfo | None
    kernel: KernelInfo | None
    packages: tuple[Package, ...]
    extractors: tuple[ExtractorRun, ...]
    stats: Stats
    collected_at: str
    scope: str = "default"
    limits_hit: tuple[LimitHit, ...] = ()

    def __post_init__(self) -> None:
        _tuples(self, "packages", "extractors", "limits_hit")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "collected_at": self.collected_at,
            "scope": self.scope,
            "target": self.target.to_json(),
            "os": self.os.to_json() if self.os else None,
            "kernel": self.kernel.to_json() if self.kernel else None,
            "packages": [p.to_json() for p in self.packages],
            "extractors": [e.to_json() for e in self.extractors],
            "limits_hit": [dataclasses.asdict(limit) for limit in self.limits_hit],
            "stats": dataclasses.asdict(self.stats),
        }

    @property
    def content_hash(self) -> str:
        """SHA-256 of what was found, without run metadata (when, how long, bytes read).

        Two collections of an unchanged machine give the same hash: the server stores each distinct
        inventory once, and an agent resending the same content is recognised.
        """
        content = self.to_json()
        for run_metadata in ("collected_at", "stats"):
            del content[run_metadata]
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def from_json(cls, document: bytes | str | dict[str, Any]) -> Inventory:
        """An inventory read back from its JSON document, validated (`InvalidInventory` if it is not one)."""
        from vigil.inventory.document import read_inventory

        return read_inventory(document)
