"""Recognise what a volume holds from its on-disk signatures, before any library opens it."""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from vigil.fs.image.reader import Stream, read_at

SUPPORTED_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs"})

_EXT3_HAS_JOURNAL = 0x4
_EXT4_INCOMPAT = 0x40 | 0x80 | 0x200  # extents, 64bit, flex_bg
_EXT4_64BIT = 0x80


@dataclass(frozen=True, slots=True)
class Probe:
    """What a volume holds: `kind` is a filesystem name, `lvm2`, `luks1`/`luks2`, `swap` or `unknown`."""

    kind: str
    uuid: str | None = None  # filesystem UUID, LUKS UUID, or LVM physical-volume UUID (without dashes)
    label: str | None = None
    fs_size: int = 0  # bytes the filesystem says it spans (0 when unknown): more than the volume = truncated

    @property
    def is_supported_filesystem(self) -> bool:
        return self.kind in SUPPORTED_FILESYSTEMS


def _text(raw: bytes) -> str | None:
    value = raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    return value or None


def _uuid(raw: bytes) -> str | None:
    return None if raw == bytes(16) else str(uuid.UUID(bytes=raw))


def probe(stream: Stream) -> Probe:
    """Identify the content of a volume from its first 68 KiB."""
    head = read_at(stream, 0, 0x10048)
    if head[:6] == b"LUKS\xba\xbe":
        version = struct.unpack(">H", head[6:8])[0]
        return Probe(f"luks{version}", uuid=_text(head[168:208]))
    for sector in range(4):
        label = head[sector * 512 : sector * 512 + 512]
        if label[:8] == b"LABELONE" and label[24:32] == b"LVM2 001":
            header = struct.unpack_from("<I", label, 20)[0]
            return Probe("lvm2", uuid=_text(label[header : header + 32]))
    if head[:4] == b"XFSB":
        block_size, blocks = struct.unpack_from(">IQ", head, 4)
        return Probe("xfs", uuid=_uuid(head[32:48]), label=_text(head[108:120]), fs_size=block_size * blocks)
    sb = head[1024:2048]
    if sb[56:58] == b"\x53\xef":
        compat, incompat = struct.unpack("<II", sb[92:100])
        kind = "ext4" if incompat & _EXT4_INCOMPAT else "ext3" if compat & _EXT3_HAS_JOURNAL else "ext2"
        return Probe(kind, uuid=_uuid(sb[104:120]), label=_text(sb[120:136]), fs_size=_ext_size(sb, incompat))
    kind = _other_kind(head)
    if kind == "btrfs":
        return Probe(kind, uuid=_uuid(head[0x10020:0x10030]), label=_text(head[0x1012B:0x1022B]))
    if kind == "vfat":
        return Probe(kind, uuid=_fat_serial(head), label=_fat_label(head))
    return Probe(kind)


def _fat_serial(head: bytes) -> str:
    """The volume serial as fstab's UUID= names it: XXXX-XXXX."""
    at = 67 if head[82:87] == b"FAT32" else 39
    serial: int = struct.unpack_from("<I", head, at)[0]
    return f"{serial >> 16:04X}-{serial & 0xFFFF:04X}"


def _fat_label(head: bytes) -> str | None:
    at = 71 if head[82:87] == b"FAT32" else 43
    label = _text(head[at : at + 11])
    return None if label == "NO NAME" else label


def _ext_size(sb: bytes, incompat: int) -> int:
    log_block_size: int = struct.unpack_from("<I", sb, 24)[0]
    if log_block_size > 6:
        return 0  # nonsense: libfsext will say what is wrong
    blocks: int = struct.unpack_from("<I", sb, 4)[0]
    if incompat & _EXT4_64BIT:
        blocks |= struct.unpack_from("<I", sb, 0x150)[0] << 32
    return blocks * (1024 << log_block_size)


def _other_kind(head: bytes) -> str:
    """Name the filesystems Vigil does not read, so the user is told what was found."""
    signatures = (
        (0x10040, b"_BHRfS_M", "btrfs"),
        (3, b"NTFS    ", "ntfs"),
        (3, b"-FVE-FS-", "bitlocker"),
        (0x8001, b"CD001", "iso9660"),
        (0, b"hsqs", "squashfs"),
        (0x8000, b"JFS1", "jfs"),
        (0x10034, b"ReIsEr", "reiserfs"),
        (1024, b"\x10\x20\xf5\xf2", "f2fs"),
        (4086, b"SWAPSPACE2", "swap"),
        (4086, b"SWAP-SPACE", "swap"),
        (0, b"bcachefs", "bcachefs"),
    )
    for offset, magic, name in signatures:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[510:512] == b"\x55\xaa" and (head[54:57] == b"FAT" or head[82:87] == b"FAT32"):
        return "vfat"
    if not any(head[:4096]):
        return "empty"
    return "unknown"
