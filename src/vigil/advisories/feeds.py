"""The explicit lists of importers and public feeds (STYLE habit 2), and importing a local path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vigil.advisories.importer import AdvisoryImporter, EnrichmentImporter, RecordError, SourceFormatError
from vigil.advisories.store import AdvisoryDB, SourceInfo, UpdateResult
from vigil.advisories.update import Feed

IMPORTERS: dict[str, AdvisoryImporter | EnrichmentImporter] = {}

_OSV = "https://osv-vulnerabilities.storage.googleapis.com"
FEEDS: tuple[Feed, ...] = ()


def load_feeds(path: Path | None) -> list[Feed]:
    """The built-in feeds, or the ones a YAML file lists (a mirror, a subset, an internal source)."""
    if path is None:
        return list(FEEDS)
    data: Any = yaml.safe_load(path.read_text())
    entries = data.get("feeds") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of feeds (name, url, importer, licence)")
    feeds = []
    for entry in entries:
        try:
            feeds.append(
                Feed(
                    name=str(entry["name"]),
                    url=str(entry["url"]),
                    importer=str(entry["importer"]),
                    licence=str(entry.get("licence", "unknown")),
                    kind="enrichment" if entry.get("kind") == "enrichment" else "advisories",
                    complete=bool(entry.get("complete", True)),
                )
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: feed entry {entry!r} lacks {exc}") from exc
    return feeds


@dataclass
class ImportOutcome:
    importer: str
    result: UpdateResult
    errors: list[RecordError] = field(default_factory=list)


def importer_for(path: Path) -> AdvisoryImporter | EnrichmentImporter:
    for importer in IMPORTERS.values():
        if importer.recognises(path):
            return importer
    raise SourceFormatError(f"{path}: not a format Vigil imports (OSV, Debian, Alpine, Amazon, CSAF, NVD, …)")


def import_path(db: AdvisoryDB, path: Path) -> ImportOutcome:
    """Import one local file or directory, adding to what its importer's source already holds."""
    importer = importer_for(path)
    errors: list[RecordError] = []
    source = SourceInfo(importer.name, str(path.resolve()), importer.licence)
    records = list(importer.read(path, errors))
    if _is_enrichment(importer):
        count = db.apply_enrichment(source, records, errors=len(errors))  # type: ignore[arg-type]
        return ImportOutcome(importer.name, UpdateResult(db.version, importer.name, added=count), errors)
    result = db.apply_source(source, records, complete=False, errors=len(errors))  # type: ignore[arg-type]
    return ImportOutcome(importer.name, result, errors)


def _is_enrichment(importer: AdvisoryImporter | EnrichmentImporter) -> bool:
    return getattr(importer, "kind", "advisories") == "enrichment"
