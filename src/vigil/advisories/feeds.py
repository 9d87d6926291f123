"""The explicit lists of importers and public feeds (STYLE habit 2), and importing a local path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vigil.advisories.importer import AdvisoryImporter, EnrichmentImporter, RecordError, SourceFormatError
from vigil.advisories.importers import alpine, debian, epss, kev, oracle, osv
from vigil.advisories.importers.alpine import AlpineSecdbImporter
from vigil.advisories.importers.amazon import AmazonUpdateinfoImporter
from vigil.advisories.importers.csaf import CsafImporter
from vigil.advisories.importers.debian import DebianListImporter, DebianTrackerImporter
from vigil.advisories.importers.epss import EpssImporter
from vigil.advisories.importers.kev import KevImporter
from vigil.advisories.importers.nvd import NvdImporter
from vigil.advisories.importers.oracle import OracleOvalImporter
from vigil.advisories.importers.osv import OsvImporter
from vigil.advisories.store import AdvisoryDB, SourceInfo, UpdateResult
from vigil.advisories.update import Feed

IMPORTERS: dict[str, AdvisoryImporter | EnrichmentImporter] = {
    importer.name: importer
    for importer in (
        OsvImporter(),
        DebianListImporter(),
        DebianTrackerImporter(),
        AlpineSecdbImporter(),
        AmazonUpdateinfoImporter(),
        OracleOvalImporter(),
        CsafImporter(),
        NvdImporter(),
        EpssImporter(),
        KevImporter(),
    )
}

_OSV_ECOSYSTEMS = (
    "Debian", "Ubuntu", "Alpine", "AlmaLinux", "Rocky Linux", "Red Hat", "SUSE", "openSUSE",
    "PyPI", "npm", "Maven", "Go", "crates.io", "RubyGems", "Packagist", "NuGet",
)  # fmt: skip
_ALPINE_RELEASES = ("v3.18", "v3.19", "v3.20", "v3.21", "v3.22")

# The public feeds `vigil db update` fetches by default. NVD's API is paged and rate-limited and the
# Amazon Linux updateinfo sits in the package repositories: both are imported from files
# (`vigil db import`) or listed in a feeds file that points at a mirror.
FEEDS: tuple[Feed, ...] = (
    *(
        Feed(
            f"osv-{e.lower().replace(' ', '-')}", osv.all_zip_url(e), "osv", osv.LICENCES.get(e, osv.LICENCE)
        )
        for e in _OSV_ECOSYSTEMS
    ),
    Feed("debian-tracker", debian.DEFAULT_JSON_URL, "debian-tracker", debian.LICENCE),
    Feed("debian-dsa", debian.DEFAULT_DSA_URL, "debian-lists", debian.LICENCE),
    Feed("debian-dla", debian.DEFAULT_DLA_URL, "debian-lists", debian.LICENCE),
    *(
        Feed(f"alpine-{r}-{repo}", alpine.secdb_url(r, repo), "alpine-secdb", alpine.LICENCE)
        for r in _ALPINE_RELEASES
        for repo in ("main", "community")
    ),
    *(Feed(f"oracle-ol{r}", oracle.release_url(r), "oracle-oval", oracle.LICENCE) for r in oracle.RELEASES),
    Feed("epss", epss.DEFAULT_URL, "epss", epss.LICENCE, kind="enrichment"),
    Feed("kev", kev.DEFAULT_URL, "kev", kev.LICENCE, kind="enrichment"),
)


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
    """Import one local file or directory as its own source (re-importing the same path replaces it)."""
    importer = importer_for(path)
    errors: list[RecordError] = []
    source = SourceInfo(f"{importer.name}:{path.resolve()}", str(path.resolve()), importer.licence)
    records = list(importer.read(path, errors))
    if _is_enrichment(importer):
        count = db.apply_enrichment(source, records, errors=len(errors))  # type: ignore[arg-type]
        return ImportOutcome(importer.name, UpdateResult(db.version, importer.name, added=count), errors)
    result = db.apply_source(source, records, complete=True, errors=len(errors))  # type: ignore[arg-type]
    return ImportOutcome(importer.name, result, errors)


def _is_enrichment(importer: AdvisoryImporter | EnrichmentImporter) -> bool:
    return getattr(importer, "kind", "advisories") == "enrichment"
