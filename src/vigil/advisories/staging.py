"""Temporary files next to the database that outlive no importer, even one killed with SIGKILL.

A bundle is decompressed into a file beside the database (tens to hundreds of MB). Its importer holds an
exclusive `flock` on that file for as long as it lives; the kernel drops the lock when the process dies,
however it dies. So a staging file nobody holds a lock on belongs to a dead import and is removed by the
next one. Creating a file and taking its lock happen under a lock on the folder, which the sweep takes
too: the sweep can never see a new file in the instant before its owner locks it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PREFIXES = (".vigil-bundle-", ".bundle-")  # `.bundle-`: what earlier versions left behind


@contextlib.contextmanager
def _folder_locked(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_stale(folder: Path) -> list[Path]:
    """Remove the staging files in `folder` whose importer is gone; returns what was removed."""
    if not folder.is_dir():
        return []
    with _folder_locked(folder):
        return _sweep(folder)


def _sweep(folder: Path) -> list[Path]:
    removed = []
    for path in sorted(folder.iterdir()):
        if not path.name.startswith(PREFIXES):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: its importer is alive
        else:
            path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def staging_file(folder: Path, prefix: str) -> Iterator[tuple[Path, BinaryIO]]:
    """A new file in `folder`, locked as this process's own until the block ends, then removed."""
    with _folder_locked(folder):
        _sweep(folder)
        fd, name = tempfile.mkstemp(prefix=prefix, dir=folder)
        fcntl.flock(fd, fcntl.LOCK_EX)
    path = Path(name)
    with os.fdopen(fd, "w+b") as stream:
        try:
            yield path, stream
        finally:
            path.unlink(missing_ok=True)  # still locked: no sweep can take it for a dead import's
