"""The versioned local advisory database: one SQLite file, read-mostly, that every worker reads locally.

Why plain sqlite3 and not the fleet store's SQLAlchemy: this is a file format shipped to air-gapped
sites as a bundle and read on the matcher's hot path; a handful of hand-written statements on indexed
tables is both the fastest and the easiest to reason about.

Every update (an import of one source) is one transaction and produces a new database version with the
set of (ecosystem, namespace, package) keys whose advisories changed: the input that drives re-evaluating
only the inventories that hold those packages.

One `AdvisoryDB` is shared by the threads of a server: each read borrows a connection of its own from a
pool, writes are serialized, and the decoded-row caches belong to one generation of the file. Another
process's commit (`vigil db import`, `db update`, a bundle) is noticed through SQLite's `data_version`,
checked at most every `refresh_interval` seconds, and drops the caches: no reopening needed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from vigil.advisories.cache import GenerationLru
from vigil.advisories.connections import Readers, Writer, file_uri
from vigil.advisories.model import Advisory, AffectedPackage, Cvss, Epss, KnownExploited
from vigil.advisories.namespaces import package_key
from vigil.advisories.schema import (
    SCHEMA,
    SCHEMA_VERSION,
    TABLES,
    DatabaseBusy,
    DatabaseError,
    check_file,
    check_schema,
    explain,
    foreign_objects,
)

LOOKUP_CACHE_SIZE = 100_000
ADVISORY_CACHE_SIZE = 50_000
DB_ENV = "VIGIL_DB"
LOCK_TIMEOUT = 600.0  # a writer waits this long for another to finish (a whole-feed import takes minutes)
REFRESH_INTERVAL = 1.0  # a reader looks for other processes' commits at most this often (seconds)

__all__ = [
    "SCHEMA_VERSION",
    "AdvisoryDB",
    "Candidate",
    "ChangeKey",
    "DatabaseBusy",
    "DatabaseError",
    "SourceInfo",
    "SourceStatus",
    "UpdateResult",
    "default_db_path",
]


def default_db_path() -> Path:
    """`$VIGIL_DB`, else `$XDG_DATA_HOME/vigil/advisories.db` (~/.local/share/vigil/advisories.db)."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "vigil" / "advisories.db"


@dataclass(frozen=True, slots=True, order=True)
class ChangeKey:
    """An advisory change for one package in one namespace: who holds it must be re-evaluated."""

    ecosystem: str
    namespace: str
    package: str


@dataclass
class UpdateResult:
    """What one update did; `kept`: stored advisories left as they were (their records were unreadable)."""

    version: int
    source: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    kept: int = 0
    changed_keys: set[ChangeKey] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A feed as the database records it (where it came from, its licence, its HTTP validators)."""

    name: str
    url: str | None = None
    licence: str | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class SourceStatus:
    name: str
    url: str | None
    licence: str | None
    updated_at: str | None
    records: int
    errors: int
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """An affected-package entry found for one package lookup."""

    source: str
    advisory_id: str
    affected: AffectedPackage


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:32]


class AdvisoryDB:
    """The advisory database at `path` (created on first write), safe to share between threads."""

    def __init__(
        self,
        path: Path | str,
        *,
        readonly: bool = False,
        lock_timeout: float = LOCK_TIMEOUT,
        refresh_interval: float = REFRESH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._writing: Writer | None = None
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(
                    f"{self.path}: no advisory database (run `vigil db import` or `update`)"
                )
            check_file(self.path)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                check_file(self.path)
            self._writing = Writer(self.path, lock_timeout)
            self._create_schema()
        # decoded rows, so that re-matching (a new inventory, the same packages) costs no JSON parsing
        self._advisory_cache: GenerationLru[tuple[str, str], Advisory] = GenerationLru(ADVISORY_CACHE_SIZE)
        self._lookup_cache: GenerationLru[tuple[str, str], list[Candidate]] = GenerationLru(LOOKUP_CACHE_SIZE)
        self._enrichment_cache: GenerationLru[str, tuple[list[Cvss], Epss | None, KnownExploited | None]] = (
            GenerationLru(ADVISORY_CACHE_SIZE)
        )
        caches = (self._advisory_cache, self._lookup_cache, self._enrichment_cache)
        try:
            self._readers = Readers(self.path, refresh_interval=refresh_interval, clock=clock, caches=caches)
            check_schema(self._readers.watcher, self.path)
        except DatabaseError:
            if self._writing is not None:
                self._writing.close()
            raise

    def close(self) -> None:
        self._readers.close()
        if self._writing is not None:
            self._writing.close()

    def __enter__(self) -> AdvisoryDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_schema(self) -> None:
        """Vigil's schema in a new (or empty) file; another program's database is left for the check."""
        db = self._writer().connection
        try:
            (objects,) = db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if objects:
                return
            db.execute("PRAGMA journal_mode=WAL")
            with self._transaction():
                for statement in SCHEMA.split(";"):
                    db.execute(statement)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except (sqlite3.Error, DatabaseError) as exc:
            db.close()
            if isinstance(exc, DatabaseError):
                raise
            raise explain(exc, self.path) from exc

    def _writer(self) -> Writer:
        if self._writing is None:
            raise DatabaseError(f"{self.path}: opened read-only")
        return self._writing

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._writer().transaction()

    def _reading(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._readers.borrow()

    def _current_generation(self, *, now: bool = False) -> int:
        return self._readers.generation(now=now)

    # -- versions ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Take in other processes' commits now, not at the next `refresh_interval`: what is read next
        (lookups included) is at least as new as the `version` read after this."""
        self._current_generation(now=True)

    @property
    def version(self) -> int:
        with self._reading() as db:
            return _max_version(db)

    def changed_keys(self, since: int) -> set[ChangeKey]:
        """Every key changed by the updates after version `since`."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT DISTINCT ecosystem, namespace, package FROM changes WHERE version > ?", (since,)
            ).fetchall()
        return {ChangeKey(*row) for row in rows}

    def _new_version(self, db: sqlite3.Connection, result: UpdateResult) -> None:
        cur = db.execute(
            "INSERT INTO versions (created_at, source, added, changed, removed, keys)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (_now(), result.source, result.added, result.changed, result.removed, len(result.changed_keys)),
        )
        result.version = int(cur.lastrowid or 0)
        db.executemany(
            "INSERT INTO changes VALUES (?, ?, ?, ?)",
            ((result.version, k.ecosystem, k.namespace, k.package) for k in sorted(result.changed_keys)),
        )

    # -- writing ----------------------------------------------------------------------------------
    def apply_source(
        self,
        source: SourceInfo,
        advisories: Iterable[Advisory],
        *,
        complete: bool,
        errors: int = 0,
        keep: Collection[str] = (),
        keep_missing: bool = False,
    ) -> UpdateResult:
        """Store one source's advisories in one transaction and return the new version's changes.

        `complete`: the advisories are the source's whole content, so stored ones not among them were
        withdrawn upstream and are removed. Otherwise they are added to or replace what is stored.
        `keep`: ids whose records this import could not read: their stored copies stay as they are.
        `keep_missing`: some unreadable records have no known id, so nothing missing is removed.
        """
        result = UpdateResult(0, source.name)
        with self._transaction() as db:
            seen: set[str] = set()
            known = self._digests(db, source.name) if complete else None
            for advisory in advisories:
                if advisory.id in seen:
                    continue  # a source listing one record twice: the first one wins
                seen.add(advisory.id)
                body = json.dumps(advisory.to_json(), sort_keys=True, separators=(",", ":"))
                digest = _digest(body)
                old = (
                    known.get(advisory.id) if known is not None else _digest_of(db, source.name, advisory.id)
                )
                if old == digest:
                    result.unchanged += 1
                    continue
                if old is not None and advisory.id in keep:
                    result.kept += 1  # read only in part this time: the whole stored copy is better
                    continue
                if old is None:
                    result.added += 1
                else:
                    result.changed += 1
                    result.changed_keys |= _delete(db, source.name, advisory.id)
                self._insert(db, source.name, advisory, body, digest)
                result.changed_keys |= _keys(advisory.affected)
            for gone in sorted(known.keys() - seen) if known is not None else ():
                if keep_missing or gone in keep:
                    result.kept += 1
                    continue
                result.removed += 1
                result.changed_keys |= _delete(db, source.name, gone)
            self._record_source(db, source, errors)
            if result.added or result.changed or result.removed:
                self._new_version(db, result)
            else:
                result.version = _max_version(db)
        self._current_generation(now=True)
        return result

    def apply_enrichment(
        self,
        source: SourceInfo,
        records: Iterable[Cvss | Epss | KnownExploited],
        *,
        errors: int = 0,
        replace: Collection[str] | None = None,
    ) -> int:
        """Store scores and exploit data (replacing the same CVE's previous values); returns the count.

        With `replace` (an incremental update, such as an NVD page) the CVSS scores of the CVEs it names are
        all removed first, in the same transaction: the page restates each CVE it lists whole, and a score it
        no longer lists must go; the source's record count is then what it had plus what this changed.
        """
        count = 0
        with self._transaction() as db:
            if replace is not None:
                stored = db.execute("SELECT records FROM sources WHERE name = ?", (source.name,)).fetchone()
                rows_before = int(db.execute("SELECT count(*) FROM cvss").fetchone()[0])
            db.executemany("DELETE FROM cvss WHERE cve = ?", ((cve,) for cve in replace or ()))
            for record in records:
                count += 1
                if isinstance(record, Cvss):
                    db.execute(
                        "INSERT OR REPLACE INTO cvss VALUES (?, ?, ?, ?, ?)",
                        (record.cve, record.version, record.vector, record.base_score, record.source),
                    )
                elif isinstance(record, Epss):
                    db.execute(
                        "INSERT OR REPLACE INTO epss VALUES (?, ?, ?, ?)",
                        (record.cve, record.score, record.percentile, record.date),
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO kev VALUES (?, ?, ?, ?, ?)",
                        (record.cve, record.date_added, record.due_date, record.ransomware, record.name),
                    )
            if replace is not None:
                rows_after = int(db.execute("SELECT count(*) FROM cvss").fetchone()[0])
                count = (int(stored[0]) if stored else 0) + rows_after - rows_before
            self._record_source(db, source, errors, count=count)
        self._current_generation(now=True)
        return count

    def replace_all(
        self, other: Path, meta: Mapping[str, str], check: Callable[[int, str | None], None]
    ) -> None:
        """Replace every row with those of the Vigil database file `other`, in one transaction.

        The rows are copied into this file's own schema: nothing of `other`'s schema (a trigger, a view)
        can reach this database, which keeps its inode, mode, WAL and readers. `check(version,
        bundle_created_at)` sees this database's version and the creation time of the bundle installed
        last (None if none was) once the write lock is held, and may refuse by raising.
        """
        source = f"{file_uri(other, 'ro')}&immutable=1"
        with self._writer().locked() as db:  # no other thread's transaction while `incoming` is attached
            db.execute("ATTACH DATABASE ? AS incoming", (source,))
            try:
                if foreign := foreign_objects(db, "incoming"):
                    raise DatabaseError(f"{other}: not Vigil's schema: {'; '.join(foreign)}")
                with self._transaction():
                    check(_max_version(db), _meta(db, "bundle_created_at"))
                    for table, columns in TABLES.items():
                        names = ", ".join(columns)
                        db.execute(f"DELETE FROM main.{table}")
                        db.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM incoming.{table}")
                    db.executemany("INSERT OR REPLACE INTO main.meta VALUES (?, ?)", sorted(meta.items()))
            except sqlite3.Error as exc:
                raise explain(exc, other) from exc
            finally:
                db.execute("DETACH DATABASE incoming")
        self._current_generation(now=True)

    def _digests(self, db: sqlite3.Connection, source: str) -> dict[str, str]:
        rows = db.execute("SELECT id, digest FROM advisories WHERE source = ?", (source,))
        return dict(rows)

    def _insert(
        self, db: sqlite3.Connection, source: str, advisory: Advisory, body: str, digest: str
    ) -> None:
        db.execute(
            "INSERT OR REPLACE INTO advisories VALUES (?, ?, ?, ?, ?)",
            (source, advisory.id, digest, advisory.modified, body),
        )
        db.executemany(
            "INSERT INTO affected VALUES (?, ?, ?, ?, ?, ?)",
            (
                (a.namespace, package_key(a.namespace, a.package), a.ecosystem, source, advisory.id,
                 json.dumps(a.to_json(), separators=(",", ":")))
                for a in advisory.affected
            ),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO aliases VALUES (?, ?, ?)",
            ((alias, source, advisory.id) for alias in {advisory.id, *advisory.aliases}),
        )

    def _record_source(
        self, db: sqlite3.Connection, source: SourceInfo, errors: int, count: int | None = None
    ) -> None:
        if count is None:  # an advisory source: its advisories
            row = db.execute("SELECT count(*) FROM advisories WHERE source = ?", (source.name,))
            count = int(row.fetchone()[0])
        db.execute(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                source.name,
                source.url,
                source.licence,
                source.etag,
                source.last_modified,
                _now(),
                count,
                errors,
            ),
        )

    # -- reading ----------------------------------------------------------------------------------
    def lookup(self, namespace: str, package: str) -> list[Candidate]:
        """Every affected-package entry for one package in one namespace (an index lookup, cached)."""
        key = (namespace, package_key(namespace, package))
        generation = self._current_generation()
        cached = self._lookup_cache.get(key)
        if cached is None:
            with self._reading() as db:
                rows = db.execute(
                    "SELECT source, advisory_id, body FROM affected WHERE namespace = ? AND package = ?", key
                ).fetchall()
            cached = [Candidate(s, i, AffectedPackage.from_json(json.loads(b))) for s, i, b in rows]
            self._lookup_cache.put(key, cached, generation)
        return cached

    def advisory(self, source: str, advisory_id: str) -> Advisory:
        key = (source, advisory_id)
        generation = self._current_generation()
        cached = self._advisory_cache.get(key)
        if cached is None:
            with self._reading() as db:
                row = db.execute(
                    "SELECT body FROM advisories WHERE source = ? AND id = ?", (source, advisory_id)
                ).fetchone()
            if row is None:
                raise KeyError(f"{source}/{advisory_id}: no such advisory")
            cached = Advisory.from_json(json.loads(row[0]))
            self._advisory_cache.put(key, cached, generation)
        return cached

    def advisories_with_alias(self, alias: str) -> list[Advisory]:
        with self._reading() as db:
            rows = db.execute("SELECT source, advisory_id FROM aliases WHERE alias = ?", (alias,)).fetchall()
        return [self.advisory(s, i) for s, i in rows]

    def _enrichment(self, cve: str) -> tuple[list[Cvss], Epss | None, KnownExploited | None]:
        """A CVE's scores and exploit data, read once and kept (three indexed reads)."""
        generation = self._current_generation()
        cached = self._enrichment_cache.get(cve)
        if cached is None:
            with self._reading() as db:
                scores = db.execute(
                    "SELECT cve, version, vector, score, source FROM cvss WHERE cve = ?", (cve,)
                ).fetchall()
                epss = db.execute(
                    "SELECT cve, score, percentile, date FROM epss WHERE cve = ?", (cve,)
                ).fetchone()
                kev = db.execute(
                    "SELECT cve, date_added, due_date, ransomware, name FROM kev WHERE cve = ?", (cve,)
                ).fetchone()
            cached = (
                [Cvss(*r) for r in scores],
                Epss(*epss) if epss else None,
                KnownExploited(*kev) if kev else None,
            )
            self._enrichment_cache.put(cve, cached, generation)
        return cached

    def cvss(self, cve: str) -> list[Cvss]:
        return self._enrichment(cve)[0]

    def epss(self, cve: str) -> Epss | None:
        return self._enrichment(cve)[1]

    def kev(self, cve: str) -> KnownExploited | None:
        return self._enrichment(cve)[2]

    def sources(self) -> list[SourceStatus]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT name, url, licence, updated_at, records, errors, etag, last_modified"
                " FROM sources ORDER BY name"
            ).fetchall()
        return [SourceStatus(*row) for row in rows]

    def source(self, name: str) -> SourceStatus | None:
        return next((s for s in self.sources() if s.name == name), None)

    def namespace_entries(self) -> dict[str, int]:
        """Affected-package entries per namespace (what each OS release and ecosystem is covered by)."""
        with self._reading() as db:
            rows = db.execute("SELECT namespace, count(*) FROM affected GROUP BY namespace").fetchall()
        return {str(namespace): int(count) for namespace, count in rows}

    def covers(self, namespace: str) -> bool:
        """Whether any advisory applies in this namespace (one index lookup)."""
        with self._reading() as db:
            return (
                db.execute("SELECT 1 FROM affected WHERE namespace = ? LIMIT 1", (namespace,)).fetchone()
                is not None
            )

    def counts(self) -> dict[str, int]:
        with self._reading() as db:
            return {
                table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in ("advisories", "affected", "cvss", "epss", "kev")
            }

    def iter_advisories(self, source: str | None = None) -> Iterator[Advisory]:
        query = "SELECT body FROM advisories" + (" WHERE source = ?" if source else "")
        with self._reading() as db:
            cursor = db.execute(query, (source,) if source else ())
            try:
                for (body,) in cursor:
                    yield Advisory.from_json(json.loads(body))
            finally:
                cursor.close()

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the whole database (for bundles)."""
        with self._reading() as db:
            db.execute("VACUUM INTO ?", (str(target),))


def _max_version(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT max(version) FROM versions").fetchone()
    return int(row[0] or 0)


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _digest_of(db: sqlite3.Connection, source: str, advisory_id: str) -> str | None:
    row = db.execute(
        "SELECT digest FROM advisories WHERE source = ? AND id = ?", (source, advisory_id)
    ).fetchone()
    return None if row is None else str(row[0])


def _delete(db: sqlite3.Connection, source: str, advisory_id: str) -> set[ChangeKey]:
    rows = db.execute(
        "SELECT ecosystem, namespace, package FROM affected WHERE source = ? AND advisory_id = ?",
        (source, advisory_id),
    ).fetchall()
    for table, column in (("affected", "advisory_id"), ("aliases", "advisory_id"), ("advisories", "id")):
        db.execute(f"DELETE FROM {table} WHERE source = ? AND {column} = ?", (source, advisory_id))
    return {ChangeKey(*row) for row in rows}


def _keys(affected: Iterable[AffectedPackage]) -> set[ChangeKey]:
    return {ChangeKey(a.ecosystem, a.namespace, package_key(a.namespace, a.package)) for a in affected}
