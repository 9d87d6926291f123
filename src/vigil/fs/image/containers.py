"""Disk image containers: raw, qcow2 (with backing files), vmdk, vhd and vhdx → one byte stream per disk."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import pyqcow
import pyvhdi
import pyvmdk

from vigil.fs.image.errors import CorruptImage, EncryptedVolume, ImageError
from vigil.fs.image.reader import BoundedReader, LayerStream, ReadBudget, Stream, read_at

MAX_BACKING_CHAIN = 8


@dataclass
class Disk:
    """One virtual disk: its bytes as the guest sees them."""

    name: str
    format: str
    stream: Stream
    size: int


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


def open_disk(source: str | BinaryIO, budget: ReadBudget, *, _depth: int = 0) -> Disk:
    """Open one image file (path or seekable file object) and return the guest-visible disk."""
    if isinstance(source, str):
        try:
            f: BinaryIO = open(source, "rb")  # noqa: SIM115 - owned by the Disk for the scan's lifetime
        except OSError as exc:
            raise ImageError(f"{source}: {exc.strerror}") from exc
        name = source
    else:
        f, name = source, getattr(source, "name", "<stream>")
    reader = BoundedReader(f, budget, name)
    fmt = sniff_format(reader)
    try:
        if fmt == "raw":
            return Disk(name, "raw", reader, reader.get_size())
        if fmt == "qcow2":
            return _open_qcow2(reader, name, budget, _depth)
        if fmt in ("vhd", "vhdx"):
            handle = pyvhdi.file()
            handle.open_file_object(reader)
            return _layer(handle, name, fmt, handle.get_media_size())
        return _open_vmdk(reader, name, budget)
    except OSError as exc:
        if budget.timed_out:
            raise
        raise CorruptImage(f"{name}: cannot open as {fmt}: {_first_line(exc)}") from exc


def _layer(handle: object, name: str, fmt: str, size: int) -> Disk:
    return Disk(name, fmt, LayerStream(handle, size, name), size)


def _open_qcow2(reader: BoundedReader, name: str, budget: ReadBudget, depth: int) -> Disk:
    handle = pyqcow.file()
    handle.open_file_object(reader)
    if handle.is_locked():
        raise EncryptedVolume(f"{name}: encrypted qcow2 image")
    backing = handle.get_backing_filename()
    if backing:
        if depth >= MAX_BACKING_CHAIN:
            raise CorruptImage(f"{name}: qcow2 backing chain deeper than {MAX_BACKING_CHAIN}")
        if not os.path.exists(name):
            raise ImageError(f"{name}: qcow2 overlay needs its backing file {backing!r}")
        backing_path = os.path.join(os.path.dirname(name), backing)  # absolute `backing` wins in join
        parent = open_disk(backing_path, budget, _depth=depth + 1)
        if parent.format != "qcow2" or not isinstance(parent.stream, LayerStream):
            # libqcow chains only qcow2 parents; a raw base is read through a reflink copy instead
            raise ImageError(f"{name}: qcow2 overlay on a {parent.format} backing file is not supported")
        handle.set_parent(parent.stream.handle)
    return _layer(handle, name, "qcow2", handle.get_media_size())


def _open_vmdk(reader: BoundedReader, name: str, budget: ReadBudget) -> Disk:
    handle = pyvmdk.handle()
    handle.open_file_object(reader)
    extents: list[Stream] = []
    base = os.path.dirname(name) if os.path.exists(name) else None
    for descriptor in handle.extent_descriptors:
        extent_name = descriptor.filename or ""
        if os.path.basename(name) == extent_name or not extent_name:
            extents.append(reader)  # sparse formats keep their data in the descriptor's own file
            continue
        if base is None:
            raise ImageError(f"{name}: vmdk extent {extent_name!r} cannot be found next to a stream")
        # an extent is looked up next to the descriptor only: a descriptor cannot point at host files
        extent_path = os.path.join(base, os.path.basename(extent_name))
        try:
            extents.append(BoundedReader(open(extent_path, "rb"), budget, extent_path))  # noqa: SIM115
        except OSError as exc:
            raise ImageError(f"{name}: vmdk extent {extent_path}: {exc.strerror}") from exc
    handle.open_extent_data_files_as_file_objects(extents)
    return _layer(handle, name, "vmdk", handle.get_media_size())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split(". ")[-1].rstrip(".") or type(exc).__name__
