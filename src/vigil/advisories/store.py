"""The versioned local advisory database: one SQLite file, read-mostly, that every worker reads locally.

Why plain sqlite3 and not the fleet store's SQLAlchemy: this is a file format shipped to air-gapped
sites as a bundle and read on the matcher's hot path; a handful of hand-written statements on indexed
tables is both the fastest and the easiest to reason about.

Every update (an import of one source) is one transaction and produces a new database version with the
set of (ecosystem, namespace, package) keys whose advisories changed: the input that drives re-evaluating
only the inventories that hold those packages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from vigil.advisories.model import Advisory, AffectedPackage, Cvss, Epss, KnownExploited
from vigil.advisories.namespaces import package_key

SCHEMA_VERSION = 1
LOOKUP_CACHE_SIZE = 100_000
ADVISORY_CACHE_SIZE = 50_000
DB_ENV = "VIGIL_DB"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY, url TEXT, licence TEXT, etag TEXT, last_modified TEXT,
    updated_at TEXT, records INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS advisories (
    source TEXT NOT NULL, id TEXT NOT NULL, digest TEXT NOT NULL, modified TEXT, body TEXT NOT NULL,
    PRIMARY KEY (source, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS affected (
    namespace TEXT NOT NULL, package TEXT NOT NULL, ecosystem TEXT NOT NULL,
    source TEXT NOT NULL, advisory_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_by_package ON affected (namespace, package);
CREATE INDEX IF NOT EXISTS affected_by_advisory ON affected (source, advisory_id);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT NOT NULL, source TEXT NOT NULL, advisory_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS aliases_by_alias ON aliases (alias);
CREATE INDEX IF NOT EXISTS aliases_by_advisory ON aliases (source, advisory_id);
CREATE TABLE IF NOT EXISTS cvss (
    cve TEXT NOT NULL, version TEXT NOT NULL, vector TEXT NOT NULL, score REAL NOT NULL, source TEXT NOT NULL,
    PRIMARY KEY (cve, version, source)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epss (
    cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL NOT NULL, date TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kev (
    cve TEXT PRIMARY KEY, date_added TEXT NOT NULL, due_date TEXT, ransomware TEXT, name TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    version INTEGER PRIMARY KEY, created_at TEXT NOT NULL, source TEXT NOT NULL,
    added INTEGER NOT NULL, changed INTEGER NOT NULL, removed INTEGER NOT NULL, keys INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    version INTEGER NOT NULL, ecosystem TEXT NOT NULL, namespace TEXT NOT NULL, package TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_version ON changes (version);
"""


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
    """What one update did."""

    version: int
    source: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
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
    """The advisory database at `path` (created on first write)."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(
                    f"{self.path}: no advisory database (run `vigil db import` or `update`)"
                )
            self._db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode: writes happen only inside the explicit transactions of `_transaction`
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        self._db.execute("PRAGMA cache_size=-65536")
        # decoded rows, so that re-matching (a new inventory, the same packages) costs no JSON parsing
        self._advisory_cache: _Lru[tuple[str, str], Advisory] = _Lru(ADVISORY_CACHE_SIZE)
        self._lookup_cache: _Lru[tuple[str, str], list[Candidate]] = _Lru(LOOKUP_CACHE_SIZE)
        self._enrichment_cache: _Lru[str, tuple[list[Cvss], Epss | None, KnownExploited | None]] = _Lru(
            ADVISORY_CACHE_SIZE
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AdvisoryDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- versions ---------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        row = self._db.execute("SELECT max(version) FROM versions").fetchone()
        return int(row[0] or 0)

    def changed_keys(self, since: int) -> set[ChangeKey]:
        """Every key changed by the updates after version `since`."""
        rows = self._db.execute(
            "SELECT DISTINCT ecosystem, namespace, package FROM changes WHERE version > ?", (since,)
        )
        return {ChangeKey(*row) for row in rows}

    def _new_version(self, result: UpdateResult) -> None:
        cur = self._db.execute(
            "INSERT INTO versions (created_at, source, added, changed, removed, keys)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (_now(), result.source, result.added, result.changed, result.removed, len(result.changed_keys)),
        )
        result.version = int(cur.lastrowid or 0)
        self._db.executemany(
            "INSERT INTO changes VALUES (?, ?, ?, ?)",
            ((result.version, k.ecosystem, k.namespace, k.package) for k in sorted(result.changed_keys)),
        )

    # -- writing ----------------------------------------------------------------------------------
    def apply_source(
        self, source: SourceInfo, advisories: Iterable[Advisory], *, complete: bool, errors: int = 0
    ) -> UpdateResult:
        """Store one source's advisories in one transaction and return the new version's changes.

        `complete`: the advisories are the source's whole content, so stored ones not among them were
        withdrawn upstream and are removed. Otherwise they are added to or replace what is stored.
        """
        result = UpdateResult(0, source.name)
        self._advisory_cache.clear()
        self._lookup_cache.clear()
        with self._transaction():
            seen: set[str] = set()
            known = self._digests(source.name) if complete else None
            for advisory in advisories:
                if advisory.id in seen:
                    continue  # a source listing one record twice: the first one wins
                seen.add(advisory.id)
                body = json.dumps(advisory.to_json(), sort_keys=True, separators=(",", ":"))
                digest = _digest(body)
                old = (
                    known.get(advisory.id) if known is not None else self._digest_of(source.name, advisory.id)
                )
                if old == digest:
                    result.unchanged += 1
                    continue
                if old is None:
                    result.added += 1
                else:
                    result.changed += 1
                    result.changed_keys |= self._delete(source.name, advisory.id)
                self._insert(source.name, advisory, body, digest)
                result.changed_keys |= _keys(advisory.affected)
            if known is not None:
                for gone in known.keys() - seen:
                    result.removed += 1
                    result.changed_keys |= self._delete(source.name, gone)
            self._record_source(source, seen if complete else None, errors)
            if result.added or result.changed or result.removed:
                self._new_version(result)
            else:
                result.version = self.version
        return result

    def apply_enrichment(
        self, source: SourceInfo, records: Iterable[Cvss | Epss | KnownExploited], *, errors: int = 0
    ) -> int:
        """Store scores and exploit data (replacing the same CVE's previous values); returns the count."""
        count = 0
        self._enrichment_cache.clear()
        with self._transaction():
            for record in records:
                count += 1
                if isinstance(record, Cvss):
                    self._db.execute(
                        "INSERT OR REPLACE INTO cvss VALUES (?, ?, ?, ?, ?)",
                        (record.cve, record.version, record.vector, record.base_score, record.source),
                    )
                elif isinstance(record, Epss):
                    self._db.execute(
                        "INSERT OR REPLACE INTO epss VALUES (?, ?, ?, ?)",
                        (record.cve, record.score, record.percentile, record.date),
                    )
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO kev VALUES (?, ?, ?, ?, ?)",
                        (record.cve, record.date_added, record.due_date, record.ransomware, record.name),
                    )
            self._record_source(source, None, errors, count=count)
        return count

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _digests(self, source: str) -> dict[str, str]:
        rows = self._db.execute("SELECT id, digest FROM advisories WHERE source = ?", (source,))
        return dict(rows)

    def _digest_of(self, source: str, advisory_id: str) -> str | None:
        row = self._db.execute(
            "SELECT digest FROM advisories WHERE source = ? AND id = ?", (source, advisory_id)
        ).fetchone()
        return None if row is None else str(row[0])

    def _insert(self, source: str, advisory: Advisory, body: str, digest: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO advisories VALUES (?, ?, ?, ?, ?)",
            (source, advisory.id, digest, advisory.modified, body),
        )
        self._db.executemany(
            "INSERT INTO affected VALUES (?, ?, ?, ?, ?, ?)",
            (
                (a.namespace, package_key(a.namespace, a.package), a.ecosystem, source, advisory.id,
                 json.dumps(a.to_json(), separators=(",", ":")))
                for a in advisory.affected
            ),
        )  # fmt: skip
        self._db.executemany(
            "INSERT INTO aliases VALUES (?, ?, ?)",
            ((alias, source, advisory.id) for alias in {advisory.id, *advisory.aliases}),
        )

    def _delete(self, source: str, advisory_id: str) -> set[ChangeKey]:
        rows = self._db.execute(
            "SELECT ecosystem, namespace, package FROM affected WHERE source = ? AND advisory_id = ?",
            (source, advisory_id),
        ).fetchall()
        for table, column in (("affected", "advisory_id"), ("aliases", "advisory_id"), ("advisories", "id")):
            self._db.execute(f"DELETE FROM {table} WHERE source = ? AND {column} = ?", (source, advisory_id))
        return {ChangeKey(*row) for row in rows}

    def _record_source(self, source: SourceInfo, ids: set[str] | None, errors: int, count: int = 0) -> None:
        if ids is None and count == 0:
            row = self._db.execute("SELECT count(*) FROM advisories WHERE source = ?", (source.name,))
            count = int(row.fetchone()[0])
        elif ids is not None:
            count = len(ids)
        self._db.execute(
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
        cached = self._lookup_cache.get(key)
        if cached is None:
            rows = self._db.execute(
                "SELECT source, advisory_id, body FROM affected WHERE namespace = ? AND package = ?", key
            )
            cached = [Candidate(s, i, AffectedPackage.from_json(json.loads(b))) for s, i, b in rows]
            self._lookup_cache.put(key, cached)
        return cached

    def advisory(self, source: str, advisory_id: str) -> Advisory:
        key = (source, advisory_id)
        cached = self._advisory_cache.get(key)
        if cached is None:
            row = self._db.execute(
                "SELECT body FROM advisories WHERE source = ? AND id = ?", (source, advisory_id)
            ).fetchone()
            if row is None:
                raise KeyError(f"{source}/{advisory_id}: no such advisory")
            cached = Advisory.from_json(json.loads(row[0]))
            self._advisory_cache.put(key, cached)
        return cached

    def advisories_with_alias(self, alias: str) -> list[Advisory]:
        rows = self._db.execute("SELECT source, advisory_id FROM aliases WHERE alias = ?", (alias,))
        return [self.advisory(s, i) for s, i in rows.fetchall()]

    def _enrichment(self, cve: str) -> tuple[list[Cvss], Epss | None, KnownExploited | None]:
        """A CVE's scores and exploit data, read once and kept (three indexed reads)."""
        cached = self._enrichment_cache.get(cve)
        if cached is None:
            db = self._db
            scores = db.execute("SELECT cve, version, vector, score, source FROM cvss WHERE cve = ?", (cve,))
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
            self._enrichment_cache.put(cve, cached)
        return cached

    def cvss(self, cve: str) -> list[Cvss]:
        return self._enrichment(cve)[0]

    def epss(self, cve: str) -> Epss | None:
        return self._enrichment(cve)[1]

    def kev(self, cve: str) -> KnownExploited | None:
        return self._enrichment(cve)[2]

    def sources(self) -> list[SourceStatus]:
        rows = self._db.execute(
            "SELECT name, url, licence, updated_at, records, errors, etag, last_modified"
            " FROM sources ORDER BY name"
        )
        return [SourceStatus(*row) for row in rows]

    def source(self, name: str) -> SourceStatus | None:
        return next((s for s in self.sources() if s.name == name), None)

    def counts(self) -> dict[str, int]:
        return {
            table: int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("advisories", "affected", "cvss", "epss", "kev")
        }

    def iter_advisories(self, source: str | None = None) -> Iterator[Advisory]:
        query = "SELECT body FROM advisories" + (" WHERE source = ?" if source else "")
        for (body,) in self._db.execute(query, (source,) if source else ()):
            yield Advisory.from_json(json.loads(body))

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the whole database (for bundles)."""
        self._db.execute("VACUUM INTO ?", (str(target),))


K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A bounded least-recently-used map (a long-running server matches many inventories)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


def _keys(affected: Iterable[AffectedPackage]) -> set[ChangeKey]:
    return {ChangeKey(a.ecosystem, a.namespace, package_key(a.namespace, a.package)) for a in affected}


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any error: an update is all or nothing."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *rest: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
