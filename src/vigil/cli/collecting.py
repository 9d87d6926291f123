"""What `vigil inventory` and `vigil scan` share: the collection options, collecting, and writing output."""

from __future__ import annotations

import enum
import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.app import EXIT_FAILURE, fail

if TYPE_CHECKING:
    from vigil.advisories.store import AdvisoryDB
    from vigil.inventory.model import Inventory


class Scope(enum.StrEnum):
    default = "default"
    all = "all"


OsOnlyOption = Annotated[bool, typer.Option("--os-only", help="OS packages only (no language packages).")]
ScopeOption = Annotated[
    Scope | None,
    typer.Option(
        help="Where language packages are searched: Inspector's default paths, or everywhere "
        "(the default for images)."
    ),
]
PathOption = Annotated[
    list[str] | None, typer.Option("--path", help="Custom path for language packages (up to 10).")
]
MaxPackagesOption = Annotated[int, typer.Option(help="Language package limit per collection.")]
TimeLimitOption = Annotated[float, typer.Option(help="Seconds per collection.")]
BackingDirOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-backing-dir",
        help="Also read qcow2 backing files from this folder (by default only from the image's own folder).",
    ),
]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")]
DEFAULT_MAX_PACKAGES = 5000
DEFAULT_TIME_LIMIT = 900.0


def collect(
    targets: list[str],
    *,
    os_only: bool,
    scope: Scope | None,
    paths: list[str] | None,
    max_packages: int,
    time_limit: float,
    verb: str,
    backing_dirs: list[str] | None = None,
) -> Inventory:
    """The target's inventory, or a one-line reason and exit status 2 when it cannot be read.

    A target whose OS package database could not be read at all is unreadable too: "0 packages" would be a
    silent empty result, the worst answer a scanner can give.
    """
    from vigil.fs import FSError
    from vigil.inventory.collect import Limits
    from vigil.inventory.registry import unusable_package_databases
    from vigil.inventory.targets import collect_inventory
    from vigil.output.progress import progress_reporter
    from vigil.output.text import safe

    where = " ".join(safe(t) for t in targets)
    if max_packages < 0 or time_limit <= 0:
        fail("--max-packages must be at least 0 and --time-limit more than 0", EXIT_FAILURE)
    limits = Limits(max_language_packages=max_packages, collection_seconds=time_limit)
    try:
        with progress_reporter(enabled=sys.stderr.isatty()) as progress:
            inventory = collect_inventory(
                targets,
                os_only=os_only,
                scope=scope.value if scope else None,
                custom_paths=paths or (),
                limits=limits,
                progress=progress,
                backing_dirs=backing_dirs or (),
            )
    except (FSError, ValueError, OSError) as exc:
        fail(f"cannot {verb} {where}: {safe(str(exc))}")
    if inventory.os is None and not inventory.packages:
        fail(f"cannot {verb} {where}: no OS found (no os-release or other release file)")
    unusable = unusable_package_databases(inventory)
    if unusable:
        fail(f"cannot {verb} {where}: the OS package database is unusable: {safe('; '.join(unusable))}")
    return inventory


def warn_incomplete(inventory: Inventory) -> None:
    """On stderr, what the collection could not read or stopped at: findings are only as complete as it."""
    from vigil.output.text import safe

    for limit in inventory.limits_hit:
        typer.echo(f"vigil: warning: limit reached: {safe(limit.detail)}", err=True)
    for problem in inventory.target.problems:
        typer.echo(f"vigil: warning: {safe(problem)}", err=True)


def warn_uncovered(inventory: Inventory, store: AdvisoryDB) -> None:
    """On stderr, when no advisory covers the target's OS release: its OS packages cannot be matched, and
    "0 vulnerabilities" would be silent about it."""
    from vigil.advisories.namespaces import os_namespace
    from vigil.advisories.support import release_name
    from vigil.output.text import safe

    os = inventory.os
    found = os_namespace(os.id, os.version_id) if os is not None else None
    if os is None or found is None:
        return
    namespace = found[0]
    if not store.covers(namespace):
        name = os.name or release_name(namespace)
        typer.echo(
            f"vigil: warning: no advisory in the database covers {safe(namespace)} ({safe(name)}): its OS "
            "packages were not matched; `vigil db feeds` lists what each feed covers, `vigil db update` "
            "fetches them",
            err=True,
        )


def write_output(text: str, output: Path | None) -> None:
    """To stdout, or to a file written whole or not at all (a full device leaves no half-written file)."""
    if output is None:
        sys.stdout.write(text)
        return
    folder = output.parent
    if not folder.is_dir():
        fail(f"cannot write {safe_path(output)}: no folder {safe_path(folder)}", EXIT_FAILURE)
    try:
        if output.exists() and not output.is_file():
            with open(output, "w", encoding="utf-8") as special:  # a FIFO, /dev/stdout: never replaced
                special.write(text)
        else:
            _replace(output, text)
    except OSError as exc:
        reason = "the device is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        fail(f"cannot write {safe_path(output)}: {reason}", EXIT_FAILURE)


def _replace(output: Path, text: str) -> None:
    """Write beside `output`, then rename over it, keeping its mode (or the umask's for a new file)."""
    fd, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(text)
        os.chmod(name, output.stat().st_mode & 0o7777 if output.exists() else 0o666 & ~_umask())
        os.replace(name, output)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def safe_path(path: Path) -> str:
    from vigil.output.text import safe

    return safe(str(path))
