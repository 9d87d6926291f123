"""Disk image containers: raw, qcow2 (with backing files), vmdk, vhd and vhdx → one byte stream per disk."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyqcow
import pyvhdi
import pyvmdk

from vigil.fs.image.errors import CorruptImage, EncryptedVolume, ImageError
from vigil.fs.image.qcow2 import ClusterTable, Qcow2Stream
from vigil.fs.image.reader import BoundedReader, LayerStream, ReadBudget, Stream, read_at

MAX_BACKING_CHAIN = 8
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


def open_disk(source: str | os.PathLike[str] | BinaryIO, budget: ReadBudget) -> Disk:
    """Open one image file (path or seekable file object) and return the guest-visible disk.

    Files opened here (the image, a qcow2 backing chain, vmdk extents) are closed by `Disk.close`, or at once
    when the image cannot be opened. A caller's file object stays the caller's to close.
    """
    files: list[BoundedReader] = []
    try:
        return _open(source, budget, files, 0)
    except BaseException:
        for f in files:
            f.close()
        raise


def _open(
    source: str | os.PathLike[str] | BinaryIO, budget: ReadBudget, files: list[BoundedReader], depth: int
) -> Disk:
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        try:
            reader = BoundedReader(open(name, "rb"), budget, name)  # noqa: SIM115 - closed with the Disk
        except OSError as exc:
            raise ImageError(f"{name}: {exc.strerror}") from exc
        files.append(reader)
    else:
        name = str(getattr(source, "name", "<stream>"))
        reader = BoundedReader(source, budget, name)
    if reader.get_size() == 0:
        raise CorruptImage(f"{name}: empty file (0 bytes), not a disk image")
    fmt = sniff_format(reader)
    size = reader.get_size()
    if fmt == "vhd" and (size < 512 or read_at(reader, size - 512, 8) != b"conectix"):
        raise CorruptImage(f"{name}: truncated image: the VHD footer is missing from the end of the file")
    try:
        if fmt == "raw":
            return Disk(name, "raw", reader, reader.get_size(), files)
        if fmt == "qcow2":
            return _open_qcow2(reader, name, budget, files, depth)
        if fmt == "vmdk":
            return _open_vmdk(reader, name, budget, files)
        handle = pyvhdi.file()
        handle.open_file_object(reader)
        return _layer(handle, name, fmt, files, budget)
    except OSError as exc:
        raise CorruptImage(f"{name}: cannot open as {fmt}: {budget.explain(exc)}") from exc


def _layer(handle: Any, name: str, fmt: str, files: list[BoundedReader], budget: ReadBudget) -> Disk:
    size = handle.get_media_size()
    return Disk(name, fmt, LayerStream(handle, size, name, budget), size, files)


def _open_qcow2(
    reader: BoundedReader, name: str, budget: ReadBudget, files: list[BoundedReader], depth: int
) -> Disk:
    handle = pyqcow.file()
    handle.open_file_object(reader)
    if handle.is_locked():
        raise EncryptedVolume(f"{name}: encrypted qcow2 image")
    parent: ClusterTable | None = None
    backing = handle.get_backing_filename()
    if backing:
        if depth >= MAX_BACKING_CHAIN:
            raise CorruptImage(f"{name}: qcow2 backing chain deeper than {MAX_BACKING_CHAIN}")
        if not os.path.exists(name):
            raise ImageError(f"{name}: qcow2 overlay needs its backing file {backing!r}")
        backing_path = os.path.join(os.path.dirname(name), backing)  # absolute `backing` wins in join
        base = _open(backing_path, budget, files, depth + 1)
        if not isinstance(base.stream, Qcow2Stream):
            # libqcow chains only qcow2 parents; a raw base is read through a reflink copy instead
            raise ImageError(f"{name}: qcow2 overlay on a {base.format} backing file is not supported")
        handle.set_parent(base.stream.handle)
        parent = base.stream.table
    size = handle.get_media_size()
    table = ClusterTable(reader, name, parent)
    return Disk(name, "qcow2", Qcow2Stream(handle, size, name, budget, table), size, files)


def _open_vmdk(reader: BoundedReader, name: str, budget: ReadBudget, files: list[BoundedReader]) -> Disk:
    handle = pyvmdk.handle()
    handle.open_file_object(reader)
    descriptors = list(handle.extent_descriptors)
    if len(descriptors) == 1 and read_at(reader, 0, 4) == b"KDMV":
        # monolithicSparse / streamOptimized: the data is in this very file, whatever it is called now
        handle.open_extent_data_files_as_file_objects([reader])
        return _layer(handle, name, "vmdk", files, budget)
    if not os.path.exists(name):
        raise ImageError(f"{name}: a vmdk whose extents are separate files must be opened by path")
    extents: list[Stream] = []
    for descriptor in descriptors:
        # an extent is looked up next to the descriptor only: a descriptor cannot point at host files
        extent_path = os.path.join(os.path.dirname(name), os.path.basename(descriptor.filename or ""))
        try:
            extent = BoundedReader(open(extent_path, "rb"), budget, extent_path)  # noqa: SIM115
        except OSError as exc:
            raise ImageError(f"{name}: vmdk extent {extent_path}: {exc.strerror}") from exc
        files.append(extent)
        extents.append(extent)
        needed = descriptor.offset + descriptor.size
        if descriptor.type in _FLAT_EXTENTS and extent.get_size() < needed:
            raise CorruptImage(
                f"{name}: truncated image: extent {extent_path} holds {extent.get_size()} bytes, "
                f"the descriptor says {needed}"
            )
    handle.open_extent_data_files_as_file_objects(extents)
    return _layer(handle, name, "vmdk", files, budget)
