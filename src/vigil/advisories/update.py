"""`vigil db update`: fetch each feed over HTTP(S), conditionally, resumably, and apply it atomically.

A feed is downloaded to a cache file (resuming a partial download with a Range request when the server
allows it, retrying transient failures), parsed completely, checked, and only then applied to the
database in one transaction. A failed, partial or corrupt download never replaces good data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from vigil.advisories.importer import AdvisoryImporter, EnrichmentImporter, RecordError, SourceFormatError
from vigil.advisories.store import AdvisoryDB, SourceInfo

USER_AGENT = "vigil-advisory-sync/1"
SHRINK_GUARD = 0.5  # a complete feed that suddenly has less than half its records looks truncated


@dataclass(frozen=True, slots=True)
class Feed:
    """A public source: where it is, which importer reads it, under which licence."""

    name: str
    url: str
    importer: str
    licence: str
    kind: Literal["advisories", "enrichment"] = "advisories"
    complete: bool = True  # the download is the source's whole content (withdrawn records disappear)


@dataclass(frozen=True, slots=True)
class FeedResult:
    feed: str
    status: Literal["updated", "unchanged", "not-modified", "failed"]
    detail: str
    version: int | None = None
    changed_keys: int = 0


class DownloadError(Exception):
    """A feed could not be downloaded completely."""


@dataclass(frozen=True, slots=True)
class Fetched:
    path: Path | None  # None: not modified since the validators we sent
    etag: str | None
    last_modified: str | None


class Downloader:
    """Conditional (ETag / If-Modified-Since), resumable (Range / If-Range), retried HTTP downloads."""

    def __init__(
        self, client: httpx.Client, cache_dir: Path, *, retries: int = 3, backoff: float = 0.5
    ) -> None:
        self.client = client
        self.cache_dir = cache_dir
        self.retries = retries
        self.backoff = backoff

    def fetch(self, name: str, url: str, etag: str | None, last_modified: str | None) -> Fetched:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        basename = Path(urlsplit(url).path).name or "download"
        final = self.cache_dir / f"{name}--{basename}"
        part = final.with_name(final.name + ".part")
        state = part.with_name(part.name + ".json")
        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return self._attempt(url, final, part, state, etag, last_modified)
            except (httpx.TransportError, DownloadError) as exc:
                last_error = exc
        raise DownloadError(f"{url}: {last_error} (after {self.retries + 1} attempts)")

    def _attempt(
        self, url: str, final: Path, part: Path, state: Path, etag: str | None, last_modified: str | None
    ) -> Fetched:
        headers = {"User-Agent": USER_AGENT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        have = part.stat().st_size if part.exists() and state.exists() else 0
        partial_validator = json.loads(state.read_text()).get("validator") if have else None
        if have and partial_validator:
            headers["Range"] = f"bytes={have}-"
            headers["If-Range"] = partial_validator
        with self.client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, etag, last_modified)
            if response.status_code >= 500 or response.status_code == 429:
                raise DownloadError(f"server answered {response.status_code}")
            if response.status_code not in (200, 206):
                raise DownloadError(f"server answered {response.status_code}")
            new_etag = response.headers.get("ETag")
            new_last_modified = response.headers.get("Last-Modified")
            resumed = response.status_code == 206
            expected = _expected_length(response, have if resumed else 0)
            state.write_text(json.dumps({"validator": new_etag or new_last_modified}))
            with open(part, "ab" if resumed else "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        size = part.stat().st_size
        if expected is not None and size != expected:
            raise DownloadError(f"incomplete download: {size} of {expected} bytes")
        part.replace(final)
        state.unlink(missing_ok=True)
        return Fetched(final, new_etag, new_last_modified)


def _expected_length(response: httpx.Response, offset: int) -> int | None:
    if response.status_code == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    # a compressed transfer's Content-Length counts the wire bytes, not the file's
    if length is None or response.headers.get("Content-Encoding") not in (None, "identity"):
        return None
    return offset + int(length)


Importers = Mapping[str, AdvisoryImporter | EnrichmentImporter]


def update_feed(db: AdvisoryDB, feed: Feed, downloader: Downloader, importers: Importers) -> FeedResult:
    """Fetch, parse, check and apply one feed; any failure leaves the database as it was."""
    previous = db.source(feed.name)
    try:
        fetched = downloader.fetch(
            feed.name,
            feed.url,
            previous.etag if previous else None,
            previous.last_modified if previous else None,
        )
    except DownloadError as exc:
        return FeedResult(feed.name, "failed", f"download failed, database kept: {exc}")
    if fetched.path is None:
        return FeedResult(feed.name, "not-modified", "not modified since the last update")
    source = SourceInfo(feed.name, feed.url, feed.licence, fetched.etag, fetched.last_modified)
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
    if feed.kind == "enrichment":
        count = db.apply_enrichment(source, records, errors=len(errors))  # type: ignore[arg-type]
        return FeedResult(feed.name, "updated", f"{count} records, {len(errors)} errors", db.version)
    if (
        feed.complete
        and previous
        and previous.records >= 100
        and len(records) < previous.records * SHRINK_GUARD
    ):
        return FeedResult(
            feed.name,
            "failed",
            f"only {len(records)} records where there were {previous.records}: "
            "looks truncated, database kept",
        )
    result = db.apply_source(source, records, complete=feed.complete, errors=len(errors))  # type: ignore[arg-type]
    status: Literal["updated", "unchanged"] = (
        "updated" if result.changed_keys or result.removed else "unchanged"
    )
    detail = (
        f"{result.added} added, {result.changed} changed, {result.removed} removed, "
        f"{result.unchanged} unchanged, {len(errors)} unreadable records"
    )
    return FeedResult(feed.name, status, detail, result.version, len(result.changed_keys))
