"""An EBS snapshot as a seekable, read-only byte stream, read through the EBS direct APIs (DESIGN §3.4).

`SnapshotBlocks` lists the snapshot's blocks once (`ListSnapshotBlocks`), then serves reads from 512 KiB
blocks fetched with `GetSnapshotBlock`: a block the listing does not name was never written and reads as
zeros without a request; the others go through an LRU cache bounded in bytes. A miss fetches the block and,
when the reads run forward, a read-ahead window in a bounded thread pool: libyal reads from one thread and
waits on each read, so read-ahead is the only way to keep requests in flight.

Every block's SHA256 is checked. Throttling, server errors, connection errors and checksum mismatches are
retried with capped, jittered backoff; an expired block token makes the listing be read again. A block that
keeps failing raises `SnapshotReadError` — and stays recorded (`failure`, `check()`): the image stack turns
read errors into per-file errors, so the scan asks the reader afterwards and fails as a whole rather than
present a partial inventory.

The caller owns the botocore client: give it `max_pool_connections >= concurrency` and botocore's own
retries off (`retries={"total_max_attempts": 1}`), since retries and their counts live here.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from typing import Any

from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.exceptions import (
    HTTPClientError,
    IncompleteReadError,
)

from vigil.fs.image.reader import RawReader

MAX_READ_AHEAD = 32  # blocks (16 MiB): enough to keep 16 requests busy on a sequential read
MAX_BACKOFF_S = 20.0
FIRST_BACKOFF_S = 0.1
LIST_PAGE = 10_000  # the largest MaxResults ListSnapshotBlocks accepts

_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "InternalServerException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_TRANSIENT: tuple[type[BaseException], ...] = (
    BotoConnectionError,
    HTTPClientError,  # connection closed, read timeout, a body cut short while streaming
    IncompleteReadError,
    OSError,
)


class SnapshotReadError(OSError):
    """A snapshot block (or its listing) could not be read: errors past the retries, a wrong checksum,
    access denied. The scan that met it fails with INTERNAL_ERROR and is tried again later."""


class _Transient(Exception):
    """A failed attempt worth another: throttled, a server error, a wrong checksum, a dropped connection."""


class _TokenExpired(Exception):
    """The block token is no longer valid: the listing must be read again."""


@dataclass(frozen=True, slots=True)
class BlockStats:
    """What reading one snapshot cost; kept with the scan's record (sum the volumes of a scan with `+`)."""

    requests: int = 0  # every API call: listing pages and block fetches, retries included
    list_requests: int = 0
    blocks_fetched: int = 0  # blocks received and verified
    bytes_fetched: int = 0
    blocks_listed: int = 0  # blocks holding data, from the listing
    cache_hits: int = 0  # block reads served from the cache (or read-ahead) without waiting on a request
    retries: int = 0
    peak_cache_bytes: int = 0  # the most block bytes held at once (cached and in flight)

    def __add__(self, other: BlockStats) -> BlockStats:
        return BlockStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class _Counters:
    """The live counters behind `BlockStats`, updated from the pool's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values = dict.fromkeys((f.name for f in fields(BlockStats)), 0)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, n in amounts.items():
                self.values[name] += n

    def peak(self, held: int) -> None:
        if held > self.values["peak_cache_bytes"]:
            with self.lock:
                self.values["peak_cache_bytes"] = max(self.values["peak_cache_bytes"], held)

    def snapshot(self) -> BlockStats:
        with self.lock:
            return BlockStats(**self.values)


class SnapshotBlocks(RawReader):
    """One EBS snapshot as a read-only, seekable file object (an `io.RawIOBase`) for `vigil.fs.open_image`.

    The listing is read here; `close()` stops the pool (the caller closes it, after the image).
    """

    def __init__(
        self,
        ebs_client: Any,
        snapshot_id: str,
        *,
        concurrency: int = 16,
        cache_bytes: int = 256 << 20,
        retries: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        name: str | None = None,
    ) -> None:
        self._client = ebs_client
        self.snapshot_id = snapshot_id
        self._retries = retries
        self._sleep = sleep
        self._counters = _Counters()
        self._stopping = threading.Event()
        self._token_lock = threading.Lock()
        self._generation = 0
        self.failure: SnapshotReadError | None = None
        self._tokens: dict[int, str] = {}
        size, self.block_size = self._list()
        super().__init__(size, name or f"ebs:{snapshot_id}")
        self._capacity = cache_bytes // self.block_size  # blocks held at once, cached or in flight
        if self._capacity < 4:
            raise ValueError(f"cache_bytes must hold at least 4 blocks of {self.block_size} bytes")
        self._zeros = bytes(self.block_size)
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._pending: dict[int, Future[bytes]] = {}
        self._last_block = -2
        self._window = 0
        self._hits = 0  # counted by the reading thread alone, without the counters' lock: the hot path
        self._pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix=f"ebs-{snapshot_id}")

    @property
    def size(self) -> int:
        """The volume's size in bytes (VolumeSize GiB)."""
        return self._size

    @property
    def stats(self) -> BlockStats:
        """The counters so far, as a frozen copy."""
        stats = self._counters.snapshot()
        return replace(stats, cache_hits=stats.cache_hits + self._hits)

    def check(self) -> None:
        """Raise the SnapshotReadError a read met, if any (the image stack reports read errors per file)."""
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        if self.closed:
            return
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._cache.clear()
        self._pending.clear()
        super().close()

    # -- reads (the caller's thread) -------------------------------------------------------------------

    def _read_at(self, offset: int, size: int) -> bytes:
        if self.failure is not None:
            raise self.failure  # fail fast: the scan is lost, do not spend requests on it
        bs = self.block_size
        first, last = offset // bs, (offset + size - 1) // bs
        if first == last:  # the hot path: libyal reads a few KiB at a time
            if first != self._last_block:
                self._plan(first, first)
            start = offset - first * bs
            return self._block(first)[start : start + size]
        self._plan(first, last)
        parts: list[bytes] = []
        step = self._capacity // 2  # a huge read is served in parts that fit the bound
        for chunk in range(first, last + 1, step):
            chunk_last = min(last, chunk + step - 1)
            if chunk != first:
                self._fetch_missing(range(chunk, chunk_last + 1))
            parts.extend(self._block(i) for i in range(chunk, chunk_last + 1))
        data = b"".join(parts)
        start = offset - first * bs
        return data[start : start + size]

    def _plan(self, first: int, last: int) -> None:
        """Size the read-ahead from the access pattern, then start every missing block of it and of the read.

        Forward reads (this one starts in or just after the block the previous one ended in) double the
        window up to MAX_READ_AHEAD; a jump elsewhere (a directory, an inode table) drops it to one block.
        """
        sequential = self._last_block <= first <= self._last_block + 2
        self._window = min(max(2 * self._window, 2), MAX_READ_AHEAD) if sequential else 1
        self._last_block = last
        self._harvest()
        needed = range(first, min(last + 1, first + self._capacity // 2))
        self._fetch_missing(needed)
        ahead = min(self._window, self._capacity // 2 - len(self._pending))
        end = min(last + 1 + ahead, -(-self._size // self.block_size))
        wanted = [i for i in range(last + 1, end) if self._wanted(i)]
        self._submit(wanted)

    def _wanted(self, index: int) -> bool:
        return index in self._tokens and index not in self._cache and index not in self._pending

    def _fetch_missing(self, blocks: range) -> None:
        for i in blocks:
            if i in self._cache:
                self._cache.move_to_end(i)  # the read's own blocks are the last to be evicted
        self._submit([i for i in blocks if self._wanted(i)])

    def _submit(self, blocks: list[int]) -> None:
        if not blocks:
            return
        self._evict(len(blocks))
        for i in blocks:
            self._pending[i] = self._pool.submit(self._fetch, i)
        self._counters.peak((len(self._cache) + len(self._pending)) * self.block_size)

    def _evict(self, incoming: int) -> None:
        while self._cache and len(self._cache) + len(self._pending) + incoming > self._capacity:
            self._cache.popitem(last=False)

    def _harvest(self) -> None:
        """Move finished read-ahead into the cache; a read-ahead that failed is fetched again if needed."""
        for i, future in list(self._pending.items()):
            if future.done():
                del self._pending[i]
                if future.exception() is None:
                    self._cache[i] = future.result()

    def _block(self, index: int) -> bytes:
        """One block: cached, listed (waiting for its fetch) or zeros."""
        data = self._cache.get(index)
        if data is not None:
            self._cache.move_to_end(index)
            self._hits += 1
            return data
        future = self._pending.pop(index, None)
        if future is None:
            if index not in self._tokens:
                return self._zeros
            self._submit([index])
            future = self._pending.pop(index)
        elif future.done():
            self._hits += 1
        try:
            data = future.result()
        except SnapshotReadError as exc:
            self.failure = exc
            raise
        self._evict(1)
        self._cache[index] = data
        return data

    # -- requests (the pool's threads) -----------------------------------------------------------------

    def _fetch(self, index: int) -> bytes:
        """One verified block, retried with backoff; SnapshotReadError when it keeps failing."""
        last_error = "no attempt"
        for attempt in range(self._retries + 1):
            if self._stopping.is_set():
                raise SnapshotReadError(f"{self.name}: closed while block {index} was being read")
            if attempt:
                self._counters.add(retries=1)
            generation = self._generation
            token = self._tokens.get(index)
            if token is None:
                raise SnapshotReadError(f"{self.name}: block {index} is no longer in the snapshot's listing")
            try:
                return self._get_block(index, token)
            except _TokenExpired as exc:
                last_error = str(exc)
                self._relist(generation)
                continue  # a fresh token needs no wait
            except _Transient as exc:
                last_error = str(exc)
            if attempt < self._retries:
                self._pause(_backoff(attempt))
        raise SnapshotReadError(
            f"{self.name}: block {index} failed {self._retries + 1} times, the last: {last_error}"
        )

    def _pause(self, seconds: float) -> None:
        if self._sleep is time.sleep:
            self._stopping.wait(seconds)  # the same wait, cut short by close()
        else:
            self._sleep(seconds)

    def _get_block(self, index: int, token: str) -> bytes:
        self._counters.add(requests=1)
        what = f"GetSnapshotBlock {index}"
        try:
            response = self._client.get_snapshot_block(
                SnapshotId=self.snapshot_id, BlockIndex=index, BlockToken=token
            )
            body = response["BlockData"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
        except Exception as exc:  # sorted into transient, expired token and fatal
            raise _classify(exc, what, self.name) from exc
        length = response.get("DataLength")
        if length is not None and length != len(data):
            raise _Transient(f"{what}: {len(data)} bytes received, DataLength says {length}")
        algorithm, checksum = response.get("ChecksumAlgorithm"), response.get("Checksum")
        if algorithm != "SHA256" or not checksum:
            raise SnapshotReadError(
                f"{self.name}: {what}: no SHA256 checksum to verify (algorithm {algorithm!r})"
            )
        if base64.b64encode(hashlib.sha256(data).digest()).decode() != checksum:
            raise _Transient(f"{what}: checksum mismatch")
        if len(data) < self.block_size:
            data += bytes(self.block_size - len(data))
        self._counters.add(blocks_fetched=1, bytes_fetched=len(data))
        return data

    def _list(self) -> tuple[int, int]:
        """Read the whole listing (index → token); the volume's size and block size."""
        tokens: dict[int, str] = {}
        kwargs: dict[str, Any] = {"SnapshotId": self.snapshot_id, "MaxResults": LIST_PAGE}
        while True:
            page = self._list_page(kwargs)
            tokens.update((b["BlockIndex"], b["BlockToken"]) for b in page.get("Blocks", ()))
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        self._tokens = tokens
        with self._counters.lock:
            self._counters.values["blocks_listed"] = len(tokens)
        return int(page["VolumeSize"]) << 30, int(page["BlockSize"])

    def _list_page(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        what = f"ListSnapshotBlocks {self.snapshot_id}"
        last_error = "no attempt"
        for attempt in range(self._retries + 1):
            if attempt:
                self._counters.add(retries=1)
                self._pause(_backoff(attempt - 1))
            self._counters.add(requests=1, list_requests=1)
            try:
                page: dict[str, Any] = self._client.list_snapshot_blocks(**kwargs)
                return page
            except Exception as exc:  # sorted like a block's errors
                error = _classify(exc, what, self.snapshot_id)
                if not isinstance(error, _Transient):
                    raise (
                        error
                        if isinstance(error, SnapshotReadError)
                        else SnapshotReadError(f"{self.snapshot_id}: {what}: {exc}")
                    ) from exc
                last_error = str(error)
        raise SnapshotReadError(f"{self.snapshot_id}: {what} failed {self._retries + 1} times: {last_error}")

    def _relist(self, seen: int) -> None:
        """New block tokens, once for all the fetches that found theirs expired under `seen`."""
        with self._token_lock:
            if self._generation == seen:
                self._list()
                self._generation += 1


def _classify(exc: Exception, what: str, name: str) -> Exception:
    """A failed request as `_Transient`, `_TokenExpired` or a `SnapshotReadError` (not worth retrying)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:  # botocore's ClientError
        code = str(response["Error"].get("Code", ""))
        message = str(response["Error"].get("Message", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{what}: {code or status}: {message}".rstrip(": ")
        if code == "ValidationException" and (
            response.get("Reason") == "INVALID_BLOCK_TOKEN" or "token" in message.lower()
        ):
            return _TokenExpired(text)
        if code in _RETRYABLE_CODES or status in _RETRYABLE_STATUS:
            return _Transient(text)
        return SnapshotReadError(f"{name}: {text}")
    if isinstance(exc, _TRANSIENT):
        return _Transient(f"{what}: {type(exc).__name__}: {exc}")
    return SnapshotReadError(f"{name}: {what}: {type(exc).__name__}: {exc}")


def _backoff(attempt: int) -> float:
    """Exponential backoff from 0.1 s, capped at 20 s, with jitter (half to all of the step)."""
    step = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2**attempt)
    return random.uniform(step / 2, step)
