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
    """One record that could not be read; the import goes on with the next one."""

    where: str
    error: str


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
