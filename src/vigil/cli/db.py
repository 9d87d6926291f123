"""`vigil db`: the local advisory database (import, update, status, export, keygen).

A thin layer over `vigil.advisories.service`: options in, one call, lines out, an exit status. Every
error a user can cause is one `vigil: …` line and exit status 1, never a traceback.
"""

from __future__ import annotations

import enum
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.app import EXIT_FAILURE, fail

if TYPE_CHECKING:
    from vigil.advisories.service import PathImport
    from vigil.advisories.store import AdvisoryDB

db_app = typer.Typer(help="The local advisory database.", no_args_is_help=True)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Advisory database file (default: $VIGIL_DB or ~/.local/share/vigil)."),
]
TRUSTED_KEYS_ENV = "VIGIL_TRUSTED_KEYS"
MAX_ERRORS_SHOWN = 20


class StatusFormat(enum.StrEnum):
    table = "table"
    json = "json"


def _db_path(db: Path | None) -> Path:
    from vigil.advisories.store import default_db_path

    return db or default_db_path()


@contextmanager
def _clear_errors() -> Iterator[None]:
    """An unusable database, key, file or feeds list: one line and exit status 1."""
    from vigil.advisories.bundle import BundleError
    from vigil.advisories.feeds import FeedsFileError
    from vigil.advisories.schema import DatabaseError

    try:
        yield
    except (DatabaseError, BundleError, FeedsFileError) as exc:
        fail(str(exc), EXIT_FAILURE)
    except sqlite3.Error as exc:
        fail(f"advisory database: {exc}", EXIT_FAILURE)
    except OSError as exc:
        fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", EXIT_FAILURE)


def open_readonly(db: Path | None) -> AdvisoryDB:
    """The advisory database for reading, or a clear message (exit 1) when there is none or it is unusable."""
    from vigil.advisories.store import AdvisoryDB

    with _clear_errors():
        return AdvisoryDB(_db_path(db), readonly=True)


def _trusted(paths: list[Path] | None) -> list[Path]:
    env = [Path(p) for p in os.environ.get(TRUSTED_KEYS_ENV, "").split(":") if p]
    return [*(paths or []), *env]


@db_app.command("import")
def import_(
    paths: Annotated[
        list[Path], typer.Argument(help="Advisory files, directories, archives, or a signed bundle.")
    ],
    db: DbOption = None,
    trust: Annotated[
        list[Path] | None, typer.Option(help=f"Trusted bundle public key (also ${TRUSTED_KEYS_ENV}).")
    ] = None,
    allow_downgrade: Annotated[
        bool, typer.Option(help="Install a bundle older than the database (a rollback).")
    ] = False,
    allow_unreadable: Annotated[
        bool, typer.Option(help="Exit 0 even when some records could not be read.")
    ] = False,
) -> None:
    """Import advisory sources from disk (each file or subfolder in its own format), or a signed bundle."""
    from vigil.advisories.bundle import BundleError, is_bundle, load_public_key
    from vigil.advisories.service import import_paths

    target = _db_path(db)
    for path in paths:
        if not os.path.lexists(path):
            fail(f"{path}: no such file or directory")
    keys = []
    if any(is_bundle(p) for p in paths):
        try:
            keys = [load_public_key(k) for k in _trusted(trust)]
        except BundleError as exc:
            fail(f"bundle refused: {exc}", EXIT_FAILURE)
    with _clear_errors():
        results = import_paths(target, paths, trusted=keys, allow_downgrade=allow_downgrade)
    for result in results:
        _report(result, target)
    unreadable = sum(r.unreadable for r in results)
    if any(not r.imported for r in results):
        raise typer.Exit(EXIT_FAILURE)
    if unreadable and not allow_unreadable:
        fail(f"{unreadable} records could not be read (--allow-unreadable accepts that)", EXIT_FAILURE)


def _report(result: PathImport, target: Path) -> None:
    if result.bundle is not None:
        typer.echo(
            f"{result.path}: bundle signed by {result.bundle.key_id}, "
            f"database version {result.bundle.db_version} → {target}"
        )
    for source in result.sources:
        line = (
            f"{source.path}: {source.importer}: {source.added} added, {source.changed} changed, "
            f"{source.unchanged} unchanged, {source.unreadable} unreadable records; "
            f"database version {source.version}, {source.changed_keys} package keys changed"
        )
        if source.removed:
            line += f"; {source.removed} withdrawn records removed"
        if source.kept:
            line += f"; {source.kept} stored records kept as they were (unreadable in this import)"
        typer.echo(line)
        for error in source.errors[:MAX_ERRORS_SHOWN]:
            kind = "left out" if error.partial else "unreadable"
            typer.echo(f"  {kind}: {error.where}: {error.error}", err=True)
    for failure in result.failures:
        typer.echo(f"vigil: {failure.error}", err=True)
    if result.skipped and result.path.is_dir():
        shown = ", ".join(str(p.relative_to(result.path)) for p in result.skipped[:5])
        more = ", …" if len(result.skipped) > 5 else ""
        typer.echo(
            f"{result.path}: skipped {len(result.skipped)} files in no format Vigil imports: {shown}{more}",
            err=True,
        )


@db_app.command()
def update(
    db: DbOption = None,
    feeds: Annotated[
        Path | None, typer.Option(help="YAML file listing feeds (name, url, importer, licence).")
    ] = None,
    only: Annotated[list[str] | None, typer.Option(help="Update only these feeds.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Where downloads are kept between runs.")] = None,
    retries: Annotated[int, typer.Option(help="Retries per download.")] = 3,
    timeout: Annotated[
        float, typer.Option(help="Seconds one download may take, its whole body included.")
    ] = 60.0,
) -> None:
    """Fetch the configured feeds (conditionally, resumably) and apply each atomically."""
    from vigil.advisories.feeds import load_feeds
    from vigil.advisories.service import update_feeds
    from vigil.advisories.store import AdvisoryDB

    target = _db_path(db)
    with _clear_errors():
        selected = [f for f in load_feeds(feeds) if not only or f.name in only]
    if only and len(selected) != len(set(only)):
        fail(f"unknown feed in --only: {sorted(set(only) - {f.name for f in selected})}", EXIT_FAILURE)
    with _clear_errors():
        results = update_feeds(
            target,
            selected,
            timeout=timeout,
            retries=retries,
            cache_dir=cache_dir,
            progress=lambda result: typer.echo(f"{result.feed}: {result.status}: {result.detail}"),
        )
        with AdvisoryDB(target, readonly=True) as store:
            typer.echo(f"database version {store.version} at {target}")
    if any(r.status == "failed" for r in results):
        raise typer.Exit(EXIT_FAILURE)


@db_app.command()
def status(
    db: DbOption = None,
    output_format: Annotated[StatusFormat, typer.Option("--format")] = StatusFormat.table,
) -> None:
    """Sources, record counts, ages and the database version."""
    from vigil.advisories.service import database_status

    with open_readonly(db) as store, _clear_errors():
        doc = database_status(store).to_json()
    if output_format is StatusFormat.json:
        typer.echo(json.dumps(doc, indent=2))
        return
    from vigil.output.tables import db_status_table

    typer.echo(db_status_table(doc), nl=False)


@db_app.command()
def feeds(
    feeds_file: Annotated[
        Path | None, typer.Option("--feeds", help="YAML file listing feeds (default: the built-in ones).")
    ] = None,
    output_format: Annotated[StatusFormat, typer.Option("--format")] = StatusFormat.table,
) -> None:
    """The feeds `vigil db update` fetches: name, URL, importer, licence and what each covers."""
    from vigil.advisories.feeds import load_feeds

    with _clear_errors():
        configured = load_feeds(feeds_file)
    listed = [
        {"name": f.name, "url": f.url, "importer": f.importer, "licence": f.licence, "covers": list(f.covers)}
        for f in configured
    ]
    if output_format is StatusFormat.json:
        typer.echo(json.dumps({"feeds": listed}, indent=2))
        return
    from vigil.output.tables import feeds_table

    typer.echo(feeds_table(listed), nl=False)


@db_app.command()
def export(
    bundle: Annotated[Path, typer.Argument(help="The bundle file to write.")],
    key: Annotated[
        Path, typer.Option(help="Ed25519 private key (PEM) to sign with (see `vigil db keygen`).")
    ],
    db: DbOption = None,
) -> None:
    """Write the whole database as one signed, compressed bundle for air-gapped sites."""
    from vigil.advisories.bundle import export_bundle, load_private_key

    with _clear_errors():
        signing_key = load_private_key(key)
        with open_readonly(db) as store:
            info = export_bundle(store, bundle, signing_key)
    typer.echo(
        f"{bundle}: database version {info.db_version}, {info.payload_bytes:,} bytes "
        f"({info.database_bytes:,} uncompressed), signed by {info.key_id}"
    )


@db_app.command()
def keygen(
    private: Annotated[Path, typer.Argument(help="Where to write the private signing key (PEM).")],
    public: Annotated[Path, typer.Argument(help="Where to write the public key sites will trust.")],
) -> None:
    """Make an Ed25519 key pair for signing bundles (neither file may exist)."""
    from vigil.advisories.bundle import generate_key

    with _clear_errors():
        typer.echo(f"key id {generate_key(private, public)}")


__all__ = ["db_app", "open_readonly"]
