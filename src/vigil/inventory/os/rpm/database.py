"""Which of rpm's three database formats a file is, told by its content rather than its name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from vigil.inventory.os.rpm import bdb, ndb, sqlite
from vigil.inventory.os.rpm.records import ByteSource, Record, RpmdbError

Reader = Callable[[bytes | BinaryIO], Iterator[Record]]


def sniff(start: bytes) -> str | None:
    """`sqlite`, `ndb` or `bdb` from a file's first 512 bytes; None for anything else."""
    if start.startswith(sqlite.MAGIC):
        return "sqlite"
    if start.startswith(ndb.MAGIC):
        return "ndb"
    if bdb.byte_order(start):
        return "bdb"
    return None


READERS: dict[str, Reader] = {"sqlite": sqlite.read_sqlite, "ndb": ndb.read_ndb, "bdb": bdb.read_bdb}


def read_database(source: bytes | BinaryIO) -> Iterator[Record]:
    """Every package record of an rpm database in any format; RpmdbError when it is none of them."""
    if isinstance(source, bytes):
        start = source[:512]
    else:
        db = ByteSource(source)
        start = db.read(0, min(db.size, 512))
    kind = sniff(start)
    if kind is None:
        raise RpmdbError(_unknown(start))
    return READERS[kind](source)


def _unknown(start: bytes) -> str:
    if not start:
        return "empty file, not an rpm database"
    return "not an rpm database (neither SQLite, ndb nor BerkeleyDB hash)"
