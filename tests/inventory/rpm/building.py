"""Write rpm header blobs and the three database formats, small and exact, for tests to damage."""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Sequence

Value = str | list[str] | int | list[int]

IMMUTABLE = 63
BIN, INT32, STRING, STRING_ARRAY = 7, 4, 6, 8


def header_blob(
    tags: dict[int, Value], *, region: bool = True, dribbles: dict[int, Value] | None = None
) -> bytes:
    """A header as rpmdb stores it: HEADERIMMUTABLE region over `tags`, then install-time `dribbles`."""
    store = bytearray()
    index: list[tuple[int, int, int, int]] = []

    def add(tag: int, value: Value) -> None:
        if isinstance(value, str):
            index.append((tag, STRING, len(store), 1))
            store.extend(value.encode() + b"\0")
        elif isinstance(value, int) or not all(isinstance(v, str) for v in value):
            numbers = [value] if isinstance(value, int) else [int(v) for v in value]
            store.extend(b"\0" * (-len(store) % 4))
            index.append((tag, INT32, len(store), len(numbers)))
            store.extend(struct.pack(f">{len(numbers)}I", *numbers))
        else:
            index.append((tag, STRING_ARRAY, len(store), len(value)))
            store.extend(b"".join(str(s).encode() + b"\0" for s in value))

    for tag, value in tags.items():
        add(tag, value)
    if region:
        count = len(index) + 1
        index.insert(0, (IMMUTABLE, BIN, len(store), 16))
        store.extend(struct.pack(">iIiI", IMMUTABLE, BIN, -count * 16, 16))
    for tag, value in (dribbles or {}).items():
        add(tag, value)
    entries = b"".join(struct.pack(">iIiI", *entry) for entry in index)
    return struct.pack(">II", len(index), len(store)) + entries + bytes(store)


def package_blob(
    name: str,
    version: str = "1.0",
    release: str = "1",
    *,
    epoch: int | None = None,
    arch: str = "x86_64",
    source_rpm: str | None = None,
    files: Sequence[str] = (),
) -> bytes:
    """The header of an installed package with compressed file names."""
    tags: dict[int, Value] = {1000: name, 1001: version, 1002: release}
    if epoch is not None:
        tags[1003] = epoch
    tags[1022] = arch
    tags[1044] = source_rpm or f"{name}-{version}-{release}.src.rpm"
    if files:
        dirs = sorted({f.rsplit("/", 1)[0] + "/" for f in files})
        tags[1116] = [dirs.index(f.rsplit("/", 1)[0] + "/") for f in files]
        tags[1117] = [f.rsplit("/", 1)[1] for f in files]
        tags[1118] = dirs
    return header_blob(tags)


# -- BerkeleyDB hash -----------------------------------------------------------------------------


def bdb_file(
    blobs: Sequence[bytes],
    *,
    page_size: int = 512,
    order: str = "<",
    inline: bool = False,
    counter: bool = False,
    checksummed: bool = False,
) -> bytes:
    """A hash `Packages`: page 0 metadata, page 1 one hash page, then each blob's overflow chain.

    Keys are header numbers 1, 2, …; with `inline`, blobs are stored inside the hash page instead;
    with `counter`, rpm's record 0 (the next header number) comes first; with `checksummed`, pages
    keep 6 bytes for a checksum (left zero) between their header and their items.
    """
    overhead = 32 if checksummed else 26
    overflow_room = page_size - overhead
    pages: list[bytes] = []
    items: list[bytes] = []
    if counter:
        items += [b"\x01" + bytes(4), b"\x01" + struct.pack(order + "I", len(blobs) + 1)]
    next_page = 2
    for number, blob in enumerate(blobs, 1):
        items.append(b"\x01" + struct.pack(order + "I", number))
        if inline:
            items.append(b"\x01" + blob)
            continue
        chunks = [blob[i : i + overflow_room] for i in range(0, len(blob), overflow_room)] or [b""]
        items.append(struct.pack(order + "B3xII", 3, next_page, len(blob)))
        for i, chunk in enumerate(chunks):
            following = next_page + 1 if i < len(chunks) - 1 else 0
            pages.append(
                _page(order, page_size, next_page, following, 0, len(chunk), 7, bytes(overhead - 26) + chunk)
            )
            next_page += 1
    hash_page = bytearray(page_size)
    end = page_size
    offsets = []
    for item in items:
        end -= len(item)
        hash_page[end : end + len(item)] = item
        offsets.append(end)
    header = _page(order, page_size, 1, 0, len(items), end, 13, b"")[:26]
    hash_page[:26] = header
    struct.pack_into(f"{order}{len(offsets)}H", hash_page, overhead, *offsets)
    meta = bytearray(page_size)
    struct.pack_into(order + "I", meta, 8, 0)
    struct.pack_into(order + "IIIBBB", meta, 12, 0x061561, 9, page_size, 0, 8, int(checksummed))
    struct.pack_into(order + "I", meta, 32, 1 + len(pages))
    return bytes(meta) + bytes(hash_page) + b"".join(pages)


def _page(
    order: str, size: int, number: int, following: int, entries: int, offset: int, kind: int, data: bytes
) -> bytes:
    header = bytes(8) + struct.pack(order + "IIIHHBB", number, 0, following, entries, offset, 0, kind)
    return (header + data).ljust(size, b"\0")


# -- ndb -----------------------------------------------------------------------------------------


def ndb_file(blobs: Sequence[bytes]) -> bytes:
    """A `Packages.db` with one slot page and the blobs after it, package indexes 1, 2, …"""
    slots = bytearray()
    area = bytearray()
    first_block = 4096 // 16
    for index, blob in enumerate(blobs, 1):
        head = struct.pack("<4sIII", b"BlbS", index, 0, len(blob))
        blocks = (16 + len(blob) + 12 + 15) // 16
        body = head + blob + bytes(blocks * 16 - 16 - len(blob) - 12)
        tail = struct.pack("<II4s", zlib.adler32(body), len(blob), b"BlbE")
        slots += struct.pack("<4sIII", b"Slot", index, first_block + len(area) // 16, blocks)
        area += body + tail
    page = bytearray(struct.pack("<4sIIII", b"RpmP", 0, 1, 1, len(blobs) + 1).ljust(32, b"\0"))
    page += slots
    while len(page) < 4096:
        page += struct.pack("<4sIII", b"Slot", 0, 0, 0)
    return bytes(page) + bytes(area)


# -- SQLite --------------------------------------------------------------------------------------


def sqlite_file(blobs: Sequence[object], *, schema: str | None = None) -> bytes:
    """An `rpmdb.sqlite` with rpm's schema (or `schema`) holding `blobs` as rows 1, 2, …"""
    connection = sqlite3.connect(":memory:")
    connection.execute(
        schema or "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"
    )
    if schema is None:
        connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    connection.commit()
    data = connection.serialize()
    connection.close()
    return data
