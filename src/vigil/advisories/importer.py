"""The importer plug-in interface: one module per source format, listed in `feeds.py`.

An importer turns a source's files into `Advisory` records (or enrichment records) and nothing else:
no database, no network. It stores what the source said; the matcher derives the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from vigil.advisories.model import Advisory, Cvss, Epss, KnownExploited

MAX_RECORD_BYTES = 64 << 20  # one advisory file larger than this is refused
MAX_ARCHIVE_BYTES = 4 << 30  # total decompressed bytes of one feed archive


class SourceFormatError(ValueError):
    """A source file is malformed; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class RecordError:
    """One record that could not be read; the import goes on with the next one.

    `record_id`: the advisory the unreadable record belongs to, when the source says it: its stored copy
    is kept as it was. An error without one may have hidden any record, so nothing stored is removed.
    `partial`: only a part Vigil cannot use was left out (an entry in an unknown ecosystem); the record
    was read and stored without it, and nothing needs keeping.
    """

    where: str
    error: str
    record_id: str | None = None
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Unreadable:
    """What a complete import must not delete because it could not read it."""

    ids: frozenset[str]  # advisories whose stored copies stay as they are
    unidentified: bool  # records of unknown id were lost: no stored advisory is removed as withdrawn

    @classmethod
    def of(cls, errors: list[RecordError]) -> Unreadable:
        whole = [e for e in errors if not e.partial]
        return cls(
            frozenset(e.record_id for e in whole if e.record_id is not None),
            any(e.record_id is None for e in whole),
        )


class AdvisoryImporter(Protocol):
    """Reads one source format into advisories."""

    name: ClassVar[str]  # stable: "osv", "debian-dsa", "alpine-secdb", "amazon-updateinfo", "csaf", …
    licence: ClassVar[str]  # the data licence of the source, recorded in the database

    def recognises(self, path: Path) -> bool:
        """Whether `path` (a file or directory) is in this importer's format (cheap: names and magic)."""
        ...

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[Advisory]:
        """The advisories in `path`; a bad record goes to `errors` and reading goes on."""
        ...


class EnrichmentImporter(Protocol):
    """Reads one enrichment format (NVD CVSS, EPSS, CISA KEV)."""

    kind: ClassVar[str]  # always "enrichment": tells the two kinds of importer apart at run time
    name: ClassVar[str]
    licence: ClassVar[str]

    def recognises(self, path: Path) -> bool: ...

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[Cvss | Epss | KnownExploited]: ...
