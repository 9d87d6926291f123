"""rpm's own "ndb" `Packages.db` (SUSE since SLE 15 SP3 / Leap 15.3), read without the rpm tool.

Layout (rpm `lib/backend/ndb/rpmpkg.c`; everything little-endian): a 32-byte header (`RpmP`,
version 0, generation, slot page count, next package index) sharing the first 4 KiB slot page with
the first slots. Each 16-byte slot (`Slot`, package index, block offset, block count) points at a
blob in 16-byte blocks: a head (`BlbS`, package index, timestamp, length), the header blob, zero
padding, and a tail (Adler-32 of head + blob + padding, length, `BlbE`). A slot with block offset 0
is free.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from vigil.inventory.os.rpm.records import ByteSource, Record, RpmdbError

MAGIC = b"RpmP"
SLOT_MAGIC = b"Slot"
BLOB_HEAD_MAGIC = b"BlbS"
BLOB_TAIL_MAGIC = b"BlbE"

HEADER_SIZE = 32
SLOT_PAGE_SIZE = 4096
SLOT_SIZE = 16
BLOCK_SIZE = 16
BLOB_HEAD_SIZE = 16
BLOB_TAIL_SIZE = 12


def read_ndb(source: bytes | BinaryIO) -> Iterator[Record]:
    """The header blob of every package in an ndb `Packages.db` file."""
    db = ByteSource(source)
    slot_pages = _slot_page_count(db)
    slots = db.read(HEADER_SIZE, slot_pages * SLOT_PAGE_SIZE - HEADER_SIZE)
    return _records(db, slots, slot_pages)


def _slot_page_count(db: ByteSource) -> int:
    if db.size < SLOT_PAGE_SIZE:
        raise RpmdbError(f"ndb database of {db.size} bytes is shorter than one slot page")
    magic, version, _generation, slot_pages = struct.unpack("<4sIII", db.read(0, 16))
    if magic != MAGIC:
        raise RpmdbError("not an ndb database (no RpmP magic)")
    if version != 0:
        raise RpmdbError(f"ndb database version {version} is not supported")
    if not 0 < slot_pages <= db.size // SLOT_PAGE_SIZE:
        raise RpmdbError(f"ndb header claims {slot_pages} slot pages in a file of {db.size} bytes")
    return int(slot_pages)


def _records(db: ByteSource, slots: bytes, slot_pages: int) -> Iterator[Record]:
    """Blobs in file order, as rpm lists them; overlapping slots are refused so reads stay linear."""
    used: list[tuple[int, int, str, int]] = []  # block, blocks, where, package
    for number, (magic, package, block, blocks) in enumerate(struct.iter_unpack("<4sIII", slots), 2):
        where = f"slot {number} (package {package})"
        if magic != SLOT_MAGIC:
            yield Record(where, error="bad slot magic; the slot pages are damaged")
            break
        if block == 0:
            continue
        if block < slot_pages * SLOT_PAGE_SIZE // BLOCK_SIZE or (block + blocks) * BLOCK_SIZE > db.size:
            yield Record(where, error=f"blocks {block}+{blocks} are outside the blob area")
            continue
        used.append((block, blocks, where, package))
    end = 0
    for block, blocks, where, package in sorted(used):
        if block < end:
            yield Record(where, error=f"blocks {block}+{blocks} overlap another package's blob")
            continue
        end = block + blocks
        try:
            yield Record(where, blob=_blob(db, package, block, blocks))
        except RpmdbError as exc:
            yield Record(where, error=str(exc))


def _blob(db: ByteSource, package: int, block: int, blocks: int) -> bytes:
    """The header blob in `blocks` blocks from `block`, its head, tail and checksum verified."""
    area = db.read(block * BLOCK_SIZE, blocks * BLOCK_SIZE)
    if len(area) < BLOB_HEAD_SIZE + BLOB_TAIL_SIZE:
        raise RpmdbError(f"{blocks} blocks cannot hold a blob")
    magic, owner, _timestamp, length = struct.unpack_from("<4sIII", area)
    if magic != BLOB_HEAD_MAGIC or owner != package:
        raise RpmdbError(f"no blob of package {package} at block {block}")
    if blocks != (BLOB_HEAD_SIZE + length + BLOB_TAIL_SIZE + BLOCK_SIZE - 1) // BLOCK_SIZE:
        raise RpmdbError(f"blob of {length} bytes does not fill its {blocks} blocks")
    checksum, tail_length, tail_magic = struct.unpack_from("<II4s", area, len(area) - BLOB_TAIL_SIZE)
    if tail_magic != BLOB_TAIL_MAGIC or tail_length != length:
        raise RpmdbError("blob tail does not match its head")
    if zlib.adler32(area[: len(area) - BLOB_TAIL_SIZE]) != checksum:
        raise RpmdbError("blob checksum mismatch")
    return area[BLOB_HEAD_SIZE : BLOB_HEAD_SIZE + length]
