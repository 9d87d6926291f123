"""The extractor plug-in interface: extractors declare the files they want as data and never walk.

The collector (`collect.py`) indexes every extractor's `Wants` once, walks the target at most once, and
hands each wanted file to the extractors that asked for it. When only exact paths and directory
children are wanted (the OS inventory), there is no walk at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar, Protocol

from vigil.fs import FileInfo, FileSystem, FSError, read_bytes
from vigil.inventory.model import OSInfo, Package

DEFAULT_FILE_LIMIT = 64 << 20  # a package database or manifest larger than this is refused


@dataclass(frozen=True, slots=True)
class Wants:
    """The files an extractor wants, as data the collector can index."""

    paths: frozenset[str] = frozenset()  # exact paths: "/var/lib/dpkg/status"
    dirs: frozenset[str] = frozenset()  # every child of these directories: "/var/lib/dpkg/status.d"
    names: frozenset[str] = frozenset()  # base names anywhere in scope: "package-lock.json"
    suffixes: tuple[str, ...] = ()  # path suffixes anywhere in scope: ".jar", ".dist-info/METADATA"
    executables: bool = False  # regular files with an execute bit (the extractor checks the magic)
    # (database, directory): when `directory` exists the package manager is installed, and a missing
    # `database` means its packages cannot be known (an error), unless the extractor read other files
    expected: frozenset[tuple[str, str]] = frozenset()

    @property
    def needs_walk(self) -> bool:
        return bool(self.names or self.suffixes or self.executables)


@dataclass
class FoundFile:
    """A wanted file handed to an extractor: opened only if the extractor reads it."""

    info: FileInfo
    fs: FileSystem
    _on_read: Callable[[str], None] = field(repr=False, default=lambda _: None)

    @property
    def path(self) -> str:
        return self.info.path

    def open(self) -> BinaryIO:
        self._on_read(self.path)
        return self.fs.open(self.path)

    def read(self, limit: int = DEFAULT_FILE_LIMIT) -> bytes:
        """The whole file; FSError past `limit` bytes (every read is bounded)."""
        self._on_read(self.path)
        return read_bytes(self.fs, self.path, limit)

    def read_text(self, limit: int = DEFAULT_FILE_LIMIT) -> str:
        return self.read(limit).decode("utf-8", "replace")


class ExtractContext(Protocol):
    """What an extractor may use besides its file."""

    @property
    def os(self) -> OSInfo | None: ...

    def own_files(self, owner: Package | str, paths: Iterable[str]) -> None:
        """Record that an OS package (or package name) installed `paths`: language packages there are its."""
        ...

    def error(self, path: str, message: str) -> None:
        """Record a per-file error; the extractor goes on with the next file."""
        ...


class Extractor(Protocol):
    """One package format. Stateless: everything it learns goes out through its return value."""

    name: ClassVar[str]  # stable, goes into results: "os/dpkg", "language/python/dist-info"
    version: ClassVar[int]  # bumped when its output changes
    wants: ClassVar[Wants]

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        """The packages one wanted file declares. Raise FSError/ValueError for a bad file."""
        ...


class ExtractError(ValueError):
    """A wanted file is malformed; the message says where."""


__all__ = [
    "DEFAULT_FILE_LIMIT",
    "ExtractContext",
    "ExtractError",
    "Extractor",
    "FSError",
    "FoundFile",
    "Wants",
]
