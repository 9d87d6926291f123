"""Read-only filesystem views of a target: the live host (`LiveFS`) or disk images (`open_image`)."""

from vigil.fs.base import (
    FileInfo,
    FileSystem,
    FileType,
    FSError,
    NotADirectory,
    NotFound,
    SymlinkLoop,
    normalize,
    read_bytes,
)
from vigil.fs.image.assemble import open_image
from vigil.fs.image.errors import (
    CorruptImage,
    EncryptedVolume,
    ImageError,
    NoOperatingSystem,
    UnsupportedFilesystem,
)
from vigil.fs.image.imagefs import ImageFS
from vigil.fs.image.reader import ScanTimeout
from vigil.fs.live import LiveFS

__all__ = [
    "CorruptImage",
    "EncryptedVolume",
    "FSError",
    "FileInfo",
    "FileSystem",
    "FileType",
    "ImageError",
    "ImageFS",
    "LiveFS",
    "NoOperatingSystem",
    "NotADirectory",
    "NotFound",
    "ScanTimeout",
    "SymlinkLoop",
    "UnsupportedFilesystem",
    "normalize",
    "open_image",
    "read_bytes",
]
