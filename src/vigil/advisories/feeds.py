"""The explicit lists of importers and public feeds (STYLE habit 2), and importing a local path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from vigil.advisories.download import DEFAULT_MAX_BYTES, DEFAULT_MAX_INFLATED_BYTES
from vigil.advisories.files import read_bounded
from vigil.advisories.importer import (
    AdvisoryImporter,
    EnrichmentImporter,
    RecordError,
    SourceFormatError,
    Unreadable,
)
from vigil.advisories.importers import alpine, debian, epss, kev, nvd, oracle, osv
from vigil.advisories.importers.alpine import AlpineSecdbImporter
from vigil.advisories.importers.amazon import AmazonUpdateinfoImporter
from vigil.advisories.importers.csaf import CsafImporter
from vigil.advisories.importers.debian import DebianListImporter, DebianTrackerImporter
from vigil.advisories.importers.epss import EpssImporter
from vigil.advisories.importers.kev import KevImporter
from vigil.advisories.importers.nvd import NvdImporter
from vigil.advisories.importers.oracle import OracleOvalImporter
from vigil.advisories.importers.osv import OsvImporter
from vigil.advisories.sources import nvd_api, yum
from vigil.advisories.store import AdvisoryDB, SourceInfo, UpdateResult
from vigil.advisories.support import releases_of
from vigil.advisories.update import LOCATORS, UPDATERS, Feed, Updater

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

NVD_UPDATER = "nvd-api"

# How feeds whose document is found (a yum repository's updateinfo) or fetched their own way (NVD's paged
# API) are reached, by name (`Feed.locate`, `Feed.fetch`)
LOCATORS[yum.LOCATOR] = yum.locate_updateinfo
UPDATERS[NVD_UPDATER] = nvd_api.update_nvd  # its API key from $NVD_API_KEY (a server: from its settings)

# The public feeds `vigil db update` fetches by default.
_DEBIAN = releases_of("Debian")
FEEDS: tuple[Feed, ...] = (
    *(
        Feed(
            f"osv-{e.lower().replace(' ', '-')}",
            osv.all_zip_url(e),
            "osv",
            osv.LICENCES.get(e, osv.LICENCE),
            covers=releases_of(e),
        )
        for e in _OSV_ECOSYSTEMS
    ),
    Feed("debian-tracker", debian.DEFAULT_JSON_URL, "debian-tracker", debian.LICENCE, covers=_DEBIAN),
    Feed("debian-dsa", debian.DEFAULT_DSA_URL, "debian-lists", debian.LICENCE, covers=_DEBIAN),
    Feed("debian-dla", debian.DEFAULT_DLA_URL, "debian-lists", debian.LICENCE, covers=_DEBIAN),
    *(
        Feed(
            f"alpine-{r}-{repo}",
            alpine.secdb_url(r, repo),
            "alpine-secdb",
            alpine.LICENCE,
            covers=(f"alpine:{r.removeprefix('v')}",),
        )
        for r in _ALPINE_RELEASES
        for repo in ("main", "community")
    ),
    *(
        Feed(f"oracle-ol{r}", oracle.release_url(r), "oracle-oval", oracle.LICENCE, covers=(f"ol:{r}",))
        for r in oracle.RELEASES
    ),
    *yum.amazon_feeds(),
    Feed("nvd", nvd.DEFAULT_URL, "nvd", nvd.LICENCE, kind="enrichment", fetch=NVD_UPDATER, covers=("cvss",)),
    Feed("epss", epss.DEFAULT_URL, "epss", epss.LICENCE, kind="enrichment", covers=("epss",)),
    Feed("kev", kev.DEFAULT_URL, "kev", kev.LICENCE, kind="enrichment", covers=("kev",)),
)


MAX_FEEDS_FILE_BYTES = 1 << 20
NOT_A_FORMAT = "not a format Vigil imports (OSV, Debian, Alpine, Amazon, CSAF, NVD, EPSS, KEV)"


class FeedsFileError(ValueError):
    """A feeds file that cannot be used; the message names the file and the entry."""


def feed_updaters(nvd_api_key: str | None = None) -> dict[str, Updater]:
    """The registered updaters, NVD's with this API key (else `$NVD_API_KEY`'s, if set)."""
    if nvd_api_key is None:
        return dict(UPDATERS)
    return {**UPDATERS, NVD_UPDATER: nvd_api.NvdUpdater(nvd_api.NvdOptions(api_key=nvd_api_key))}


def load_feeds(path: Path | None) -> list[Feed]:
    """The built-in feeds, or the ones a YAML file lists (a mirror, a subset, an internal source)."""
    if path is None:
        return list(FEEDS)
    try:
        data: Any = yaml.safe_load(read_bounded(path, MAX_FEEDS_FILE_BYTES))
    except OSError as exc:
        raise FeedsFileError(f"{path}: cannot read the feeds file: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise FeedsFileError(f"{path}: not valid YAML: {problem}{where}") from exc
    except ValueError as exc:
        raise FeedsFileError(str(exc)) from exc
    entries = data.get("feeds") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise FeedsFileError(f"{path}: expected a list of feeds (name, url, importer, licence)")
    feeds = [_feed(path, number, entry) for number, entry in enumerate(entries, start=1)]
    names = [f.name for f in feeds]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise FeedsFileError(f"{path}: feed names listed twice: {', '.join(duplicates)}")
    return feeds


def _feed(path: Path, number: int, entry: Any) -> Feed:
    where = f"{path}: feed {number}"
    if not isinstance(entry, dict):
        raise FeedsFileError(f"{where} is not a mapping of name, url, importer, licence")
    texts = {key: entry.get(key) for key in ("name", "url", "importer", "licence", "kind", "locate", "fetch")}
    for key, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise FeedsFileError(f"{where}: `{key}` is not a string")
    if missing := [key for key in ("name", "url", "importer") if not texts[key]]:
        raise FeedsFileError(f"{where} lacks {', '.join(missing)}")
    if urlsplit(str(texts["url"])).scheme not in ("http", "https"):
        raise FeedsFileError(f"{where}: url {texts['url']!r} is not http(s)")
    if texts["importer"] not in IMPORTERS:
        raise FeedsFileError(f"{where}: no importer named {texts['importer']!r} ({', '.join(IMPORTERS)})")
    kind = texts["kind"] or "advisories"
    if kind not in ("advisories", "enrichment"):
        raise FeedsFileError(f"{where}: kind {kind!r} is neither advisories nor enrichment")
    complete = entry.get("complete", True)
    if not isinstance(complete, bool):
        raise FeedsFileError(f"{where}: `complete` is not true or false")
    covers = entry.get("covers", [])
    if not isinstance(covers, list) or not all(isinstance(c, str) for c in covers):
        raise FeedsFileError(f"{where}: `covers` is not a list of namespaces (debian:12, pypi, …)")
    limits = {key: entry.get(key, default) for key, default in _LIMITS.items()}
    for key, value in limits.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise FeedsFileError(f"{where}: `{key}` is not a positive number of bytes")
    return Feed(
        name=str(texts["name"]),
        url=str(texts["url"]),
        importer=str(texts["importer"]),
        licence=str(texts["licence"] or "unknown"),
        kind="enrichment" if kind == "enrichment" else "advisories",
        complete=complete,
        locate=texts["locate"],
        fetch=texts["fetch"] or "document",
        covers=tuple(covers),
        **limits,
    )


_LIMITS = {"max_bytes": DEFAULT_MAX_BYTES, "max_inflated_bytes": DEFAULT_MAX_INFLATED_BYTES}


@dataclass
class ImportOutcome:
    importer: str
    result: UpdateResult
    errors: list[RecordError] = field(default_factory=list)


def importer_for(path: Path) -> AdvisoryImporter | EnrichmentImporter:
    for importer in IMPORTERS.values():
        if importer.recognises(path):
            return importer
    raise SourceFormatError(f"{path}: {NOT_A_FORMAT}")


def import_path(
    db: AdvisoryDB, path: Path, importer: AdvisoryImporter | EnrichmentImporter | None = None
) -> ImportOutcome:
    """Import one local file or directory as its own source (re-importing the same path replaces it).

    What the import could not read is not deleted: an advisory whose record is unreadable now keeps its
    stored copy, and when unreadable records cannot be told apart nothing stored is removed.
    """
    importer = importer or importer_for(path)
    errors: list[RecordError] = []
    source = SourceInfo(f"{importer.name}:{path.resolve()}", str(path.resolve()), importer.licence)
    records: list[Any] = list(importer.read(path, errors))
    if _is_enrichment(importer):
        count = db.apply_enrichment(source, records, errors=len(errors))
        return ImportOutcome(importer.name, UpdateResult(db.version, importer.name, added=count), errors)
    unreadable = Unreadable.of(errors)
    result = db.apply_source(
        source,
        records,
        complete=True,
        errors=len(errors),
        keep=unreadable.ids,
        keep_missing=unreadable.unidentified,
    )
    return ImportOutcome(importer.name, result, errors)


def _is_enrichment(importer: AdvisoryImporter | EnrichmentImporter) -> bool:
    return getattr(importer, "kind", "advisories") == "enrichment"
