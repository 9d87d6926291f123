"""Volume systems: GPT and MBR partition tables, LVM2 logical volumes, LUKS detection.

Every disk becomes a flat list of `Volume`s, each with the names an `/etc/fstab` may use for it
(partition number, PARTUUID, LVM volume group and logical volume) and what `probe` found on it. What cannot be
read (a damaged table, a partition past the end of the disk, a volume group missing a disk) is recorded in
`VolumeScan.problems` and the rest of the disks are still read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyvsgpt
import pyvsmbr

from vigil.fs.image import lvm
from vigil.fs.image.containers import Disk
from vigil.fs.image.errors import CorruptImage
from vigil.fs.image.probe import Probe, probe
from vigil.fs.image.reader import RawReader, ReadBudget, Stream, Window, read_at

_EXTENDED_MBR_TYPES = frozenset({0x05, 0x0F, 0x85})
_GPT_PROTECTIVE = 0xEE
_PADDED_SIZE = 1 << 50


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
            found = list(_partitions(disk, index, result.problems, budget))
        except CorruptImage as exc:
            result.problems.append(str(exc))
            continue
        for volume in found:
            try:
                volume.probe = probe(volume.stream)
            except OSError as exc:
                result.problems.append(f"{volume.name}: unreadable: {budget.explain(exc)}")
                continue
            if volume.probe.fs_size > volume.size:
                result.problems.append(
                    f"{volume.name}: the {volume.probe.kind} filesystem needs {volume.probe.fs_size} bytes "
                    f"but the volume holds {volume.size}: the image looks truncated"
                )
            (physical if volume.probe.kind == "lvm2" else result.volumes).append(volume)
    result.volumes.extend(_logical_volumes(physical, result.problems, budget))
    return result


def _partitions(disk: Disk, index: int, problems: list[str], budget: ReadBudget) -> Iterator[Volume]:
    stream = disk.stream
    base = f"disk{index}"
    try:
        is_gpt = pyvsgpt.check_volume_signature_file_object(stream)
        mbr_types = _mbr_types(stream)
    except OSError as exc:
        raise CorruptImage(f"{disk.name}: cannot read the partition table: {budget.explain(exc)}") from exc
    if is_gpt:
        yield from _gpt(disk, index, base, problems, budget)
    elif _GPT_PROTECTIVE in mbr_types:
        raise CorruptImage(f"{disk.name}: corrupt GPT: a protective MBR but no GPT header in sector 1")
    elif mbr_types:
        yield from _mbr(disk, index, base, problems, budget)
    else:
        yield Volume(base, stream, disk.size, index)


def _gpt(disk: Disk, index: int, base: str, problems: list[str], budget: ReadBudget) -> Iterator[Volume]:
    table = pyvsgpt.volume()
    try:
        table.open_file_object(disk.stream)
    except OSError as exc:
        header = read_at(disk.stream, 512, 92)
        backup_lba = struct.unpack_from("<Q", header, 32)[0] if len(header) == 92 else 0
        if (backup_lba + 1) * 512 > disk.size:
            raise CorruptImage(
                f"{disk.name}: truncated image: its GPT describes a disk of {(backup_lba + 1) * 512} bytes, "
                f"the image holds {disk.size}"
            ) from exc
        reason = budget.explain(exc)
        # libvsgpt refuses a whole table for one entry past the end of the disk; the kernel skips that
        # partition and reads the others, and so do we (each one past the end is a problem below)
        table = pyvsgpt.volume()
        try:
            table.open_file_object(_Padded(disk.stream, disk.size))
        except OSError:
            raise CorruptImage(f"{disk.name}: cannot read the GPT: {reason}") from exc
    for part in table.partitions:
        number = part.entry_index + 1
        offset, size = part.volume_offset, part.size
        if offset + size > disk.size:
            problems.append(f"{disk.name}: GPT partition {number} extends past the end of the disk, not read")
            continue
        yield Volume(
            f"{base}p{number}",
            Window(disk.stream, offset, size, f"{disk.name} partition {number}"),
            size,
            index,
            partition=number,
            part_uuid=(part.identifier or "").lower() or None,
            part_type=(part.type_identifier or "").lower() or None,
        )


class _Padded(RawReader):
    """A disk seen through a much larger window, zeros past its end (only partition tables read it)."""

    def __init__(self, stream: Stream, size: int) -> None:
        super().__init__(_PADDED_SIZE, "padded disk")
        self._stream = stream
        self._disk_size = size

    def _read_at(self, offset: int, size: int) -> bytes:
        within = max(0, min(size, self._disk_size - offset))
        data = read_at(self._stream, offset, within) if within else b""
        return data + bytes(size - len(data))


def _mbr_types(stream: Stream) -> set[int]:
    """The partition types in a sector-0 MBR, or none when sector 0 is not a partition table."""
    sector = read_at(stream, 0, 512)
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        return set()
    entries = [sector[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    # a filesystem boot sector also ends in 55 AA: require sane entries (status 0x00/0x80, a type)
    if not all(e[0] in (0, 0x80) for e in entries):
        return set()
    return {e[4] for e in entries if e[4]}


def _mbr(disk: Disk, index: int, base: str, problems: list[str], budget: ReadBudget) -> Iterator[Volume]:
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
        parts = list(table.partitions)
    except OSError as exc:
        raise CorruptImage(
            f"{disk.name}: cannot read the MBR partition table: {budget.explain(exc)}"
        ) from exc
    logical = 5
    for part in parts:
        offset, size = part.volume_offset, part.size
        number = primary.get(offset)
        if number is None:
            number, logical = logical, logical + 1
        if offset + size > disk.size:
            problems.append(f"{disk.name}: MBR partition {number} extends past the end of the disk, not read")
            continue
        yield Volume(
            f"{base}p{number}",
            Window(disk.stream, offset, size, f"{disk.name} partition {number}"),
            size,
            index,
            partition=number,
            part_uuid=f"{signature:08x}-{number:02x}",
            part_type=f"{part.type:02x}",
        )


def _logical_volumes(physical: list[Volume], problems: list[str], budget: ReadBudget) -> Iterator[Volume]:
    """The logical volumes of every volume group, each group read once over all its physical volumes."""
    by_uuid = {pv.probe.uuid: pv for pv in physical if pv.probe.uuid}
    seen: set[str] = set()
    for pv in physical:
        try:
            group = lvm.volume_group(pv.stream)
        except (lvm.LvmError, OSError) as exc:
            if isinstance(exc, lvm.LvmError) and "keeps no metadata" in str(exc):
                continue  # `pvcreate --metadatacopies 0`: the group is read through another member
            problems.append(f"{pv.name}: cannot read LVM2 metadata: {budget.explain(exc)}")
            continue
        if group.uuid in seen:
            continue
        seen.add(group.uuid)
        missing = [uuid for uuid in group.members if uuid not in by_uuid]
        if missing:
            problems.append(
                f"LVM volume group {group.name}: {len(missing)} of its {len(group.members)} physical volumes "
                "are not on the given disks; only logical volumes entirely on the others are read"
            )
        streams = {uuid: by_uuid[uuid].stream for uuid in group.members if uuid in by_uuid}
        try:
            found = list(lvm.logical_volumes(group, streams))
        except (lvm.LvmError, ValueError, TypeError, AttributeError) as exc:
            problems.append(f"LVM volume group {group.name}: malformed metadata: {exc}")
            continue
        for lv in found:
            if isinstance(lv, str):
                problems.append(lv)
                continue
            volume = Volume(
                f"{group.name}/{lv.name}", lv, lv.get_size(), pv.disk_index, lvm=(group.name, lv.name)
            )
            try:
                volume.probe = probe(volume.stream)
            except OSError as exc:
                problems.append(f"{volume.name}: unreadable: {budget.explain(exc)}")
                continue
            yield volume
