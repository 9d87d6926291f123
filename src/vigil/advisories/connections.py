"""The SQLite connections behind one `AdvisoryDB`: readers for many threads, one writer at a time.

Readers: a pool with a connection per concurrent reader (an sqlite3 connection must not run two
statements of two threads at once), and a watcher whose `PRAGMA data_version` changes when any other
connection, of this process or another, commits. The pool's generation moves on then, and the caches
tied to it drop what they hold; the check costs one statement and is made at most every
`refresh_interval` seconds, so the matcher's hot path pays a clock read.

Writer: one connection; this process's threads take turns (a lock), other processes' writers are waited
for up to `lock_timeout` seconds (SQLite's busy timeout); then DatabaseBusy, with nothing changed.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from vigil.advisories.schema import DatabaseBusy, explain

CACHE_SIZE = -65536  # KiB of page cache per connection: an import's index pages stay in memory
JOURNAL_LIMIT = 64 << 20  # the WAL shrinks back to this after a checkpoint (a bundle fills it whole)


def file_uri(path: Path, mode: str) -> str:
    """An SQLite URI for `path` (any character in it quoted) opened in `mode` (ro, rwc)."""
    return f"file:{quote(str(path.absolute()))}?mode={mode}"


class Generational(Protocol):
    """A cache of values read at one generation (`GenerationLru`)."""

    def advance(self, generation: int) -> None: ...


class Readers:
    """Read connections for any number of threads, and the generation of the file they read."""

    def __init__(
        self,
        path: Path,
        *,
        refresh_interval: float,
        clock: Callable[[], float],
        caches: Sequence[Generational],
    ) -> None:
        self.path = path
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._caches = caches
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._watcher = self._connect()
        self._data_version = self._read_data_version()
        self._checked_at = clock()
        self._generation = 0

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                file_uri(self.path, "ro"), uri=True, check_same_thread=False, isolation_level=None
            )
            db.execute("PRAGMA trusted_schema=OFF")
            db.execute(f"PRAGMA cache_size={CACHE_SIZE}")
        except sqlite3.Error as exc:
            raise explain(exc, self.path) from exc
        return db

    @property
    def watcher(self) -> sqlite3.Connection:
        """The connection that watches for commits (also fit for one quick read while opening)."""
        return self._watcher

    @contextmanager
    def borrow(self) -> Iterator[sqlite3.Connection]:
        """A connection of this thread's own for one read; sqlite3 errors become one clear DatabaseError."""
        try:
            db = self._idle.get_nowait()
        except queue.Empty:
            db = self._connect()
            with self._lock:
                self._connections.append(db)
        try:
            yield db
        except sqlite3.Error as exc:
            raise explain(exc, self.path) from exc
        finally:
            self._idle.put(db)

    def generation(self, *, now: bool = False) -> int:
        """The generation of what is read, moved on (and the caches emptied) when anyone committed since."""
        moment = self._clock()
        if not now and moment - self._checked_at < self._refresh_interval:
            return self._generation  # the hot path: no lock, no statement
        with self._lock:
            if now or moment - self._checked_at >= self._refresh_interval:
                self._checked_at = moment
                data_version = self._read_data_version()
                if data_version != self._data_version:
                    self._data_version = data_version
                    self._generation += 1
                    for cache in self._caches:
                        cache.advance(self._generation)
            return self._generation

    def _read_data_version(self) -> int:
        try:
            return int(self._watcher.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise explain(exc, self.path) from exc

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in (*connections, self._watcher):
            connection.close()


class Writer:
    """The one writing connection of an `AdvisoryDB`."""

    def __init__(self, path: Path, lock_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._lock = threading.RLock()  # `AdvisoryDB.replace_all` holds it around its own transaction
        try:
            self.connection = sqlite3.connect(
                file_uri(path, "rwc"),
                uri=True,
                timeout=lock_timeout,
                check_same_thread=False,
                isolation_level=None,  # autocommit: writes happen only inside `transaction`
            )
        except sqlite3.Error as exc:
            raise explain(exc, path) from exc
        try:
            self.connection.execute("PRAGMA trusted_schema=OFF")
            self.connection.execute(f"PRAGMA cache_size={CACHE_SIZE}")
            self.connection.execute(f"PRAGMA journal_size_limit={JOURNAL_LIMIT}")
        except sqlite3.Error as exc:
            self.connection.close()
            raise explain(exc, path) from exc

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, this process's other writers kept out for a bounded time."""
        if not self._lock.acquire(timeout=self.lock_timeout):
            raise self._busy()
        try:
            yield self.connection
        finally:
            self._lock.release()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any error: an update is all or nothing."""
        with self.locked() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                raise (self._busy() if busy else explain(exc, self.path)) from exc
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise explain(exc, self.path) from exc

    def _busy(self) -> DatabaseBusy:
        return DatabaseBusy(
            f"{self.path}: another writer held the advisory database for more than "
            f"{self.lock_timeout:g} s; nothing was changed"
        )

    def close(self) -> None:
        self.connection.close()
