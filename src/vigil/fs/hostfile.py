"""Open the host files a scan reads as input: regular files (and block devices where a disk is expected).

A FIFO named as an image, an extent or a file in a tree would block the scan forever in `open` (waiting for a
writer) or in `read`; a terminal or `/dev/zero` would never end. So the file is opened with `O_NONBLOCK`
(opening a FIFO returns at once), its type is read from the opened descriptor (nothing can be swapped in
between a check and the open), and only then is `O_NONBLOCK` cleared for the reads.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


def describe(mode: int) -> str:
    """What kind of file `mode` says this is, in words (`a FIFO`), for messages."""
    return "a regular file" if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a file")


class NotARegularFile(OSError):
    """The path names something that is not read as a file: a directory, FIFO, socket or device."""

    def __init__(self, mode: int, wanted: str) -> None:
        kind = describe(mode)
        code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
        super().__init__(code, f"{kind}, not {wanted}")


def open_regular(
    path: str, *, block_devices: bool = False, nofollow: bool = False
) -> tuple[BinaryIO, os.stat_result]:
    """The file at `path` opened for reading, and its `fstat`; `NotARegularFile` for anything else.

    `block_devices`: a disk (`/dev/sdb`, an LVM snapshot) is also accepted, as a whole image is. `nofollow`: a
    symbolic link as the last component is refused (the caller resolved links itself).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if nofollow else 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) or (block_devices and stat.S_ISBLK(st.st_mode))):
            raise NotARegularFile(
                st.st_mode, "a regular file or block device" if block_devices else "a regular file"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str, limit: int) -> bytes:
    """The whole regular file, refusing one larger than `limit` bytes (ValueError names the file)."""
    stream, _ = open_regular(path)
    with stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than {limit} bytes")
    return data
