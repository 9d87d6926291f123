"""Feed downloads: conditional, resumable, retried, and bounded in bytes and in time.

A server can send an endless body, or a small gzip-encoded one that inflates a thousandfold; so every
download counts the bytes that arrive (`max_bytes`) and the bytes they inflate to (`max_inflated_bytes`),
inflates with a bounded output per step (never a whole inflated chunk in memory at once), and stops at
`timeout` seconds for the whole attempt, not merely per read: a server dripping a byte at a time is cut
off as surely as a silent one.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

USER_AGENT = "vigil-advisory-sync/1"
DEFAULT_MAX_BYTES = 2 << 30  # the largest OSV archive (npm) is a few hundred MB
DEFAULT_MAX_INFLATED_BYTES = 2 << 30
_CHUNK = 1 << 16
_ACCEPT_ENCODING = "gzip, deflate"  # what `_Inflater` reads, nothing it would have to trust a library for


class DownloadError(Exception):
    """A feed could not be downloaded completely."""


class DownloadRefused(DownloadError):
    """The download broke a limit (size, time): trying again would only do it again."""


@dataclass(frozen=True, slots=True)
class Fetched:
    path: Path | None  # None: not modified since the validators we sent
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class Limits:
    """What one feed's download may take: bytes on the wire, bytes once inflated, seconds in all."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES


class Downloader:
    """Conditional (ETag / If-Modified-Since), resumable (Range / If-Range), retried HTTP downloads."""

    def __init__(
        self,
        client: httpx.Client,
        cache_dir: Path,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.cache_dir = cache_dir
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.clock = clock

    def fetch(
        self, name: str, url: str, etag: str | None, last_modified: str | None, limits: Limits = Limits()
    ) -> Fetched:
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
                return self._attempt(url, final, part, state, etag, last_modified, limits)
            except DownloadRefused as exc:
                part.unlink(missing_ok=True)
                state.unlink(missing_ok=True)
                raise DownloadRefused(f"{url}: {exc}") from exc
            except (httpx.HTTPError, DownloadError) as exc:
                last_error = exc
        raise DownloadError(f"{url}: {last_error} (after {self.retries + 1} attempts)")

    def _attempt(
        self,
        url: str,
        final: Path,
        part: Path,
        state: Path,
        etag: str | None,
        last_modified: str | None,
        limits: Limits,
    ) -> Fetched:
        deadline = self.clock() + self.timeout
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": _ACCEPT_ENCODING}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        have = part.stat().st_size if part.exists() and state.exists() else 0
        partial_validator = _validator(state) if have else None
        if have and partial_validator:
            headers["Range"] = f"bytes={have}-"
            headers["If-Range"] = partial_validator
        with self.client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, etag, last_modified)
            if response.status_code not in (200, 206):
                raise DownloadError(f"server answered {response.status_code}")
            inflater = _Inflater(response.headers.get("Content-Encoding", ""))
            resumed = response.status_code == 206
            if resumed and not inflater.identity:
                raise DownloadRefused("a resumed download came content-encoded: cannot be joined")
            offset = have if resumed else 0
            _check_announced(response, offset, inflater.identity, limits)
            new_etag = response.headers.get("ETag")
            new_last_modified = response.headers.get("Last-Modified")
            expected = _expected_length(response, offset) if inflater.identity else None
            if inflater.identity:  # only the identity encoding's bytes can be resumed with a Range
                state.write_text(json.dumps({"validator": new_etag or new_last_modified}))
            else:
                state.unlink(missing_ok=True)
            with open(part, "ab" if resumed else "wb") as out:
                self._receive(response, inflater, out.write, offset, limits, deadline)
        size = part.stat().st_size
        if expected is not None and size != expected:
            raise DownloadError(f"incomplete download: {size} of {expected} bytes")
        part.replace(final)
        state.unlink(missing_ok=True)
        return Fetched(final, new_etag, new_last_modified)

    def _receive(
        self,
        response: httpx.Response,
        inflater: _Inflater,
        write: Callable[[bytes], object],
        offset: int,
        limits: Limits,
        deadline: float,
    ) -> None:
        """The body, inflated and written, within the feed's limits and the attempt's deadline."""
        received, written = offset, offset
        for raw in response.iter_raw():  # as the network delivers: a re-chunker would wait for 64 KiB
            received += len(raw)
            if received > limits.max_bytes:
                raise DownloadRefused(f"more than {limits.max_bytes} bytes sent: over the feed's limit")
            for data in inflater.feed(raw):
                written += len(data)
                if written > limits.max_inflated_bytes:
                    raise DownloadRefused(
                        f"inflates to more than {limits.max_inflated_bytes} bytes: over the feed's limit"
                    )
                write(data)
            if self.clock() > deadline:
                raise DownloadError(f"the download took longer than {self.timeout:g} s")
        inflater.finish()


def _validator(state: Path) -> str | None:
    try:
        found = json.loads(state.read_text()).get("validator")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def _check_announced(response: httpx.Response, offset: int, identity: bool, limits: Limits) -> None:
    """Refuse at once a body whose announced length is already over the limit."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and offset + int(length) > (
        min(limits.max_bytes, limits.max_inflated_bytes) if identity else limits.max_bytes
    ):
        raise DownloadRefused(f"the server announces {offset + int(length)} bytes: over the feed's limit")


def _expected_length(response: httpx.Response, offset: int) -> int | None:
    if response.status_code == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length", "")
    return offset + int(length) if length.isdigit() else None


class _Inflater:
    """Undoes a Content-Encoding (identity, gzip, deflate) with at most `_CHUNK` bytes out per step."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding.strip().lower() or "identity"
        self.identity = self.encoding == "identity"
        self._zlib = zlib.decompressobj()
        if self.encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self.encoding != "deflate" and not self.identity:
            raise DownloadRefused(f"unsupported Content-Encoding {encoding!r}")
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.identity:
            yield data
            return
        try:
            yield from self._inflate(data)
        except zlib.error as exc:
            raise DownloadError(f"damaged {self.encoding} data: {exc}") from exc

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        if not self._started and self.encoding == "deflate" and not _zlib_header(data):
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send it
        self._started = True
        pending = data
        while not self._zlib.eof:
            out = self._zlib.decompress(pending, _CHUNK)
            pending = self._zlib.unconsumed_tail
            if out:
                yield out
            if not pending and len(out) < _CHUNK:
                return

    def finish(self) -> None:
        if not self.identity and not self._zlib.eof:
            raise DownloadError(f"truncated {self.encoding} data")


def _zlib_header(data: bytes) -> bool:
    """Whether `data` starts with a zlib header (RFC 1950), which "deflate" should but need not have."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
