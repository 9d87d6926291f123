"""Opening advisory input: regular files only, checked on the opened descriptor, read with a bound.

A FIFO named as an advisory file (or lying in an OSV folder) would block forever; a device would stream
without end. `vigil.fs.hostfile` opens every host file Vigil reads as input that way.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import BinaryIO

from vigil.fs import hostfile
from vigil.fs.hostfile import NotARegularFile, describe

__all__ = ["NotARegularFile", "describe", "is_regular", "kind_of", "open_regular", "read_bounded"]


def open_regular(path: Path | str) -> BinaryIO:
    """`path` opened for binary reading, or NotARegularFile (an OSError) when it is no regular file."""
    stream, _ = hostfile.open_regular(str(path))
    return stream


def read_bounded(path: Path | str, limit: int) -> bytes:
    """The whole regular file, refusing one larger than `limit` bytes (ValueError names the file)."""
    return hostfile.read_bounded(str(path), limit)


def kind_of(path: Path) -> str:
    """What kind of file `path` is, in words (`a FIFO`), for messages."""
    try:
        return describe(path.stat().st_mode)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"


def is_regular(path: Path) -> bool:
    """Whether `path` (symlinks followed) is a regular file, without opening it."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False
