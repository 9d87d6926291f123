"""Disk image containers: raw, qcow2 (with backing files), vmdk, vhd and vhdx → one byte stream per disk."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyqcow
import pyvhdi
import pyvmdk

from vigil.fs.hostfile import open_regular
from vigil.fs.image.errors import CorruptImage, EncryptedVolume, ImageError
from vigil.fs.image.qcow2 import ClusterTable, Qcow2Stream
from vigil.fs.image.reader import BoundedReader, LayerStream, ReadBudget, Stream, read_at

MAX_BACKING_CHAIN = 8  # backing files below the image
_FLAT_EXTENTS = frozenset({pyvmdk.extent_types.FLAT, pyvmdk.extent_types.VMFS_FLAT})


@dataclass
class Disk:
    """One virtual disk: its bytes as the guest sees them."""

    name: str
    format: str
    stream: Stream
    size: int
    files: list[BoundedReader] = field(default_factory=list)  # opened here, closed with the disk

    def close(self) -> None:
        for f in self.files:
            f.close()


def sniff_format(reader: BoundedReader) -> str:
    head = read_at(reader, 0, 512)
    if head[:4] == b"QFI\xfb":
        return "qcow2"
    if head[:8] == b"vhdxfile":
        return "vhdx"
    if head[:4] == b"KDMV" or head[:21] == b"# Disk DescriptorFile":
        return "vmdk"
    if head[:8] == b"conectix":
        return "vhd"  # dynamic VHD: a copy of the footer leads the file
    size = reader.get_size()
    if size >= 512 and read_at(reader, size - 512, 8) == b"conectix":
        return "vhd"  # fixed VHD: raw data followed by a footer
    return "raw"


def open_disk(
    source: str | os.PathLike[str] | BinaryIO,
    budget: ReadBudget,
    backing_dirs: Sequence[str | os.PathLike[str]] = (),
) -> Disk:
    """Open one image file (path or seekable file object) and return the guest-visible disk.

    A path may name a regular file or a block device (a disk, an LVM snapshot); anything else is refused.
    A qcow2 backing file is read only from its overlay's folder or one of `backing_dirs`. Files opened here
    (the image, a qcow2 backing chain, vmdk extents) are closed by `Disk.close`, or at once when the image
    cannot be opened. A caller's file object stays the caller's to close.
    """
    opener = _Opener(budget, tuple(os.fspath(d) for d in backing_dirs))
    try:
        if isinstance(source, str | os.PathLike):
            name = os.fspath(source)
            reader = opener.host_file(name, f"{name}: ", block_devices=True)
        else:
            name = str(getattr(source, "name", "<stream>"))
            reader = BoundedReader(source, budget, name)
        return opener.disk(reader, name, ())
    except BaseException:
        for f in opener.files:
            f.close()
        raise


Chain = tuple[tuple[int, int] | None, ...]  # the overlays above a backing file: (device, inode), if known


class _Opener:
    """Opens one disk: its image file and the files that image names (backing files, extents)."""

    def __init__(self, budget: ReadBudget, backing_dirs: tuple[str, ...]) -> None:
        self.budget = budget
        self.backing_dirs = backing_dirs  # folders the caller allowed besides each overlay's own
        self.files: list[BoundedReader] = []

    def host_file(self, path: str, context: str, *, block_devices: bool = False) -> BoundedReader:
        """A host file of the image, checked to be a regular file (or a disk) on its opened descriptor."""
        try:
            f, _ = open_regular(path, block_devices=block_devices)
        except OSError as exc:
            raise ImageError(f"{context}{exc.strerror}") from exc
        reader = BoundedReader(f, self.budget, path)
        self.files.append(reader)
        return reader

    def disk(self, reader: BoundedReader, name: str, above: Chain) -> Disk:
        if reader.get_size() == 0:
            raise CorruptImage(f"{name}: empty file (0 bytes), not a disk image")
        fmt = sniff_format(reader)
        size = reader.get_size()
        if fmt == "vhd" and (size < 512 or read_at(reader, size - 512, 8) != b"conectix"):
            raise CorruptImage(f"{name}: truncated image: the VHD footer is missing from the end of the file")
        try:
            if fmt == "raw":
                return Disk(name, "raw", reader, reader.get_size(), self.files)
            if fmt == "qcow2":
                return self._qcow2(reader, name, above)
            if fmt == "vmdk":
                return self._vmdk(reader, name)
            handle = pyvhdi.file()
            handle.open_file_object(reader)
            return self._layer(handle, name, fmt)
        except OSError as exc:
            raise CorruptImage(f"{name}: cannot open as {fmt}: {self.budget.explain(exc)}") from exc

    def _layer(self, handle: Any, name: str, fmt: str) -> Disk:
        size = handle.get_media_size()
        return Disk(name, fmt, LayerStream(handle, size, name, self.budget), size, self.files)

    def _qcow2(self, reader: BoundedReader, name: str, above: Chain) -> Disk:
        handle = pyqcow.file()
        handle.open_file_object(reader)
        if handle.is_locked():
            raise EncryptedVolume(f"{name}: encrypted qcow2 image")
        parent: ClusterTable | None = None
        backing = handle.get_backing_filename()
        if backing:
            base = self._backing(name, backing, (*above, reader.identity))
            if not isinstance(base.stream, Qcow2Stream):
                # libqcow chains only qcow2 parents; a raw base is read through a reflink copy instead
                raise ImageError(f"{name}: qcow2 overlay on a {base.format} backing file is not supported")
            handle.set_parent(base.stream.handle)
            parent = base.stream.table
        size = handle.get_media_size()
        table = ClusterTable(reader, name, parent)
        return Disk(name, "qcow2", Qcow2Stream(handle, size, name, self.budget, table), size, self.files)

    def _backing(self, name: str, backing: str, above: Chain) -> Disk:
        """An overlay's backing file: confined, a regular file, in a chain of bounded length without loops."""
        if len(above) > MAX_BACKING_CHAIN:
            raise CorruptImage(f"{name}: qcow2 backing chain deeper than {MAX_BACKING_CHAIN}")
        if not os.path.exists(name):
            raise ImageError(f"{name}: qcow2 overlay needs its backing file {backing!r}")
        where = _confined(name, backing, self.backing_dirs)
        if where is None:
            folders = ", ".join(dict.fromkeys([os.path.dirname(os.path.abspath(name)), *self.backing_dirs]))
            raise ImageError(
                f"{name}: its qcow2 backing file {backing!r} is not read: backing files are read only from "
                f"the image's own folder or a folder allowed explicitly ({folders})"
            )
        path, real = where
        base = self.host_file(real, f"{name}: qcow2 overlay needs its backing file {backing!r}: ")
        if base.identity is not None and base.identity in above:
            raise CorruptImage(f"{name}: qcow2 backing chain loops: {backing!r} is already in it")
        return self.disk(base, path, above)

    def _vmdk(self, reader: BoundedReader, name: str) -> Disk:
        handle = pyvmdk.handle()
        handle.open_file_object(reader)
        descriptors = list(handle.extent_descriptors)
        if len(descriptors) == 1 and read_at(reader, 0, 4) == b"KDMV":
            # monolithicSparse / streamOptimized: the data is in this very file, whatever it is called now
            handle.open_extent_data_files_as_file_objects([reader])
            return self._layer(handle, name, "vmdk")
        if not os.path.exists(name):
            raise ImageError(f"{name}: a vmdk whose extents are separate files must be opened by path")
        extents: list[Stream] = []
        for descriptor in descriptors:
            # an extent is looked up next to the descriptor only: a descriptor cannot point at host files
            extent_name = os.path.basename(descriptor.filename or "")
            extent_path = os.path.join(os.path.dirname(name), extent_name)
            where = _confined(name, extent_name)
            if where is None:
                raise ImageError(f"{name}: vmdk extent {extent_path} leads out of the image's folder")
            extent = self.host_file(where[1], f"{name}: vmdk extent {extent_path}: ")
            extents.append(extent)
            needed = descriptor.offset + descriptor.size
            if descriptor.type in _FLAT_EXTENTS and extent.get_size() < needed:
                raise CorruptImage(
                    f"{name}: truncated image: extent {extent_path} holds {extent.get_size()} bytes, "
                    f"the descriptor says {needed}"
                )
        handle.open_extent_data_files_as_file_objects(extents)
        return self._layer(handle, name, "vmdk")


def _confined(image: str, file_name: str, allowed: Sequence[str] = ()) -> tuple[str, str] | None:
    """Where a file an image names lives, if in the image's own folder or an allowed one (below them too):
    its path joined to the image's folder, and its real path. None when it lies anywhere else.

    The path is checked before anything outside is looked up, so a refusal says nothing about the files
    there; then its real path, so a symbolic link in the folder cannot lead out of it.
    """
    folder = os.path.dirname(os.path.abspath(image))
    folders = {folder, os.path.dirname(os.path.realpath(image))}
    folders.update(p for d in allowed for p in (os.path.abspath(d), os.path.realpath(d)))
    path = os.path.normpath(os.path.join(folder, file_name))
    if "\0" in file_name or not _within(path, folders):
        return None
    real = os.path.realpath(path)
    return (path, real) if _within(real, folders) else None


def _within(path: str, folders: set[str]) -> bool:
    return any(os.path.commonpath((path, folder)) == folder for folder in folders)
