"""`vigil db update`: fetch each feed over HTTP(S), conditionally, resumably, and apply it atomically.

A feed is downloaded to a cache file (see `download`: resumed, retried, bounded in bytes and time),
parsed completely, checked, and only then applied to the database in one transaction. A failed, partial
or corrupt download never replaces good data, and a record the feed no longer lets Vigil read keeps its
stored copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vigil.advisories.download import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_INFLATED_BYTES,
    Downloader,
    DownloadError,
    Limits,
)
from vigil.advisories.importer import (
    AdvisoryImporter,
    EnrichmentImporter,
    RecordError,
    SourceFormatError,
    Unreadable,
)
from vigil.advisories.schema import DatabaseError
from vigil.advisories.store import AdvisoryDB, SourceInfo

SHRINK_GUARD = 0.5  # a complete feed that suddenly has less than half its records looks truncated


@dataclass(frozen=True, slots=True)
class Feed:
    """A public source: where it is, which importer reads it, under which licence, how big it may be."""

    name: str
    url: str
    importer: str
    licence: str
    kind: Literal["advisories", "enrichment"] = "advisories"
    complete: bool = True  # the download is the source's whole content (withdrawn records disappear)
    max_bytes: int = DEFAULT_MAX_BYTES  # bytes on the wire
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES  # bytes once a Content-Encoding is undone
    # where the document is: `url` itself, or found from it by a locator (`LOCATORS`: a yum repository's
    # updateinfo through its mirror list and repomd.xml)
    locate: str | None = None
    # how it is fetched: one document (a conditional, resumable download), or by a source's own updater
    # (`UPDATERS`: NVD's paged, rate-limited API)
    fetch: str = "document"
    covers: tuple[str, ...] = ()  # the OS releases / ecosystems it covers, in `vigil db status` spelling


@dataclass(frozen=True, slots=True)
class FeedResult:
    feed: str
    status: Literal["updated", "unchanged", "not-modified", "failed"]
    detail: str
    version: int | None = None
    changed_keys: int = 0


Importers = Mapping[str, AdvisoryImporter | EnrichmentImporter]


# A locator finds the URL of a feed's document from `feed.url` (DownloadError when it cannot); an updater
# fetches and applies a feed its own way. Each is registered here by name (STYLE habit 2).
Locator = Callable[[Feed, Downloader], str]
Updater = Callable[[AdvisoryDB, Feed, Downloader, Importers], "FeedResult"]
LOCATORS: dict[str, Locator] = {}
UPDATERS: dict[str, Updater] = {}


def update_feed(
    db: AdvisoryDB,
    feed: Feed,
    downloader: Downloader,
    importers: Importers,
    updaters: Mapping[str, Updater] | None = None,
) -> FeedResult:
    """Fetch, parse, check and apply one feed; any failure leaves the database as it was. `updaters`:
    the registered ones (`UPDATERS`) unless a caller configures its own (an API key from settings)."""
    if feed.fetch != "document":
        updater = (UPDATERS if updaters is None else updaters).get(feed.fetch)
        if updater is None:
            return FeedResult(feed.name, "failed", f"no updater named {feed.fetch!r}")
        return updater(db, feed, downloader, importers)
    previous = db.source(feed.name)
    try:
        url = feed.url
        if feed.locate is not None:
            locator = LOCATORS.get(feed.locate)
            if locator is None:
                return FeedResult(feed.name, "failed", f"no locator named {feed.locate!r}")
            url = locator(feed, downloader)
        fetched = downloader.fetch(
            feed.name,
            url,
            previous.etag if previous else None,
            previous.last_modified if previous else None,
            Limits(feed.max_bytes, feed.max_inflated_bytes),
        )
    except (DownloadError, OSError) as exc:
        return FeedResult(feed.name, "failed", f"download failed, database kept: {exc}")
    if fetched.path is None:
        return FeedResult(feed.name, "not-modified", "not modified since the last update")
    source = SourceInfo(feed.name, url, feed.licence, fetched.etag, fetched.last_modified)
    importer = importers.get(feed.importer)
    if importer is None:
        return FeedResult(feed.name, "failed", f"no importer named {feed.importer!r}")
    errors: list[RecordError] = []
    try:
        records = list(importer.read(fetched.path, errors))
    except (SourceFormatError, OSError, ValueError) as exc:
        return FeedResult(feed.name, "failed", f"corrupt download, database kept: {exc}")
    if not records:
        first = f": {errors[0].where}: {errors[0].error}" if errors else ""
        return FeedResult(feed.name, "failed", f"no readable records, database kept{first}")
    try:
        return _apply(db, feed, source, records, errors, previous.records if previous else 0)
    except DatabaseError as exc:
        return FeedResult(feed.name, "failed", f"not applied: {exc}")


def _apply(
    db: AdvisoryDB, feed: Feed, source: SourceInfo, records: list[Any], errors: list[RecordError], before: int
) -> FeedResult:
    if feed.kind == "enrichment":
        count = db.apply_enrichment(source, records, errors=len(errors))
        return FeedResult(feed.name, "updated", f"{count} records, {len(errors)} errors", db.version)
    if feed.complete and before >= 100 and len(records) < before * SHRINK_GUARD:
        return FeedResult(
            feed.name,
            "failed",
            f"only {len(records)} records where there were {before}: looks truncated, database kept",
        )
    unreadable = Unreadable.of(errors)
    result = db.apply_source(
        source,
        records,
        complete=feed.complete,
        errors=len(errors),
        keep=unreadable.ids,
        keep_missing=unreadable.unidentified,
    )
    status: Literal["updated", "unchanged"] = (
        "updated" if result.changed_keys or result.removed else "unchanged"
    )
    detail = (
        f"{result.added} added, {result.changed} changed, {result.removed} removed, "
        f"{result.unchanged} unchanged, {len(errors)} unreadable records"
    )
    if result.kept:
        detail += f"; {result.kept} stored records kept as they were (unreadable in this download)"
    return FeedResult(feed.name, status, detail, result.version, len(result.changed_keys))
