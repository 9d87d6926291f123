"""The advisory model: OSV-shaped, with a namespace for distribution records and the states distros use.

Importers store what a source said in this one shape; the matcher reads only this shape.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload


class Status(enum.StrEnum):
    """What a source says about one package in one namespace."""

    FIXED = "fixed"  # affected below `fixed_version` (or per `ranges`), fixed from it on
    AFFECTED = "affected"  # affected, no fix yet (Debian <unfixed>, Red Hat known_affected, Ubuntu needed)
    WILL_NOT_FIX = "will_not_fix"  # affected, the vendor will not fix it (Red Hat, Debian <ignored>)
    NOT_AFFECTED = "not_affected"  # this release's package is not affected
    END_OF_LIFE = "end_of_life"  # affected, the package or release is out of support


AFFECTED_STATES = frozenset({Status.FIXED, Status.AFFECTED, Status.WILL_NOT_FIX, Status.END_OF_LIFE})


@dataclass(frozen=True, slots=True)
class Range:
    """An OSV range: `type` ECOSYSTEM or SEMVER, ordered events (introduced/fixed/last_affected/limit)."""

    type: str
    events: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "events": [{k: v} for k, v in self.events]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Range:
        events = tuple((k, str(v)) for e in data.get("events", ()) for k, v in e.items())
        return cls(str(data.get("type", "ECOSYSTEM")), events)


@dataclass(frozen=True, slots=True)
class AffectedPackage:
    """One package in one namespace, as one advisory describes it.

    `namespace` says where it applies: `debian:12`, `ubuntu:22.04`, `almalinux:9`, `rhel:9`, `amzn:2023`,
    `alpine:3.19`, `sles:15.5`, or a language ecosystem (`pypi`, `npm`, `maven`, `go`, `crates.io`,
    `rubygems`, `packagist`, `nuget`). `package` is named as the source names it: the source package for
    Debian, Ubuntu and Alpine, the binary rpm for RPM distributions, `group:artifact` for Maven.
    """

    ecosystem: str  # the version scheme's OSV ecosystem name: Debian, AlmaLinux, PyPI, …
    namespace: str
    package: str
    status: Status = Status.FIXED
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()  # explicitly listed affected versions
    fixed_version: str | None = None  # the fix, when the source states one plainly (distro records)
    arch: str | None = None  # Amazon Linux names one package per architecture
    severity: str | None = None  # the vendor's severity for this package, when per package
    channel: str | None = None  # e.g. Ubuntu's `pro` (ESM) availability

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ecosystem": self.ecosystem,
            "namespace": self.namespace,
            "package": self.package,
            "status": self.status.value,
        }
        if self.ranges:
            data["ranges"] = [r.to_json() for r in self.ranges]
        for name in ("fixed_version", "arch", "severity", "channel"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.versions:
            data["versions"] = list(self.versions)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AffectedPackage:
        return cls(
            ecosystem=data["ecosystem"],
            namespace=data["namespace"],
            package=data["package"],
            status=Status(data.get("status", "fixed")),
            ranges=tuple(Range.from_json(r) for r in data.get("ranges", ())),
            versions=tuple(data.get("versions", ())),
            fixed_version=data.get("fixed_version"),
            arch=data.get("arch"),
            severity=data.get("severity"),
            channel=data.get("channel"),
        )


@dataclass(frozen=True, slots=True)
class SeverityScore:
    """A score as the record gives it: `CVSS_V2`/`CVSS_V3`/`CVSS_V4` vectors, or a vendor label."""

    type: str
    score: str


class LazyAffected(Sequence["AffectedPackage"]):
    """An advisory's affected packages as stored, parsed on first use.

    The matcher reads an advisory for its ids, scores and references; its affected entries reached it
    through the index already. Parsing them all anyway was 40% of a cold match that reported 15,000
    vulnerabilities (38,000 entries).
    """

    __slots__ = ("_items", "_raw")

    def __init__(self, raw: Sequence[dict[str, Any]]) -> None:
        self._raw: Sequence[dict[str, Any]] | None = raw
        self._items: tuple[AffectedPackage, ...] | None = None

    def _load(self) -> tuple[AffectedPackage, ...]:
        if self._items is None:
            self._items = tuple(AffectedPackage.from_json(a) for a in self._raw or ())
            self._raw = None
        return self._items

    @overload
    def __getitem__(self, index: int) -> AffectedPackage: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[AffectedPackage]: ...
    def __getitem__(self, index: int | slice) -> AffectedPackage | Sequence[AffectedPackage]:
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._raw) if self._raw is not None else len(self._load())

    def __iter__(self) -> Iterator[AffectedPackage]:
        return iter(self._load())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._load() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._load())

    def __repr__(self) -> str:
        return repr(self._load())


@dataclass(frozen=True, slots=True)
class Advisory:
    """One record of one source (a DSA, an ALSA, a GHSA, a CVE of a distro tracker…)."""

    id: str
    source: str  # the feed it came from: osv-almalinux, debian-tracker, alpine-secdb, …
    affected: Sequence[AffectedPackage]  # a tuple, or LazyAffected when read back from the store
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    summary: str | None = None
    details: str | None = None
    published: str | None = None
    modified: str | None = None
    severity: tuple[SeverityScore, ...] = ()
    vendor_severity: str | None = None  # the vendor's own rating of the whole advisory
    references: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def cves(self) -> tuple[str, ...]:
        return tuple(i for i in (self.id, *self.aliases, *self.related) if i.startswith("CVE-"))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "source": self.source}
        for name in ("aliases", "related", "references"):
            if getattr(self, name):
                data[name] = list(getattr(self, name))
        for name in ("summary", "details", "published", "modified", "vendor_severity"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.severity:
            data["severity"] = [{"type": s.type, "score": s.score} for s in self.severity]
        data["affected"] = [a.to_json() for a in self.affected]
        if self.extra:
            data["extra"] = self.extra
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Advisory:
        return cls(
            id=data["id"],
            source=data["source"],
            affected=LazyAffected(data.get("affected", ())),
            aliases=tuple(data.get("aliases", ())),
            related=tuple(data.get("related", ())),
            summary=data.get("summary"),
            details=data.get("details"),
            published=data.get("published"),
            modified=data.get("modified"),
            severity=tuple(SeverityScore(s["type"], s["score"]) for s in data.get("severity", ())),
            vendor_severity=data.get("vendor_severity"),
            references=tuple(data.get("references", ())),
            extra=data.get("extra", {}),
        )


@dataclass(frozen=True, slots=True)
class Cvss:
    """A CVSS score from NVD (or another scorer) for one CVE."""

    cve: str
    version: str  # "2.0", "3.0", "3.1", "4.0"
    vector: str
    base_score: float
    source: str  # nvd@nist.gov, a CNA, …


@dataclass(frozen=True, slots=True)
class Epss:
    cve: str
    score: float
    percentile: float
    date: str


@dataclass(frozen=True, slots=True)
class KnownExploited:
    """A CISA KEV entry: the vulnerability is exploited in the wild."""

    cve: str
    date_added: str
    due_date: str | None = None
    ransomware: str | None = None
    name: str | None = None
