"""The advisory database's SQLite schema, and the checks that a file is that database before it is used.

A `--db` that is a FIFO, another program's file, a truncated copy or a damaged one must give one clear
line, not a hang or an sqlite3 traceback; and a bundle (an SQLite file from elsewhere) must hold exactly
the tables and indexes below, nothing more: a trigger or a view in it would be code run later.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from vigil.advisories.files import describe, open_regular

SCHEMA_VERSION = 1

SCHEMA = """
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

# every table of the schema, each with its columns in order: what a bundle's rows are copied through
TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "sources": ("name", "url", "licence", "etag", "last_modified", "updated_at", "records", "errors"),
    "advisories": ("source", "id", "digest", "modified", "body"),
    "affected": ("namespace", "package", "ecosystem", "source", "advisory_id", "body"),
    "aliases": ("alias", "source", "advisory_id"),
    "cvss": ("cve", "version", "vector", "score", "source"),
    "epss": ("cve", "score", "percentile", "date"),
    "kev": ("cve", "date_added", "due_date", "ransomware", "name"),
    "versions": ("version", "created_at", "source", "added", "changed", "removed", "keys"),
    "changes": ("version", "ecosystem", "namespace", "package"),
}

_MAGIC = b"SQLite format 3\x00"


class DatabaseError(Exception):
    """The advisory database is not a usable one (not a database, damaged, another schema, busy)."""


class DatabaseBusy(DatabaseError):
    """Another writer held the database longer than this one was willing to wait; nothing was changed."""


def check_file(path: Path) -> None:
    """Refuse, before SQLite reads it, a path that is no regular file, no SQLite file, or cut short."""
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise DatabaseError(f"{path}: {describe(mode)}, not an advisory database file")
    with open_regular(path) as stream:
        header = stream.read(100)
    if not header:
        return  # SQLite's empty database: the schema check says what it lacks
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise DatabaseError(f"{path}: not an advisory database (not an SQLite file)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    size_is_current = header[92:96] == header[24:28]
    wal = Path(f"{path}-wal")
    # with committed pages still in the WAL the header may lag behind; without, it states the file's size
    pending = wal.exists() and wal.stat().st_size > 0
    size = path.stat().st_size
    if size_is_current and not pending and size < pages * page_size:
        raise DatabaseError(
            f"{path}: damaged advisory database: truncated to {size} of {pages * page_size} bytes"
        )


def check_schema(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a database without Vigil's schema (another program's file), or with another version of it."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error as exc:
        raise explain(exc, path) from exc
    if row is None:
        raise DatabaseError(f"{path}: not an advisory database, or a damaged one (no schema version)")
    if str(row[0]) != str(SCHEMA_VERSION):
        raise DatabaseError(
            f"{path}: advisory database schema {row[0]}, this Vigil reads schema {SCHEMA_VERSION}"
        )


def explain(exc: sqlite3.Error, path: Path) -> DatabaseError:
    """One line saying what an sqlite3 error means for the user."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return DatabaseBusy(f"{path}: the advisory database is busy (another import is writing): {text}")
    if "no such table" in text:
        return DatabaseError(f"{path}: not an advisory database (no Vigil tables)")
    if "not a database" in text:
        return DatabaseError(f"{path}: not an advisory database (not an SQLite file)")
    if "malformed" in text or "corrupt" in text:
        return DatabaseError(f"{path}: damaged advisory database ({text})")
    return DatabaseError(f"{path}: cannot use the advisory database: {text}")


def foreign_objects(db: sqlite3.Connection, schema: str) -> list[str]:
    """What in the attached `schema` differs from Vigil's own: extra objects, missing or altered ones."""
    reference = sqlite3.connect(":memory:")
    try:
        reference.executescript(SCHEMA)
        expected = _objects(reference, "main")
    finally:
        reference.close()
    found = _objects(db, schema)
    differences = [f"{kind} {name!r} is not Vigil's" for (kind, name) in found.keys() - expected.keys()]
    differences += [f"{kind} {name!r} is missing" for (kind, name) in expected.keys() - found.keys()]
    differences += [
        f"{kind} {name!r} is defined differently"
        for (kind, name), sql in found.items()
        if (kind, name) in expected and expected[kind, name] != sql
    ]
    return sorted(differences)


def _objects(db: sqlite3.Connection, schema: str) -> dict[tuple[str, str], str]:
    rows = db.execute(f"SELECT type, name, sql FROM {schema}.sqlite_master")
    return {(kind, name): " ".join((sql or "").split()) for kind, name, sql in rows}
