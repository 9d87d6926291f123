"""Bounded byte sources for the libyal layers: every read is counted and checked against a deadline.

libyal's Python bindings accept any object with `read`, `seek`, `get_offset` and `get_size`; each layer
(container → partition → LVM → filesystem) is such an object for the next one. The outermost layer is a
`BoundedReader` over the image file, so the bytes read from the image and the time spent are measured
and bounded in one place, whatever the layers above do.
"""

from __future__ import annotations

import abc
import errno
import io
import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol, Self

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class ScanTimeout(Exception):
    """The image scan ran past its time limit."""


class LayerReadError(OSError):
    """A layer could not give the bytes asked for; the message names the layer and the reason.

    libyal passes it up as text inside its own error ("... with error: LayerReadError('...')"), so the
    layer that failed first is still the one named, however many layers it crossed.
    """


_SEEK_SET, _SEEK_CUR, _SEEK_END = os.SEEK_SET, os.SEEK_CUR, os.SEEK_END
_NESTED = re.compile(r"with error: LayerReadError\((['\"])(.*?)\1\)")


@dataclass
class ReadBudget:
    """Shared by every disk of one target: the bytes read so far and the deadline (monotonic seconds)."""

    deadline: float | None = None
    bytes_read: int = 0
    reads: int = 0
    timed_out: bool = field(default=False)
    past_end: str | None = None  # the first image file a read ran past the end of (a truncation hint)

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
        """Raise ScanTimeout once the deadline has passed.

        For loops that do not read, and after any error from a libyal call: a ScanTimeout raised inside a
        read that libyal made reaches Python again as a plain OSError, and this turns it back.
        """
        if self.timed_out or (self.deadline is not None and time.monotonic() > self.deadline):
            self.timed_out = True
            raise ScanTimeout("the image scan ran past its time limit")

    def explain(self, exc: BaseException) -> str:
        """Why a libyal call failed, in a line a user can act on; ScanTimeout if that was the cause.

        libyal messages chain "function: what failed." from the binding inwards; the function names are noise.
        """
        self.check()
        if isinstance(exc, LayerReadError):
            return str(exc)
        nested = _NESTED.search(str(exc))
        if nested:
            return nested.group(2)
        sentences = [part.split(": ", 1)[-1] for part in str(exc).strip().rstrip(".").split(". ")]
        reasons = list(dict.fromkeys(s for s in sentences[1:] or sentences if s))
        text = "; ".join(reasons)[:300] or type(exc).__name__
        if self.past_end is not None:
            text += (
                f" (a read ran past the end of {self.past_end}: a truncated image, or a table pointing there)"
            )
        return text


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
        self.identity = _identity(f)  # what a qcow2 backing chain compares to find a loop
        f.seek(0, os.SEEK_END)
        self._size = f.tell()
        f.seek(0)

    def read(self, size: int = -1) -> bytes:
        """A read by a libyal layer: one that runs past the end of the file hints at a truncated image."""
        start = self._f.tell()
        data = self._f.read(size)
        self._budget.charge(len(data))
        if 0 <= len(data) < size and start + size > self._size and self._budget.past_end is None:
            self._budget.past_end = f"{self.name} ({self._size} bytes)"
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def get_offset(self) -> int:
        return self._f.tell()

    tell = get_offset

    def get_size(self) -> int:
        return self._size

    def read_at(self, offset: int, size: int) -> bytes:
        """Read at `offset`, leaving the position where it was (libyal may be reading the same file)."""
        pos = self._f.tell()
        try:
            self._f.seek(offset)
            data = self._f.read(size)
            self._budget.charge(len(data))
            return data
        finally:
            self._f.seek(pos)

    def close(self) -> None:
        self._f.close()


class RawReader(abc.ABC):
    """A read-only, seekable stream of `size` bytes that a subclass serves by offset (`_read_at`).

    What every layer offers the next one (libyal calls `read`, `seek`, `get_offset`, `get_size`) and what a
    file opened in an image offers `io.BufferedReader` (`readinto`): the position, the bounds and the
    closed state live here once, with the semantics of a raw file. A read past the end returns short; a seek
    before the start is an error, as on a host file.

    Registered as an `io.RawIOBase` rather than derived from it: every attribute of an instance of a class
    derived from that C type is slower to reach, and a read through a partition took 23 % more instructions.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._pos = 0
        self.closed = False  # an attribute, not a property: io.BufferedReader asks on every call
        self.name = name

    @abc.abstractmethod
    def _read_at(self, offset: int, size: int) -> bytes:
        """`size` bytes at `offset` (0 < size, offset + size <= the stream's size): each reader's own."""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation(f"{self.name}: not a host file")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError(f"{self.name}: read from a closed stream")
        pos = self._pos
        n = self._size - pos
        if size is not None and 0 <= size < n:
            n = size
        if n <= 0:
            return b""
        data = self._read_at(pos, n)
        self._pos = pos + len(data)
        return data

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = _SEEK_SET) -> int:
        if whence == _SEEK_SET:
            pos = offset
        elif whence == _SEEK_CUR:
            pos = self._pos + offset
        elif whence == _SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if pos < 0 or self.closed:
            if self.closed:
                raise ValueError(f"{self.name}: seek in a closed stream")
            raise OSError(errno.EINVAL, f"{self.name}: seek to {pos}, before the start")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    get_offset = tell

    def get_size(self) -> int:
        return self._size

    def read_at(self, offset: int, size: int) -> bytes:
        """`size` bytes at `offset` (fewer at the end), leaving the position alone."""
        return read_at(self, offset, size)


io.RawIOBase.register(RawReader)  # type: ignore[type-abstract]  # an ABC registers as any class


def _identity(f: BinaryIO) -> tuple[int, int] | None:
    """The (device, inode) of a host file, None for a file object that is not one."""
    try:
        st = os.fstat(f.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last two
        return None
    return st.st_dev, st.st_ino


class LayerStream(RawReader):
    """Adapts a libyal object (qcow2 file, vhd, vmdk …) to the next layer's expectations.

    The libyal objects already read at an offset; what differs is how they report their size, and that
    `read` past the end must return short rather than fail.
    """

    def __init__(self, obj: object, size: int, name: str, budget: ReadBudget) -> None:
        super().__init__(size, name)
        self.handle = obj
        self.budget = budget

    def _read_at(self, offset: int, size: int) -> bytes:
        try:
            data: bytes = self.handle.read_buffer_at_offset(size, offset)  # type: ignore[attr-defined]
        except OSError as exc:
            reason = self.budget.explain(exc)
            if _NESTED.search(str(exc)):
                raise LayerReadError(reason) from exc  # a lower layer already said where and why
            raise LayerReadError(
                f"{self.name}: cannot read {size} bytes at offset {offset}: {reason}"
            ) from exc
        return data


class Window(RawReader):
    """A byte range of another stream: a partition is its disk from its first byte to its last.

    Reads go straight to the disk's stream. Through libvsgpt's partition object each read of a
    filesystem went Python -> C -> Python again: a walk of an xfs root on a GPT disk took 3.0 s, against
    1.8 s for the same filesystem as a bare image.
    """

    def __init__(self, stream: Stream, offset: int, size: int, name: str) -> None:
        super().__init__(size, name)
        self._stream = stream
        self._offset = offset

    def _read_at(self, offset: int, size: int) -> bytes:
        return read_at(self._stream, self._offset + offset, size)


def read_at(stream: Stream, offset: int, size: int) -> bytes:
    """`size` bytes at `offset` (fewer at the end of the stream), leaving the stream's position alone
    where it can: a libyal layer reading the same stream may rely on it."""
    if isinstance(stream, RawReader):  # the layers' own streams, without one more call: the hot path
        size = min(size, stream._size - offset)
        return stream._read_at(offset, size) if size > 0 and offset >= 0 else b""
    positional = getattr(stream, "read_at", None)  # BoundedReader
    if positional is not None:
        data: bytes = positional(offset, size)
        return data
    stream.seek(offset)
    return stream.read(size)
