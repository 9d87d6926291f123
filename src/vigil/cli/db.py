"""`vigil db`: the local advisory database (import, update, status, export, keygen)."""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.app import EXIT_FAILURE, fail

if TYPE_CHECKING:
    from vigil.advisories.store import AdvisoryDB

db_app = typer.Typer(help="The local advisory database.", no_args_is_help=True)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Advisory database file (default: $VIGIL_DB or ~/.local/share/vigil)."),
]
TRUSTED_KEYS_ENV = "VIGIL_TRUSTED_KEYS"


class StatusFormat(enum.StrEnum):
    table = "table"
    json = "json"


def _db_path(db: Path | None) -> Path:
    from vigil.advisories.store import default_db_path

    return db or default_db_path()


def open_readonly(db: Path | None) -> AdvisoryDB:
    """The advisory database for reading, or a clear message (exit 1) when there is none yet."""
    from vigil.advisories.store import AdvisoryDB

    try:
        return AdvisoryDB(_db_path(db), readonly=True)
    except FileNotFoundError as exc:
        fail(str(exc), EXIT_FAILURE)


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
) -> None:
    """Import advisory sources from disk, or replace the database with a signed bundle."""
    from vigil.advisories.bundle import BundleError, import_bundle, is_bundle, load_public_key
    from vigil.advisories.feeds import import_path
    from vigil.advisories.importer import SourceFormatError
    from vigil.advisories.store import AdvisoryDB

    target = _db_path(db)
    for path in paths:
        if not path.exists():
            fail(f"{path}: no such file or directory")
        if is_bundle(path):
            try:
                info = import_bundle(path, target, [load_public_key(k) for k in _trusted(trust)])
            except (BundleError, OSError, ValueError) as exc:
                fail(f"{path}: bundle refused: {exc}", EXIT_FAILURE)
            typer.echo(
                f"{path}: bundle signed by {info.key_id}, database version {info.db_version} → {target}"
            )
            continue
        with AdvisoryDB(target) as store:
            try:
                outcome = import_path(store, path)
            except SourceFormatError as exc:
                fail(str(exc), EXIT_FAILURE)
        result = outcome.result
        typer.echo(
            f"{path}: {outcome.importer}: {result.added} added, {result.changed} changed, "
            f"{result.unchanged} unchanged, {len(outcome.errors)} unreadable records; "
            f"database version {result.version}, {len(result.changed_keys)} package keys changed"
        )
        for error in outcome.errors[:20]:
            typer.echo(f"  unreadable: {error.where}: {error.error}", err=True)


@db_app.command()
def update(
    db: DbOption = None,
    feeds: Annotated[
        Path | None, typer.Option(help="YAML file listing feeds (name, url, importer, licence).")
    ] = None,
    only: Annotated[list[str] | None, typer.Option(help="Update only these feeds.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Where downloads are kept between runs.")] = None,
    retries: Annotated[int, typer.Option(help="Retries per download.")] = 3,
    timeout: Annotated[float, typer.Option(help="Network timeout per request, seconds.")] = 60.0,
) -> None:
    """Fetch the configured feeds (conditionally, resumably) and apply each atomically."""
    import httpx

    from vigil.advisories.feeds import IMPORTERS, load_feeds
    from vigil.advisories.store import AdvisoryDB
    from vigil.advisories.update import Downloader, update_feed

    target = _db_path(db)
    selected = [f for f in load_feeds(feeds) if not only or f.name in only]
    if only and len(selected) != len(set(only)):
        fail(f"unknown feed in --only: {sorted(set(only) - {f.name for f in selected})}", EXIT_FAILURE)
    cache = cache_dir or target.parent / "downloads"
    failed = 0
    with (
        AdvisoryDB(target) as store,
        httpx.Client(timeout=timeout, follow_redirects=True) as client,
    ):
        downloader = Downloader(client, cache, retries=retries)
        for feed in selected:
            result = update_feed(store, feed, downloader, IMPORTERS)
            failed += result.status == "failed"
            typer.echo(f"{feed.name}: {result.status}: {result.detail}")
        typer.echo(f"database version {store.version} at {target}")
    if failed:
        raise typer.Exit(EXIT_FAILURE)


@db_app.command()
def status(
    db: DbOption = None,
    output_format: Annotated[StatusFormat, typer.Option("--format")] = StatusFormat.table,
) -> None:
    """Sources, record counts, ages and the database version."""
    target = _db_path(db)
    with open_readonly(db) as store:
        sources = store.sources()
        doc = {
            "path": str(target),
            "version": store.version,
            "size_bytes": target.stat().st_size,
            "counts": store.counts(),
            "sources": [
                {"name": s.name, "url": s.url, "licence": s.licence, "updated_at": s.updated_at,
                 "records": s.records, "errors": s.errors}
                for s in sources
            ],
        }  # fmt: skip
    if output_format is StatusFormat.json:
        typer.echo(json.dumps(doc, indent=2))
        return
    from vigil.output.tables import db_status_table

    typer.echo(db_status_table(doc), nl=False)


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

    with open_readonly(db) as store:
        info = export_bundle(store, bundle, load_private_key(key))
    typer.echo(
        f"{bundle}: database version {info.db_version}, {info.payload_bytes:,} bytes "
        f"({info.database_bytes:,} uncompressed), signed by {info.key_id}"
    )


@db_app.command()
def keygen(
    private: Annotated[Path, typer.Argument(help="Where to write the private signing key (PEM).")],
    public: Annotated[Path, typer.Argument(help="Where to write the public key sites will trust.")],
) -> None:
    """Make an Ed25519 key pair for signing bundles."""
    from vigil.advisories.bundle import generate_key

    if private.exists():
        fail(f"{private} exists: not overwriting a key", EXIT_FAILURE)
    typer.echo(f"key id {generate_key(private, public)}")


__all__ = ["db_app"]
