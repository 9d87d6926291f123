"""The read-only filesystem protocol every view implements, and path resolution inside a target.

A target is a host tree (`LiveFS`) or a disk image (`ImageFS`). Paths are always absolute *inside the
target*: an absolute symlink in an image points into the image, never at the host, and `..` stops at the
target's root, as it would in a chroot. Backends implement a handful of node-level primitives
(`NodeFS`); resolution, loop detection and mount crossing live here once.
"""

from __future__ import annotations

import enum
import posixpath
import stat as stat_mod
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator
from typing import BinaryIO, Generic, NamedTuple, Protocol, Self, TypeVar

MAX_SYMLINK_HOPS = 40  # Linux's MAXSYMLINKS
MAX_PATH = 4096  # characters; Linux's PATH_MAX: no program opens a longer path in one call
_DIR_CACHE_SIZE = 4096


class FSError(Exception):
    """A file could not be read from the target; the message says which and why."""


class NotFound(FSError):
    """No such file or directory inside the target."""


class NotADirectory(FSError):
    """A path component is not a directory."""


class SymlinkLoop(FSError):
    """Resolving a path followed too many symbolic links (a loop)."""


class PathTooLong(FSError):
    """A path longer than `MAX_PATH`: a walk reports it and does not go below it."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: path longer than {MAX_PATH} characters ({len(path)}), not read")


class FileType(enum.Enum):
    REGULAR = "file"
    DIRECTORY = "dir"
    SYMLINK = "symlink"
    OTHER = "other"  # devices, fifos, sockets

    @classmethod
    def from_mode(cls, mode: int) -> FileType:
        if stat_mod.S_ISREG(mode):
            return cls.REGULAR
        if stat_mod.S_ISDIR(mode):
            return cls.DIRECTORY
        if stat_mod.S_ISLNK(mode):
            return cls.SYMLINK
        return cls.OTHER


class FileInfo(NamedTuple):
    """What `lstat` says about one entry.

    A named tuple, not a frozen dataclass: a walk makes one per entry (450k on a host) and a frozen
    dataclass's `__init__` costs three times as much.
    """

    path: str
    type: FileType
    size: int  # bytes of a regular file, length of a symlink's target, 0 for anything else
    mode: int
    mtime: int | None = None  # seconds since the epoch

    @property
    def name(self) -> str:
        return self.path[self.path.rfind("/") + 1 :] or "/"

    @property
    def is_file(self) -> bool:
        return self.type is FileType.REGULAR

    @property
    def is_dir(self) -> bool:
        return self.type is FileType.DIRECTORY

    @property
    def is_symlink(self) -> bool:
        return self.type is FileType.SYMLINK

    @property
    def is_executable(self) -> bool:
        return self.is_file and bool(self.mode & 0o111)


ErrorSink = Callable[[str, "FSError"], None]


class FileSystem(Protocol):
    """A read-only view of one target's files. Every method takes an absolute path inside the target."""

    description: str

    def stat(self, path: str) -> FileInfo:
        """`lstat` semantics: the last component is not followed, the ones before it are."""
        ...

    def open(self, path: str) -> BinaryIO:
        """A read-only, seekable file object; symlinks are followed inside the target."""
        ...

    def list_dir(self, path: str) -> Iterator[FileInfo]: ...

    def read_link(self, path: str) -> str: ...

    def resolve(self, path: str) -> str:
        """The canonical path inside the target, every symlink followed."""
        ...

    def walk(
        self, top: str = "/", *, skip: frozenset[str] = frozenset(), on_error: ErrorSink | None = None
    ) -> Iterator[FileInfo]:
        """Every entry under `top`, depth first, never following directory symlinks.

        `skip` prunes whole paths; an unreadable directory, an entry that cannot be examined and a path
        longer than `MAX_PATH` (not yielded, never descended: a deep tree stays bounded) go to `on_error`,
        and the walk goes on.
        """
        ...

    def bytes_read(self) -> int:
        """Bytes read from the underlying storage so far (0 when nothing meaningful can be counted)."""
        ...

    def close(self) -> None: ...


def path_components(path: str) -> list[str]:
    """A path's components, last first (the order `_resolve` pops them in)."""
    parts = [p for p in path.split("/") if p]
    parts.reverse()
    return parts


def normalize(path: str) -> str:
    """An absolute, normalised path inside the target (`..` cannot climb above `/`)."""
    if not path.startswith("/"):
        path = "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def read_bytes(fs: FileSystem, path: str, limit: int) -> bytes:
    """The whole file, or FSError when it is larger than `limit` (a bound on every read)."""
    with fs.open(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FSError(f"{path}: larger than the {limit}-byte limit for this file")
    return data


N = TypeVar("N")


class NodeFS(ABC, Generic[N]):
    """Shared resolution over a backend's nodes. Subclasses implement the primitives below.

    Mounts: `self._mounts` maps a canonical directory path to the root node of another filesystem
    (how an image's `/var` on a second volume is seen). Resolution switches node when it reaches one.
    """

    description = ""

    def __init__(self) -> None:
        self._mounts: dict[str, N] = {}
        # resolved directories (the resolution stack of each): opening the files one walk found costs one
        # lookup of the last component, not one per component. Cleared when a mount is added.
        self._dirs: dict[str, tuple[tuple[str, N], ...]] = {}

    # -- primitives -----------------------------------------------------------------------------
    @abstractmethod
    def _root(self) -> N: ...

    @abstractmethod
    def _child(self, node: N, name: str, path: str) -> N | None: ...

    @abstractmethod
    def _info(self, node: N, path: str) -> FileInfo: ...

    @abstractmethod
    def _children(self, node: N, path: str) -> Iterator[tuple[str, N]]: ...

    @abstractmethod
    def _link_target(self, node: N, path: str) -> str: ...

    @abstractmethod
    def _open(self, node: N, path: str) -> BinaryIO: ...

    def _identity(self, node: N) -> Hashable:
        """What makes a directory the same directory (device and inode), to stop walks in loops."""
        return None

    # -- resolution -----------------------------------------------------------------------------
    def _mounted(self, path: str, node: N) -> N:
        return self._mounts.get(path, node)

    def _lookup(self, path: str, *, follow_last: bool) -> tuple[str, N]:
        """Walk `path` component by component, following symlinks inside the target.

        `..` is resolved physically, as the kernel does: `/link/..` is the parent of the link's target, not
        the directory holding the link. It never climbs above the root.
        """
        parent, _, last = path.rpartition("/")
        if parent and last not in ("", ".", ".."):
            cached = self._dirs.get(parent)
            if cached is None:
                resolved = self._resolve(
                    self._root_stack(), path_components(parent), parent, follow_last=True
                )
                cached = tuple(resolved)
                self._remember_directory(parent, cached)
            return self._resolve(list(cached), [last], path, follow_last=follow_last)[-1]
        return self._resolve(self._root_stack(), path_components(path), path, follow_last=follow_last)[-1]

    def _remember_directory(self, path: str, chain: tuple[tuple[str, N], ...]) -> None:
        if len(self._dirs) >= _DIR_CACHE_SIZE:
            self._dirs.clear()
        self._dirs[path] = chain

    def _root_stack(self) -> list[tuple[str, N]]:
        return [("/", self._mounted("/", self._root()))]

    def _resolve(
        self, stack: list[tuple[str, N]], pending: list[str], path: str, *, follow_last: bool
    ) -> list[tuple[str, N]]:
        """Resolve the `pending` components (last first) from `stack`, the chain of directories so far."""
        hops = 0
        while pending:
            name = pending.pop()
            cur_path, cur = stack[-1]
            if name == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            if name == ".":
                continue
            if not self._info(cur, cur_path).is_dir:
                raise NotADirectory(f"{cur_path}: not a directory")
            child_path = posixpath.join(cur_path, name)
            child = self._child(cur, name, child_path)
            if child is None:
                raise NotFound(f"{child_path}: no such file or directory")
            child = self._mounted(child_path, child)
            info = self._info(child, child_path)
            if info.is_symlink and (pending or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise SymlinkLoop(f"{path}: too many levels of symbolic links")
                target = self._link_target(child, child_path)
                if not target:
                    raise NotFound(f"{child_path}: empty symbolic link")
                if target.startswith("/"):
                    del stack[1:]  # absolute links point into the target, never at the host
                pending.extend(path_components(target))
                continue
            stack.append((child_path, child))
        return stack

    # -- FileSystem -----------------------------------------------------------------------------
    def stat(self, path: str) -> FileInfo:
        real, node = self._lookup(path, follow_last=False)
        return self._info(node, real)

    def resolve(self, path: str) -> str:
        return self._lookup(path, follow_last=True)[0]

    def open(self, path: str) -> BinaryIO:
        real, node = self._lookup(path, follow_last=True)
        info = self._info(node, real)
        if info.is_dir:
            raise FSError(f"{path}: is a directory")
        if not info.is_file:
            raise FSError(f"{path}: not a regular file")
        return self._open(node, real)

    def read_link(self, path: str) -> str:
        real, node = self._lookup(path, follow_last=False)
        if not self._info(node, real).is_symlink:
            raise FSError(f"{path}: not a symbolic link")
        return self._link_target(node, real)

    def list_dir(self, path: str) -> Iterator[FileInfo]:
        real, node = self._lookup(path, follow_last=True)
        if not self._info(node, real).is_dir:
            raise NotADirectory(f"{path}: not a directory")
        for name, child in self._children(node, real):
            child_path = posixpath.join(real, name)
            yield self._info(self._mounted(child_path, child), child_path)

    def walk(
        self, top: str = "/", *, skip: frozenset[str] = frozenset(), on_error: ErrorSink | None = None
    ) -> Iterator[FileInfo]:
        # each directory with the chain of directories above it: what `_lookup` resumes from when an
        # extractor opens a file the walk found, instead of resolving its path again from the root
        top_chain = tuple(self._resolve(self._root_stack(), path_components(top), top, follow_last=True))
        real, node = top_chain[-1]
        if not self._info(node, real).is_dir:
            raise NotADirectory(f"{top}: not a directory")
        stack = [top_chain]
        seen: set[Hashable] = {self._identity(node)}
        while stack:
            chain = stack.pop()
            dir_path, dir_node = chain[-1]
            try:
                children = list(self._children(dir_node, dir_path))
            except FSError as exc:
                if on_error is not None:
                    on_error(dir_path, exc)
                continue
            self._remember_directory(dir_path, chain)
            for name, child in children:
                child_path = posixpath.join(dir_path, name)
                if child_path in skip:
                    continue
                if len(child_path) > MAX_PATH:
                    if on_error is not None:
                        on_error(child_path, PathTooLong(child_path))
                    continue
                child = self._mounted(child_path, child)
                info = self._info(child, child_path)
                yield info
                if info.is_dir:
                    identity = self._identity(child)
                    if identity is not None:
                        if identity in seen:
                            if on_error is not None:
                                on_error(child_path, SymlinkLoop(f"{child_path}: directory loop"))
                            continue
                        seen.add(identity)
                    stack.append((*chain, (child_path, child)))

    def bytes_read(self) -> int:
        return 0

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
