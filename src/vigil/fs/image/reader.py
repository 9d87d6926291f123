"""Bounded byte sources for the libyal layers: every read is counted and checked against a deadline.

libyal's Python bindings accept any object with `read`, `seek`, `get_offset` and `get_size`; each layer
(container → partition → LVM → filesystem) is such an object for the next one. The outermost layer is a
`BoundedReader` over the image file, so the bytes read from the image and the time spent are measured
and bounded in one place, whatever the layers above do.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol


class ScanTimeout(Exception):
    """The image scan ran past its time limit."""


@dataclass
class ReadBudget:
    """Shared by every disk of one target: the bytes read so far and the deadline (monotonic seconds)."""

    deadline: float | None = None
    bytes_read: int = 0
    reads: int = 0
    timed_out: bool = field(default=False)

    @classmethod
    def with_timeout(cls, seconds: float | None) -> ReadBudget:
        return cls(deadline=None if seconds is None else time.monotonic() + seconds)

    def charge(self, n: int) -> None:
        self.reads += 1
        self.bytes_read += n
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            raise ScanTimeout("the image scan ran past its time limit")

    def check(self) -> None:
        """Raise ScanTimeout once the deadline has passed (for loops that do not read)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            raise ScanTimeout("the image scan ran past its time limit")


class Stream(Protocol):
    """What libyal reads from (and what each layer offers the next)."""

    def read(self, size: int = -1) -> bytes: ...
    def seek(self, offset: int, whence: int = 0) -> int | None: ...
    def get_offset(self) -> int: ...
    def get_size(self) -> int: ...


class BoundedReader:
    """The image file itself (or any seekable file object), counted and bounded by a `ReadBudget`."""

    def __init__(self, f: BinaryIO, budget: ReadBudget, name: str) -> None:
        self._f = f
        self._budget = budget
        self.name = name
        f.seek(0, os.SEEK_END)
        self._size = f.tell()
        f.seek(0)

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._budget.charge(len(data))
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def get_offset(self) -> int:
        return self._f.tell()

    tell = get_offset

    def get_size(self) -> int:
        return self._size

    def read_at(self, offset: int, size: int) -> bytes:
        self._f.seek(offset)
        return self.read(size)

    def close(self) -> None:
        self._f.close()


class LayerStream:
    """Adapts a libyal object (qcow2 file, partition, logical volume …) to the next layer's expectations.

    The libyal objects already read and seek; what differs is how they report their size, and that
    `read` past the end must return short rather than fail.
    """

    def __init__(self, obj: object, size: int, name: str) -> None:
        self.handle = obj
        self._size = size
        self._pos = 0
        self.name = name

    def read(self, size: int = -1) -> bytes:
        remaining = self._size - self._pos
        if size < 0 or size > remaining:
            size = remaining
        if size <= 0:
            return b""
        data: bytes = self.handle.read_buffer_at_offset(size, self._pos)  # type: ignore[attr-defined]
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence == os.SEEK_END:
            offset += self._size
        if offset < 0:
            raise OSError(f"{self.name}: negative seek")
        self._pos = offset
        return offset

    def get_offset(self) -> int:
        return self._pos

    tell = get_offset

    def get_size(self) -> int:
        return self._size

    def read_at(self, offset: int, size: int) -> bytes:
        self.seek(offset)
        return self.read(size)


def read_at(stream: Stream, offset: int, size: int) -> bytes:
    """`size` bytes at `offset` (fewer at the end of the stream)."""
    stream.seek(offset)
    return stream.read(size)
