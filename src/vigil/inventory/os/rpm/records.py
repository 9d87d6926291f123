"""What the three rpm database readers share: the `Record` they yield, bounded reads, the errors.

A reader yields one `Record` per package slot: its header blob, or why that blob could not be read,
so one damaged record costs one package and the reader goes on (errors are data). A database that
cannot be read at all raises `RpmdbError` instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

from vigil.inventory.extractor import ExtractError

# The largest database read. An Amazon Linux 2 BerkeleyDB `Packages` on a big host passes 100 MiB;
# past 512 MiB the file is refused rather than read into memory.
MAX_DATABASE_SIZE = 512 << 20


class RpmdbError(ExtractError):
    """An rpm database, or one record in it, is malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class Record:
    """One package record: its header blob, or the reason it could not be read."""

    where: str  # "hnum 42", "slot 7 (package 5)", "page 12 item 3": for error messages
    blob: bytes = b""
    error: str | None = None


class ByteSource:
    """Random access to a database, held as bytes or as a seekable binary file; every read bounded."""

    def __init__(self, source: bytes | BinaryIO) -> None:
        if isinstance(source, bytes | bytearray | memoryview):
            self._file: BinaryIO = io.BytesIO(source)
            self.size = len(source)
        else:
            self._file = source
            self.size = source.seek(0, io.SEEK_END)

    def read(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes at `offset`; RpmdbError when they are not all in the file."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise RpmdbError(f"read of {length} bytes at offset {offset} is past the end ({self.size} bytes)")
        self._file.seek(offset)
        data = self._file.read(length)
        if len(data) != length:
            raise RpmdbError(f"short read: {len(data)} of {length} bytes at offset {offset}")
        return data

    def read_all(self) -> bytes:
        """The whole database, refused past MAX_DATABASE_SIZE."""
        if self.size > MAX_DATABASE_SIZE:
            raise RpmdbError(f"database of {self.size} bytes is over the {MAX_DATABASE_SIZE}-byte limit")
        return self.read(0, self.size)
