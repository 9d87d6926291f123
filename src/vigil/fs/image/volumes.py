"""Volume systems: GPT and MBR partition tables, LVM2 logical volumes, LUKS detection.

Every disk becomes a flat list of `Volume`s, each with the names an `/etc/fstab` may use for it
(partition number, PARTUUID, LVM volume group and logical volume) and what `probe` found on it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyvsgpt
import pyvslvm
import pyvsmbr

from vigil.fs.image.containers import Disk
from vigil.fs.image.errors import CorruptImage
from vigil.fs.image.probe import Probe, probe
from vigil.fs.image.reader import LayerStream, ReadBudget, Stream, read_at

_EXTENDED_MBR_TYPES = frozenset({0x05, 0x0F, 0x85})


@dataclass
class Volume:
    """One volume: a whole disk, a partition or an LVM logical volume."""

    name: str  # "disk0", "disk0p2", "vg0/root": how reports name it
    stream: Stream
    size: int
    disk_index: int
    partition: int | None = None  # Linux's partition number (sda1 → 1)
    part_uuid: str | None = None
    part_type: str | None = None
    lvm: tuple[str, str] | None = None  # (volume group, logical volume)
    probe: Probe = field(default_factory=lambda: Probe("unknown"))


@dataclass
class VolumeScan:
    """Every volume found on an instance's disks, and what could not be read (kept, not raised)."""

    volumes: list[Volume] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def scan_volumes(disks: list[Disk], budget: ReadBudget) -> VolumeScan:
    result = VolumeScan()
    physical: list[Volume] = []
    for index, disk in enumerate(disks):
        try:
            for volume in _partitions(disk, index):
                volume.probe = probe(volume.stream)
                (physical if volume.probe.kind == "lvm2" else result.volumes).append(volume)
        except CorruptImage as exc:
            result.problems.append(str(exc))
        except OSError as exc:
            if budget.timed_out:
                raise
            result.problems.append(f"{disk.name}: cannot read the partition table: {exc}")
    for pv in physical:
        try:
            result.volumes.extend(_logical_volumes(pv))
        except OSError as exc:
            if budget.timed_out:
                raise
            result.problems.append(f"{pv.name}: cannot read LVM2 metadata: {_short(exc)}")
    return result


def _partitions(disk: Disk, index: int) -> Iterator[Volume]:
    stream = disk.stream
    base = f"disk{index}"
    if pyvsgpt.check_volume_signature_file_object(stream):
        yield from _gpt(disk, index, base)
    elif _has_mbr_partitions(stream):
        yield from _mbr(disk, index, base)
    else:
        yield Volume(base, stream, disk.size, index)


def _gpt(disk: Disk, index: int, base: str) -> Iterator[Volume]:
    table = pyvsgpt.volume()
    try:
        table.open_file_object(disk.stream)
    except OSError as exc:
        raise CorruptImage(f"{disk.name}: corrupt GPT: {_short(exc)}") from exc
    for part in table.partitions:
        number = part.entry_index + 1
        offset, size = part.volume_offset, part.size
        if offset + size > disk.size:
            raise CorruptImage(f"{disk.name}: GPT partition {number} extends past the end of the disk")
        yield Volume(
            f"{base}p{number}",
            LayerStream(part, size, f"{disk.name} partition {number}"),
            size,
            index,
            partition=number,
            part_uuid=(part.identifier or "").lower() or None,
            part_type=(part.type_identifier or "").lower() or None,
        )


def _has_mbr_partitions(stream: Stream) -> bool:
    sector = read_at(stream, 0, 512)
    if sector[510:512] != b"\x55\xaa":
        return False
    entries = [sector[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    # a filesystem boot sector also ends in 55 AA: require sane entries (status 0x00/0x80, a type)
    return any(e[4] != 0 for e in entries) and all(e[0] in (0, 0x80) for e in entries)


def _mbr(disk: Disk, index: int, base: str) -> Iterator[Volume]:
    sector = read_at(disk.stream, 0, 512)
    signature = struct.unpack("<I", sector[440:444])[0]
    primary: dict[int, int] = {}  # start byte → partition number (1–4)
    for i in range(4):
        entry = sector[446 + 16 * i : 462 + 16 * i]
        if entry[4] and entry[4] not in _EXTENDED_MBR_TYPES:
            primary[struct.unpack("<I", entry[8:12])[0] * 512] = i + 1
    table = pyvsmbr.volume()
    try:
        table.open_file_object(disk.stream)
    except OSError as exc:
        raise CorruptImage(f"{disk.name}: corrupt MBR partition table: {_short(exc)}") from exc
    logical = 5
    for part in table.partitions:
        offset, size = part.volume_offset, part.size
        if offset + size > disk.size:
            raise CorruptImage(f"{disk.name}: MBR partition at {offset} extends past the end of the disk")
        number = primary.get(offset)
        if number is None:
            number, logical = logical, logical + 1
        yield Volume(
            f"{base}p{number}",
            LayerStream(part, size, f"{disk.name} partition {number}"),
            size,
            index,
            partition=number,
            part_uuid=f"{signature:08x}-{number:02x}",
            part_type=f"{part.type:02x}",
        )


def _logical_volumes(pv: Volume) -> Iterator[Volume]:
    handle = pyvslvm.handle()
    handle.open_file_object(pv.stream)
    handle.open_physical_volume_files_as_file_objects([pv.stream])
    group = handle.get_volume_group()
    for lv in group.logical_volumes:
        size = lv.size
        volume = Volume(
            f"{group.name}/{lv.name}",
            LayerStream(lv, size, f"LVM {group.name}/{lv.name}"),
            size,
            pv.disk_index,
            lvm=(group.name, lv.name),
        )
        volume.probe = probe(volume.stream)
        yield volume


def _short(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text.split(". ")[-1] or type(exc).__name__
