"""Recognise what a volume holds from its on-disk signatures, before any library opens it."""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from vigil.fs.image.reader import Stream, read_at

SUPPORTED_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs"})

_EXT3_HAS_JOURNAL = 0x4
_EXT4_INCOMPAT = 0x40 | 0x80 | 0x200  # extents, 64bit, flex_bg


@dataclass(frozen=True, slots=True)
class Probe:
    """What a volume holds: `kind` is a filesystem name, `lvm2`, `luks1`/`luks2`, `swap` or `unknown`."""

    kind: str
    uuid: str | None = None
    label: str | None = None

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
        label = head[sector * 512 : sector * 512 + 32]
        if label[:8] == b"LABELONE" and label[24:32] == b"LVM2 001":
            return Probe("lvm2")
    if head[:4] == b"XFSB":
        return Probe("xfs", uuid=_uuid(head[32:48]), label=_text(head[108:120]))
    sb = head[1024:2048]
    if sb[56:58] == b"\x53\xef":
        compat, incompat = struct.unpack("<II", sb[92:100])
        kind = "ext4" if incompat & _EXT4_INCOMPAT else "ext3" if compat & _EXT3_HAS_JOURNAL else "ext2"
        return Probe(kind, uuid=_uuid(sb[104:120]), label=_text(sb[120:136]))
    return Probe(_other_kind(head))


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
