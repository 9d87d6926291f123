"""Why an image could not be read: clear reasons a user can act on (the CLI exits 2 with them)."""

from __future__ import annotations

from vigil.fs.base import FSError


class ImageError(FSError):
    """The image (or one of its layers) cannot be read."""


class CorruptImage(ImageError):
    """A container, partition table, volume manager or filesystem structure is damaged or truncated."""


class UnsupportedFilesystem(ImageError):
    """A filesystem Vigil does not read (named: btrfs, ntfs, …)."""

    def __init__(self, fs_type: str, where: str) -> None:
        super().__init__(f"{where}: unsupported filesystem {fs_type}")
        self.fs_type = fs_type


class EncryptedVolume(ImageError):
    """A LUKS (or encrypted qcow2) volume: its contents cannot be read without the key."""


class NoOperatingSystem(ImageError):
    """No volume holds an operating-system release file."""
