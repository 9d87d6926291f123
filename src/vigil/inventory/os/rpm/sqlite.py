"""SQLite `rpmdb.sqlite` (rpm 4.16+: EL9, Amazon Linux 2023, Fedora 33+): table `Packages(hnum, blob)`.

The database is opened in memory with `Connection.deserialize`, never from its path: the target is
read-only and SQLite would otherwise create journal or WAL files next to it. rpm keeps the database
in WAL mode, which an in-memory copy cannot open, so the copy is marked as a rollback-journal
database first (transactions still in an `rpmdb.sqlite-wal` file are not seen). The file is
untrusted: `Packages` must be a plain stored table (no view, no generated column), so reading it is
linear in the file, and values are capped at the file's size.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from typing import BinaryIO

from vigil.inventory.os.rpm.records import ByteSource, Record, RpmdbError

MAGIC = b"SQLite format 3\0"
_WAL = 2  # the file format read/write version bytes (offsets 18, 19) in a WAL-mode database
_LEGACY = 1


def read_sqlite(source: bytes | BinaryIO) -> Iterator[Record]:
    """The header blob of every package in an rpm SQLite database."""
    data = source if isinstance(source, bytes) else ByteSource(source).read_all()
    if not data.startswith(MAGIC) or len(data) < 100:
        raise RpmdbError("not a SQLite database")
    connection = _open(data)
    return _records(connection)


def _as_readable_image(data: bytes) -> bytes | bytearray:
    """`data`, or a copy marked as a rollback-journal database and sized to what the file holds.

    A truncated file still claims its full page count, and SQLite then refuses even the pages that
    are there; with the count fixed it reads every row before the cut.
    """
    (page_size,) = struct.unpack_from(">H", data, 16)
    page_size = 65536 if page_size == 1 else page_size
    (claimed_pages,) = struct.unpack_from(">I", data, 28)
    pages = len(data) // page_size if page_size else 0
    wal = data[18] == _WAL or data[19] == _WAL
    if not wal and claimed_pages <= pages:
        return data
    image = bytearray(data)
    if wal:
        image[18] = image[19] = _LEGACY
    if claimed_pages > pages:
        struct.pack_into(">I", image, 28, pages)
    return image


def _open(data: bytes) -> sqlite3.Connection:
    image = _as_readable_image(data)
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(image)
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(len(data), 1 << 20))
        for pragma in ("query_only = ON", "trusted_schema = OFF", "cell_size_check = ON"):
            connection.execute(f"PRAGMA {pragma}")
        problem = _schema_problem(connection)
    except sqlite3.Error as exc:
        connection.close()
        raise RpmdbError(f"unreadable SQLite database: {exc}") from exc
    if problem:
        connection.close()
        raise RpmdbError(problem)
    return connection


def _schema_problem(connection: sqlite3.Connection) -> str | None:
    """Why `Packages` is not a plain stored table, which is what keeps a scan linear in the file.

    A view can recurse forever and a generated column can compute anything; rpm never makes either.
    """
    tables = connection.execute(
        "SELECT type, rootpage FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE"
    ).fetchall()
    if not tables:
        return "SQLite database without a Packages table"
    if len(tables) != 1 or tables[0][0] != "table" or not tables[0][1]:
        return f"Packages is not a plain table ({tables[0][0]})"
    columns = {row[1]: row[6] for row in connection.execute("PRAGMA table_xinfo(Packages)")}
    if not {"hnum", "blob"} <= columns.keys() or any(columns.values()):
        return "Packages table without plain hnum and blob columns"
    return None


def _records(connection: sqlite3.Connection) -> Iterator[Record]:
    """Each row's blob; a damaged page ends the scan with one error, keeping the rows before it."""
    try:
        cursor = connection.execute("SELECT hnum, blob FROM Packages")
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.Error as exc:
                yield Record("Packages table", error=f"scan stopped: {exc}")
                return
            if row is None:
                return
            hnum, blob = row
            if isinstance(blob, bytes):
                yield Record(f"hnum {hnum}", blob=blob)
            else:
                yield Record(f"hnum {hnum}", error=f"blob is a {type(blob).__name__}, not bytes")
    except sqlite3.Error as exc:
        yield Record("Packages table", error=f"unreadable: {exc}")
    finally:
        connection.close()
