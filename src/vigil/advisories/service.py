"""The advisory database's use cases as plain functions: what the CLI, the scheduler and the API call.

Each takes the database's path (or an open reader) and returns frozen results; none prints, exits or
reads the environment. Errors of one feed, file or record are results; an unusable database is a
`DatabaseError` (one line, no traceback to show).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigil.advisories.bundle import BundleError, BundleInfo, import_bundle, is_bundle
from vigil.advisories.detect import Importer, ImportUnit, plan_import
from vigil.advisories.download import Downloader
from vigil.advisories.feeds import IMPORTERS, NOT_A_FORMAT, import_path
from vigil.advisories.files import is_regular, kind_of
from vigil.advisories.importer import RecordError
from vigil.advisories.schema import explain
from vigil.advisories.staging import remove_stale
from vigil.advisories.store import LOCK_TIMEOUT, AdvisoryDB, SourceStatus
from vigil.advisories.support import release_coverage
from vigil.advisories.update import Feed, FeedResult, Updater, update_feed


@dataclass(frozen=True, slots=True)
class SourceImport:
    """One file or folder imported as one source, and what that changed."""

    path: Path
    importer: str
    version: int
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    kept: int = 0  # stored advisories left as they were: their records could not be read this time
    changed_keys: int = 0
    errors: tuple[RecordError, ...] = ()

    @property
    def unreadable(self) -> int:
        """Records that could not be read (entries left out of a record that was read do not count)."""
        return sum(not e.partial for e in self.errors)


@dataclass(frozen=True, slots=True)
class ImportFailure:
    """A file or folder that could not be imported at all."""

    path: Path
    error: str


@dataclass(frozen=True, slots=True)
class PathImport:
    """What importing one given path did: a bundle installed, or sources imported from its files."""

    path: Path
    bundle: BundleInfo | None = None
    sources: tuple[SourceImport, ...] = ()
    failures: tuple[ImportFailure, ...] = ()
    skipped: tuple[Path, ...] = ()  # files in no format Vigil imports

    @property
    def imported(self) -> bool:
        return self.bundle is not None or bool(self.sources)

    @property
    def unreadable(self) -> int:
        """Unreadable records, counting a file or folder that failed as a whole as one."""
        return sum(s.unreadable for s in self.sources) + len(self.failures)


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """The database's version, size, row counts and sources (`vigil db status`)."""

    path: Path
    version: int
    size_bytes: int
    counts: Mapping[str, int]
    sources: tuple[SourceStatus, ...]
    releases: tuple[Mapping[str, Any], ...] = ()  # per supported OS release: covered by any advisory?

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "version": self.version,
            "size_bytes": self.size_bytes,
            "counts": dict(self.counts),
            "sources": [
                {"name": s.name, "url": s.url, "licence": s.licence, "updated_at": s.updated_at,
                 "records": s.records, "errors": s.errors}
                for s in self.sources
            ],
            "releases": [dict(r) for r in self.releases],
        }  # fmt: skip


def database_status(db: AdvisoryDB) -> DatabaseStatus:
    """What the database holds now."""
    releases = tuple(release_coverage(db.namespace_entries()))
    return DatabaseStatus(
        db.path, db.version, db.path.stat().st_size, db.counts(), tuple(db.sources()), releases
    )


def import_paths(
    db_path: Path,
    paths: Sequence[Path],
    *,
    trusted: Sequence[Ed25519PublicKey] = (),
    allow_downgrade: bool = False,
    lock_timeout: float = LOCK_TIMEOUT,
    importers: Mapping[str, Importer] = IMPORTERS,
) -> list[PathImport]:
    """Import files, folders (each file or subfolder with its own importer) and signed bundles."""
    remove_stale(db_path.parent)
    results = []
    with _explained(db_path), contextlib.ExitStack() as stack:
        opened: list[AdvisoryDB] = []

        def database() -> AdvisoryDB:  # opened on first need: a refused bundle creates no database
            if not opened:
                opened.append(stack.enter_context(AdvisoryDB(db_path, lock_timeout=lock_timeout)))
            return opened[0]

        for path in paths:
            if is_bundle(path):
                results.append(_bundle(path, db_path, trusted, allow_downgrade, lock_timeout))
                continue
            if not path.is_dir() and not is_regular(path):
                failure = ImportFailure(path, f"{path}: {kind_of(path)}, not a regular file")
                results.append(PathImport(path, failures=(failure,)))
                continue
            plan = plan_import(path, importers)
            if not plan.units:
                failure = ImportFailure(path, f"{path}: {NOT_A_FORMAT}")
                results.append(PathImport(path, failures=(failure,), skipped=plan.skipped))
                continue
            outcomes = [_unit(database(), unit) for unit in plan.units]
            results.append(
                PathImport(
                    path,
                    sources=tuple(o for o in outcomes if isinstance(o, SourceImport)),
                    failures=tuple(o for o in outcomes if isinstance(o, ImportFailure)),
                    skipped=plan.skipped,
                )
            )
    return results


def _bundle(
    path: Path,
    db_path: Path,
    trusted: Sequence[Ed25519PublicKey],
    allow_downgrade: bool,
    lock_timeout: float,
) -> PathImport:
    try:
        info = import_bundle(
            path, db_path, list(trusted), allow_downgrade=allow_downgrade, lock_timeout=lock_timeout
        )
    except (BundleError, OSError) as exc:
        return PathImport(path, failures=(ImportFailure(path, f"{path}: bundle refused: {exc}"),))
    return PathImport(path, bundle=info)


def _unit(db: AdvisoryDB, unit: ImportUnit) -> SourceImport | ImportFailure:
    try:
        outcome = import_path(db, unit.path, unit.importer)
    except OSError as exc:
        return ImportFailure(unit.path, f"{exc.filename or unit.path}: {exc.strerror or exc}")
    except ValueError as exc:  # SourceFormatError included: the unit as a whole is unreadable
        message = str(exc) if str(unit.path) in str(exc) else f"{unit.path}: {exc}"
        return ImportFailure(unit.path, message)
    result = outcome.result
    return SourceImport(
        unit.path,
        outcome.importer,
        result.version,
        result.added,
        result.changed,
        result.removed,
        result.unchanged,
        result.kept,
        len(result.changed_keys),
        tuple(outcome.errors),
    )


def update_feeds(
    db_path: Path,
    feeds: Sequence[Feed],
    *,
    client: httpx.Client | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 0.5,
    cache_dir: Path | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
    importers: Mapping[str, Importer] = IMPORTERS,
    progress: Callable[[FeedResult], object] = lambda result: None,
    updaters: Mapping[str, Updater] | None = None,
) -> list[FeedResult]:
    """Fetch each feed and apply it on its own: one failing feed never stops the others.

    `timeout` bounds each download attempt as a whole (and each network operation in it); `progress`
    hears of each feed as it is done.
    """
    remove_stale(db_path.parent)
    cache = cache_dir or db_path.parent / "downloads"
    results = []
    with (
        _explained(db_path),
        AdvisoryDB(db_path, lock_timeout=lock_timeout) as db,
        _http(client, timeout) as http,
    ):
        downloader = Downloader(http, cache, retries=retries, backoff=backoff, timeout=timeout)
        for feed in feeds:
            results.append(update_feed(db, feed, downloader, importers, updaters))
            progress(results[-1])
    return results


@contextlib.contextmanager
def _explained(db_path: Path) -> Iterator[None]:
    """An SQLite error met while writing (a database damaged inside) as one DatabaseError line."""
    try:
        yield
    except sqlite3.Error as exc:
        raise explain(exc, db_path) from exc


@contextlib.contextmanager
def _http(client: httpx.Client | None, timeout: float) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with httpx.Client(timeout=timeout, follow_redirects=True) as made:
        yield made
