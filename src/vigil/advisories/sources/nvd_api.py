"""NVD's CVE API 2.0 as a feed: CVSS scores loaded by `lastModified` windows, then kept up to date.

The first run reads every CVE by windows of at most 120 days (NVD's limit for a date range) from 1999 to
now, each window paged by `startIndex`; later runs ask only for what changed since the last completed
window. Every page is checked whole (JSON, envelope, counts) and applied in one transaction together with
the checkpoint (the window and the next `startIndex`), so a run that fails, is cut by `max_requests` or is
killed resumes where it stopped, and a bad page changes nothing. Requests keep to NVD's published rate
limits, evenly spaced; 403, 429 and 503 answers are waited out (`Retry-After`, else a backoff) and retried
a bounded number of times.

The checkpoint lives in the feed's source row: `etag` holds it as JSON, `last_modified` the time every
CVE modified before is loaded (for people reading `vigil db status`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeGuard

import httpx

from vigil.advisories.download import (
    USER_AGENT,
    Downloader,
    DownloadError,
    DownloadRefused,
    Limits,
    _Inflater,
)
from vigil.advisories.importer import RecordError, SourceFormatError
from vigil.advisories.importers import jsondoc
from vigil.advisories.importers.enrichment_files import read_limited
from vigil.advisories.model import Cvss
from vigil.advisories.schema import DatabaseError
from vigil.advisories.store import AdvisoryDB, SourceInfo, SourceStatus
from vigil.advisories.update import Feed, FeedResult, Importers

API_KEY_ENV = "NVD_API_KEY"
EPOCH = dt.datetime(1999, 1, 1, tzinfo=dt.UTC)  # NVD's oldest records were published in 1999
MAX_WINDOW = dt.timedelta(days=120)  # NVD refuses a longer date range
PAGE_SIZE = 2000  # NVD's largest `resultsPerPage` for CVEs
MAX_PAGE_BYTES = 64 << 20
# a run starts this much before the last completed window's end: NVD's index may lag its clock a little
OVERLAP = dt.timedelta(minutes=15)
_RETRIED = frozenset({403, 429, 503})  # NVD's rate-limit answers, and "busy"
_ACCEPT_ENCODING = "gzip, deflate"  # what the downloader's inflater reads


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` requests in any `seconds` seconds."""

    requests: int
    seconds: float

    @property
    def interval(self) -> float:
        return self.seconds / self.requests


UNAUTHENTICATED = RateLimit(5, 30.0)  # NVD's published limits, and its advice to wait 6 s between requests
AUTHENTICATED = RateLimit(50, 30.0)


@dataclass(frozen=True, slots=True)
class NvdOptions:
    """How `vigil db update` reads NVD: the API key, and how much one run may do."""

    api_key: str | None = None
    max_requests: int | None = None  # per run (retries included); the next run resumes
    start: dt.datetime = EPOCH
    page_size: int = PAGE_SIZE
    max_page_bytes: int = MAX_PAGE_BYTES
    retries: int = 4  # per page, after the first attempt
    backoff: float = 6.0  # seconds before the first retry without a Retry-After; doubled each time
    max_wait: float = 900.0  # a longer Retry-After fails the run (its progress kept) instead of hanging it

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> NvdOptions:
        """The options with the API key of `$NVD_API_KEY`, if set."""
        return cls(api_key=environ.get(API_KEY_ENV, "").strip() or None)

    @property
    def rate_limit(self) -> RateLimit:
        return AUTHENTICATED if self.api_key else UNAUTHENTICATED


class RateLimiter:
    """Spaces request starts evenly, `limit.interval` apart: never more than the limit in any window."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.limit = limit
        self.clock = clock
        self.sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        """Return when the next request may start."""
        if self._last is not None:
            ready = self._last + self.limit.interval
            while (now := self.clock()) < ready:
                self.sleep(ready - now)
        self._last = self.clock()


@dataclass(frozen=True, slots=True)
class Window:
    """CVEs last modified between `start` and `end` (both included, as NVD reads them)."""

    start: dt.datetime
    end: dt.datetime

    def params(self) -> dict[str, str]:
        return {"lastModStartDate": _iso(self.start), "lastModEndDate": _iso(self.end)}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far the feed has got: everything modified before `synced`, and `index` CVEs into `window`."""

    synced: dt.datetime | None = None
    loaded: bool = False  # the initial load has reached the present once
    window: Window | None = None  # being read; None between windows
    index: int = 0
    total: int | None = None  # the window's `totalResults` when last read

    @classmethod
    def of(cls, source: SourceStatus | None) -> Checkpoint:
        """The checkpoint stored with the feed's source row; a fresh one if none (or an unreadable one)."""
        if source is None or not source.etag:
            return cls()
        try:
            data = json.loads(source.etag)
            window = data.get("window")
            return cls(
                _time(data["synced"]) if data.get("synced") else None,
                bool(data.get("loaded")),
                Window(_time(window[0]), _time(window[1])) if window else None,
                int(data.get("index", 0)),
                int(data["total"]) if data.get("total") is not None else None,
            )
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return cls()

    def to_json(self) -> str:
        window = [_iso(self.window.start), _iso(self.window.end)] if self.window else None
        synced = _iso(self.synced) if self.synced else None
        data = {"synced": synced, "loaded": self.loaded, "window": window, "index": self.index,
                "total": self.total}  # fmt: skip
        return json.dumps(data, separators=(",", ":"))


class NvdError(Exception):
    """NVD could not be read (after the retries allowed): the run stops, its progress kept."""


class _Cut(Exception):
    """The run has made `max_requests` requests."""


@dataclass
class _Progress:
    requests: int = 0
    pages: int = 0
    windows: int = 0
    cves: int = 0
    errors: int = 0


class NvdUpdater:
    """An `update.Updater` for NVD's CVE API (registered as "nvd-api")."""

    def __init__(
        self,
        options: NvdOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.options = options
        self.limiter = RateLimiter(options.rate_limit, clock, sleep)
        self.sleep = sleep
        self.now = now

    def __call__(
        self, db: AdvisoryDB, feed: Feed, downloader: Downloader, importers: Importers
    ) -> FeedResult:
        importer = importers.get(feed.importer)
        if importer is None:
            return FeedResult(feed.name, "failed", f"no importer named {feed.importer!r}")
        run = _Run(self, db, feed, downloader, importer.read)
        try:
            run.sync()
        except _Cut:
            return run.result("updated" if run.progress.pages else "unchanged", "request limit reached")
        except (NvdError, DatabaseError, OSError) as exc:
            return run.result("failed", f"{exc}; progress kept")
        finally:
            run.page_file.unlink(missing_ok=True)
        return run.result("updated" if run.progress.cves else "unchanged", "")


def update_nvd(db: AdvisoryDB, feed: Feed, downloader: Downloader, importers: Importers) -> FeedResult:
    """`vigil db update`'s NVD feed, with the API key of `$NVD_API_KEY` if set."""
    return NvdUpdater(NvdOptions.from_environment())(db, feed, downloader, importers)


_Reader = Callable[[Path, list[RecordError]], Any]


class _Run:
    """One run of the updater: its windows, pages and counts."""

    def __init__(
        self, updater: NvdUpdater, db: AdvisoryDB, feed: Feed, downloader: Downloader, read: _Reader
    ) -> None:
        self.updater = updater
        self.until = updater.now()  # this run reads up to the moment it started
        self.options = updater.options
        self.db = db
        self.feed = feed
        self.downloader = downloader
        self.read = read
        self.checkpoint = Checkpoint.of(db.source(feed.name))
        self.progress = _Progress()
        self.page_file = downloader.cache_dir / f"{feed.name}--page.json"

    def sync(self) -> None:
        """Read every window up to `until`, from the checkpoint on."""
        while True:
            window = self.checkpoint.window or self._next_window()
            self._page(window)
            if self.checkpoint.window is None and window.end >= self.until:
                return

    def _next_window(self) -> Window:
        synced = self.checkpoint.synced
        start = min(synced, self.until) - OVERLAP if synced else self.options.start
        return Window(start, min(start + MAX_WINDOW, self.until))

    def _page(self, window: Window) -> None:
        """Fetch, check and apply the next page of `window`, with the checkpoint after it."""
        index = self.checkpoint.index if self.checkpoint.window else 0
        page, records, replace, errors = self._fetch(window, index)
        count = len(page["vulnerabilities"])
        # A CVE modified while its window is read leaves the window, and those after it move up: when
        # the total has shrunk, read again from as many places back, so that none is skipped (a CVE read
        # twice is harmless).
        previous = self.checkpoint.total if self.checkpoint.window else None
        gone = max(0, previous - page["totalResults"]) if previous is not None else 0
        following = max(0, index - gone) if gone else index + count
        if following < page["totalResults"]:
            checkpoint = dataclasses.replace(
                self.checkpoint, window=window, index=following, total=page["totalResults"]
            )
        else:
            checkpoint = Checkpoint(window.end, self.checkpoint.loaded or window.end >= self.until)
        synced = _iso(checkpoint.synced) if checkpoint.synced else None
        source = SourceInfo(self.feed.name, self.feed.url, self.feed.licence, checkpoint.to_json(), synced)
        self.db.apply_enrichment(source, records, errors=len(errors), replace=replace)
        self.checkpoint = checkpoint
        self.progress.pages += 1
        self.progress.windows += checkpoint.window is None
        self.progress.cves += len(replace)
        self.progress.errors += len(errors)

    def _fetch(
        self, window: Window, index: int
    ) -> tuple[dict[str, Any], list[Cvss], set[str], list[RecordError]]:
        """A checked page: the envelope, its scores, the CVEs they restate, and its unreadable records."""
        size = self.options.page_size
        params = {**window.params(), "startIndex": str(index), "resultsPerPage": str(size)}
        attempts = self.options.retries + 1
        for attempt in range(attempts):
            try:
                page = self._checked(self._get(params), index, size)
                errors: list[RecordError] = []
                records = [r for r in self.read(self.page_file, errors) if isinstance(r, Cvss)]
                return page, records, _restated(page, errors), errors
            except _Retry as exc:
                failure, retry_after = str(exc), exc.retry_after
            except (SourceFormatError, ValueError, OSError) as exc:
                failure, retry_after = f"unreadable page: {exc}", None
            if attempt + 1 < attempts:
                self.updater.sleep(self._wait(retry_after, attempt))
        raise NvdError(f"{_window_text(window)} from {index}: {failure} (after {attempts} attempts)")

    def _wait(self, retry_after: float | None, attempt: int) -> float:
        wait = retry_after if retry_after is not None else self.options.backoff * 2**attempt
        if wait > self.options.max_wait:
            raise NvdError(f"NVD asks to wait {wait:.0f} s, more than {self.options.max_wait:.0f} s")
        return wait

    def _get(self, params: dict[str, str]) -> Path:
        """One request, its body (bounded in bytes and time) written to the page file."""
        if self.options.max_requests is not None and self.progress.requests >= self.options.max_requests:
            raise _Cut
        self.updater.limiter.wait()
        self.progress.requests += 1
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": _ACCEPT_ENCODING}
        if self.options.api_key:
            headers["apiKey"] = self.options.api_key
        downloader = self.downloader
        limits = Limits(self.options.max_page_bytes, self.options.max_page_bytes)
        deadline = downloader.clock() + downloader.timeout
        self.page_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            with downloader.client.stream("GET", self.feed.url, params=params, headers=headers) as response:
                if response.status_code in _RETRIED or response.status_code >= 500:
                    raise _Retry(f"NVD answered {response.status_code}", self._retry_after(response))
                if response.status_code != 200:  # NVD says why in a `message` header
                    why = response.headers.get("message", "")
                    raise NvdError(f"NVD answered {response.status_code} {why}".strip())
                with open(self.page_file, "wb") as out:
                    inflater = _Inflater(response.headers.get("Content-Encoding", ""))
                    downloader._receive(response, inflater, out.write, 0, limits, deadline)
        except DownloadRefused as exc:  # over a limit: it would be again
            raise NvdError(f"page refused: {exc}") from exc
        except (httpx.HTTPError, DownloadError) as exc:
            raise _Retry(f"download failed: {exc}", None) from exc
        return self.page_file

    def _retry_after(self, response: httpx.Response) -> float | None:
        """`Retry-After` in seconds (given as seconds or as an HTTP date); None if absent or unreadable."""
        value = response.headers.get("Retry-After", "").strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, (when - self.updater.now()).total_seconds())

    def _checked(self, path: Path, index: int, size: int) -> dict[str, Any]:
        """The page's envelope, if it is one NVD would send for this request: else SourceFormatError."""
        page = jsondoc.loads(read_limited(path, self.options.max_page_bytes), str(path))
        if not isinstance(page, dict) or page.get("format") != "NVD_CVE":
            raise SourceFormatError("not an NVD CVE API response")
        start, per_page, total = (page.get(k) for k in ("startIndex", "resultsPerPage", "totalResults"))
        items = page.get("vulnerabilities")
        if not (_count(start) and _count(per_page) and _count(total) and isinstance(items, list)):
            raise SourceFormatError("no paging counts or no vulnerabilities list")
        expected = max(0, min(size, total - index))
        # NVD's `resultsPerPage` is the number of results sent; the number asked for is accepted too
        if start != index or len(items) != expected or per_page not in (len(items), size):
            raise SourceFormatError(
                f"inconsistent page: startIndex {start}, resultsPerPage {per_page}, totalResults {total},"
                f" {len(items)} results, for startIndex {index} and resultsPerPage {size}"
            )
        return page

    def result(self, status: Literal["updated", "unchanged", "failed"], why: str) -> FeedResult:
        p, cp = self.progress, self.checkpoint
        detail = (
            f"{p.windows} windows, {p.pages} pages, {p.cves} CVEs updated, {p.errors} unreadable records,"
            f" {p.requests} requests; "
        )
        synced = f"synced to {_iso(cp.synced)}" if cp.synced else "nothing synced yet"
        if cp.window is not None:
            synced += f", resuming at {_window_text(cp.window)} from {cp.index}"
        detail += ("initial load complete, " if cp.loaded else "initial load incomplete, ") + synced
        if why:
            detail += f" ({why})"
        return FeedResult(self.feed.name, status, detail, self.db.version)


class _Retry(Exception):
    """An answer worth trying again: rate limited, busy, or cut off."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _restated(page: dict[str, Any], errors: list[RecordError]) -> set[str]:
    """The CVEs the page lists and could be read: their stored scores are replaced by the page's."""
    unreadable = {e.where.rpartition("#")[2] for e in errors}
    restated = set()
    for i, item in enumerate(page["vulnerabilities"]):
        cve = item.get("cve") if isinstance(item, dict) else None
        if str(i) not in unreadable and isinstance(cve, dict) and isinstance(cve.get("id"), str):
            restated.add(cve["id"])
    return restated


def _count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0


def _window_text(window: Window) -> str:
    return f"window {_iso(window.start)}..{_iso(window.end)}"


def _iso(moment: dt.datetime) -> str:
    """NVD's extended ISO-8601 form, in UTC: 2024-04-01T13:00:00.000+00:00."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def _time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
