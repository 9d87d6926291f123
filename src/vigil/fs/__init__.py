"""Read-only filesystem views of a target: the live host (`LiveFS`) or disk images (`open_image`).

The disk-image layers (libyal) load on the first `open_image`: inventorying the live host does not pay
for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO

from vigil.fs.base import (
    MAX_PATH,
    FileInfo,
    FileSystem,
    FileType,
    FSError,
    NotADirectory,
    NotFound,
    PathTooLong,
    SymlinkLoop,
    normalize,
    read_bytes,
)
from vigil.fs.image.errors import (
    CorruptImage,
    EncryptedVolume,
    ImageError,
    NoOperatingSystem,
    UnsupportedFilesystem,
)
from vigil.fs.image.reader import ScanTimeout
from vigil.fs.live import LiveFS

if TYPE_CHECKING:
    import os

    from vigil.fs.image.imagefs import ImageFS


def open_image(
    sources: str | os.PathLike[str] | BinaryIO | Sequence[str | os.PathLike[str] | BinaryIO],
    *,
    timeout: float | None = 900.0,
    backing_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = (),
) -> ImageFS:
    """One instance's disk image(s) as one read-only tree (see `vigil.fs.image.assemble.open_image`)."""
    from vigil.fs.image.assemble import open_image as assemble

    return assemble(sources, timeout=timeout, backing_dirs=backing_dirs)


__all__ = [
    "MAX_PATH",
    "CorruptImage",
    "EncryptedVolume",
    "FSError",
    "FileInfo",
    "FileSystem",
    "FileType",
    "ImageError",
    "LiveFS",
    "NoOperatingSystem",
    "NotADirectory",
    "NotFound",
    "PathTooLong",
    "ScanTimeout",
    "SymlinkLoop",
    "UnsupportedFilesystem",
    "normalize",
    "open_image",
    "read_bytes",
]
