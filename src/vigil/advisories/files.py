"""Opening advisory input: regular files only, checked on the opened descriptor, read with a bound.

A FIFO named as an advisory file (or lying in an OSV folder) would block `open()` or the first read
forever; a device would stream without end. The file is therefore opened with O_NONBLOCK (which never
waits for a FIFO's writer) and refused unless `fstat` on that same descriptor says it is a regular file,
so nothing can be swapped in between the check and the read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFile(OSError):
    """The path is a FIFO, device, socket or directory where a file's content was expected."""


def describe(mode: int) -> str:
    """What kind of file `mode` says this is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: Path | str) -> BinaryIO:
    """`path` opened for binary reading, or NotRegularFile (an OSError) when it is no regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, f"{describe(mode)}, not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: Path | str, limit: int) -> bytes:
    """The whole regular file, refusing one larger than `limit` bytes (ValueError names the file)."""
    with open_regular(path) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than {limit} bytes")
    return data


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
