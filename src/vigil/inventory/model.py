"""The `Inventory` document: what is installed on one target, in one versioned JSON shape.

The agent, the agentless scanner and `vigil inventory` all produce it; the server matches it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vigil.enums import PackageManager

SCHEMA = "vigil.inventory"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package.

    `version` is what the package manager shows: a dpkg version with its epoch (`1:2.36-9`), an rpm
    version without epoch and release (those are `epoch` and `release`), an apk `pkgver-rN`, a language
    package's declared version.
    """

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

    @property
    def key(self) -> str:
        """Identity inside one inventory: the same package found twice is one package."""
        return self.purl

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["locations"] = list(self.locations)
        data["notes"] = list(self.notes)
        return {k: v for k, v in data.items() if v not in (None, [], "")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Package:
        data = dict(data)
        data["locations"] = tuple(data.get("locations", ()))
        data["notes"] = tuple(data.get("notes", ()))
        return cls(**data)


@dataclass(frozen=True, slots=True)
class OSInfo:
    """The operating system: from os-release or the legacy release files."""

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

    running: str | None = None  # `uname -r` on a live host
    default: str | None = None  # the release the boot loader boots by default (image)
    package: str | None = None  # the package providing the running/default kernel (name)
    installed: tuple[str, ...] = ()  # every installed kernel release
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["installed"] = list(self.installed)
        return {k: v for k, v in data.items() if v not in (None, "")}


@dataclass(frozen=True, slots=True)
class FileError:
    path: str
    error: str


@dataclass
class ExtractorRun:
    """What one extractor did: its stable name and version, the files it read, and per-file errors."""

    name: str
    version: int
    files_read: list[str] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    packages: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "packages": self.packages,
            "files_read": self.files_read,
            "errors": [{"path": e.path, "error": e.error} for e in self.errors],
        }


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    name: str
    size: int
    content: str  # ext4, xfs, lvm2, luks2, vfat, swap, …
    uuid: str | None = None
    label: str | None = None
    mountpoint: str | None = None


@dataclass
class Target:
    """What was inventoried."""

    kind: str  # host | directory | image
    paths: list[str]
    hostname: str | None = None
    volumes: list[VolumeInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be read, kept and reported

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "paths": self.paths}
        if self.hostname:
            data["hostname"] = self.hostname
        if self.volumes:
            data["volumes"] = [
                {k: v for k, v in dataclasses.asdict(vol).items() if v is not None} for vol in self.volumes
            ]
        data["problems"] = self.problems
        return data


@dataclass
class Stats:
    files_seen: int = 0
    bytes_read: int = 0
    duration_s: float = 0.0
    walked: bool = False  # False when only exact paths were wanted and no walk happened


@dataclass(frozen=True, slots=True)
class LimitHit:
    """A collection limit that was reached; what was collected before it is kept."""

    limit: str  # package_count | collection_time | scan_time
    value: float
    detail: str


@dataclass
class Inventory:
    target: Target
    os: OSInfo | None
    kernel: KernelInfo | None
    packages: list[Package]
    extractors: list[ExtractorRun]
    stats: Stats
    collected_at: str
    scope: str = "default"
    limits_hit: list[LimitHit] = field(default_factory=list)

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
