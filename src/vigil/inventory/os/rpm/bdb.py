"""BerkeleyDB hash `Packages` (rpm before 4.16: CentOS 7, RHEL 8, Amazon Linux 2), read without libdb.

Page 0 is the hash metadata page: magic, page size and the last page number, in the byte order of the
host that wrote the file (both are read). Every hash page holds key/data item pairs; a key is a header
number and its data is the header blob, inline in the page when small and otherwise on a chain of
overflow pages. Hash pages are found by scanning the pages in order rather than through the bucket
table, which also finds pages a damaged table no longer points to. Overflow chains are followed with
every page used at most once across the file, so a loop or two chains sharing pages cost one error,
not a hang, and the work stays linear in the file size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from vigil.inventory.os.rpm.records import ByteSource, Record, RpmdbError

HASH_MAGIC = 0x061561

# page types (db_page.h)
P_HASH_UNSORTED, P_OVERFLOW, P_HASHMETA, P_HASH = 2, 7, 8, 13
# hash item types
H_KEYDATA, H_DUPLICATE, H_OFFPAGE, H_OFFDUP = 1, 2, 3, 4

PAGE_HEADER_SIZE = 26  # lsn, pgno, prev_pgno, next_pgno, entries, hf_offset, level, type
CHECKSUM_SIZE = 6  # with checksums on, 2 bytes of alignment and a 4-byte checksum follow the header
DBMETA_CHKSUM = 0x01  # metadata page flag (byte 26): pages carry checksums
VALID_PAGE_SIZES = frozenset(1 << n for n in range(9, 17))  # 512 … 65536
_OFFPAGE = "xxxII"  # after the type byte: 3 unused bytes, first overflow page, total length


def byte_order(meta: bytes) -> str | None:
    """`<` or `>` when `meta` (the first bytes of a file) is a BerkeleyDB hash metadata page."""
    if len(meta) < PAGE_HEADER_SIZE:
        return None
    for order in "<>":
        (magic,) = struct.unpack_from(order + "I", meta, 12)
        if magic == HASH_MAGIC and meta[25] == P_HASHMETA:
            return order
    return None


def read_bdb(source: bytes | BinaryIO) -> Iterator[Record]:
    """The header blob of every package in a BerkeleyDB hash `Packages` file."""
    return _BerkeleyHash(ByteSource(source)).records()


class _BerkeleyHash:
    def __init__(self, db: ByteSource) -> None:
        self._db = db
        meta = db.read(0, min(db.size, 512)) if db.size else b""
        order = byte_order(meta)
        if order is None:
            raise RpmdbError("not a BerkeleyDB hash database (no hash metadata page)")
        self._order = order
        self.page_size, encryption, _, flags = struct.unpack_from(order + "IBBB", meta, 20)
        if self.page_size not in VALID_PAGE_SIZES:
            raise RpmdbError(f"BerkeleyDB page size {self.page_size} is not a power of two in 512…65536")
        if encryption:
            raise RpmdbError("BerkeleyDB database is encrypted")
        (self.last_page,) = struct.unpack_from(order + "I", meta, 32)
        # where items start: checksums (not verified here) sit between the header and the items
        self._overhead = PAGE_HEADER_SIZE + (CHECKSUM_SIZE if flags & DBMETA_CHKSUM else 0)
        self.pages_in_file = db.size // self.page_size
        self._used_overflow: set[int] = set()

    def records(self) -> Iterator[Record]:
        last = min(self.last_page, self.pages_in_file - 1)
        if self.last_page >= self.pages_in_file:
            yield Record(
                "metadata",
                error=f"truncated: the last page is {self.last_page}, the file has {self.pages_in_file}",
            )
        for number in range(1, last + 1):
            page = self._db.read(number * self.page_size, self.page_size)
            if page[25] in (P_HASH, P_HASH_UNSORTED):
                yield from self._page_records(number, page)

    def _page_records(self, number: int, page: bytes) -> Iterator[Record]:
        (entries,) = struct.unpack_from(self._order + "H", page, 20)
        index_end = self._overhead + 2 * entries
        if entries % 2 or index_end > self.page_size:
            yield Record(f"page {number}", error=f"hash page with {entries} items")
            return
        offsets = struct.unpack_from(f"{self._order}{entries}H", page, self._overhead)
        if any(not index_end <= offset < self.page_size for offset in offsets):
            yield Record(f"page {number}", error="item offset outside the page")
            return
        for pair in range(0, entries, 2):
            where = f"page {number} item {pair // 2}"
            try:
                key = self._item(page, offsets, pair)
                if key == b"\0\0\0\0":  # rpm's record 0 holds a counter, not a header
                    continue
                yield Record(where, blob=self._item(page, offsets, pair + 1))
            except RpmdbError as exc:
                yield Record(where, error=str(exc))

    def _item(self, page: bytes, offsets: tuple[int, ...], index: int) -> bytes:
        """Item `index` of a hash page: inline bytes, or the concatenated overflow chain."""
        start = offsets[index]
        end = self.page_size if index == 0 else offsets[index - 1]  # items fill the page backwards
        if end <= start:
            raise RpmdbError(f"item of {end - start} bytes")
        kind = page[start]
        if kind == H_KEYDATA:
            return page[start + 1 : end]
        if kind == H_OFFPAGE and end - start >= 12:
            first, length = struct.unpack_from(self._order + _OFFPAGE, page, start + 1)
            return self._overflow(first, length)
        raise RpmdbError(f"hash item of type {kind}, not a package header")

    def _overflow(self, first: int, length: int) -> bytes:
        """`length` bytes on the overflow chain from page `first`; each page serves one chain."""
        if length > self._db.size:
            raise RpmdbError(f"overflow item of {length} bytes in a file of {self._db.size}")
        chunks: list[bytes] = []
        collected = 0
        number = first
        while collected < length:
            if number in self._used_overflow or not 0 < number < self.pages_in_file:
                raise RpmdbError(f"overflow chain reaches page {number} (looped, shared or outside the file)")
            self._used_overflow.add(number)
            page = self._db.read(number * self.page_size, self.page_size)
            if page[25] != P_OVERFLOW:
                raise RpmdbError(f"overflow chain reaches page {number} of type {page[25]}")
            next_page, _, used = struct.unpack_from(self._order + "IHH", page, 16)
            if used > self.page_size - self._overhead:
                raise RpmdbError(f"overflow page {number} claims {used} bytes")
            chunks.append(page[self._overhead : self._overhead + used])
            collected += used
            if collected < length and next_page == 0:
                raise RpmdbError(f"overflow chain ends after {collected} of {length} bytes")
            number = next_page
        if collected != length:
            raise RpmdbError(f"overflow chain holds {collected} bytes, the item says {length}")
        return b"".join(chunks)
