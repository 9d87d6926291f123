"""`LiveFS`: a directory tree of this machine seen as a target (`/` is the host itself)."""

from __future__ import annotations

import os
import posixpath
import stat as stat_mod
from collections.abc import Hashable, Iterator
from typing import BinaryIO, NamedTuple, cast

from vigil.fs.base import (
    MAX_PATH,
    ErrorSink,
    FileInfo,
    FileType,
    FSError,
    NodeFS,
    NotADirectory,
    PathTooLong,
    SymlinkLoop,
    path_components,
)
from vigil.fs.hostfile import open_regular

_KINDS = {
    stat_mod.S_IFREG: FileType.REGULAR,
    stat_mod.S_IFDIR: FileType.DIRECTORY,
    stat_mod.S_IFLNK: FileType.SYMLINK,
}


class _Node(NamedTuple):
    host_path: str
    st: os.stat_result


def _fs_error(exc: OSError, path: str) -> FSError:
    return FSError(f"{path}: {exc.strerror or exc}")


class WalkSplit:
    """A running walk's pending directories, for its caller to hand to another walker (a worker process).

    `take` removes the directories the walk would list last and gives their paths in the order the walk would
    have reached them. `entered` (after the walk) names the directories it went into, so that walkers sharing
    one tree can tell when a directory was reached twice (a bind mount), which one walk enters once.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[tuple[str, _Node], ...]] = []
        self._seen: set[tuple[int, int]] = set()
        self._top: frozenset[tuple[int, int]] = frozenset()

    def _attach(self, stack: list[tuple[tuple[str, _Node], ...]], seen: set[tuple[int, int]]) -> None:
        self._stack, self._seen, self._top = stack, seen, frozenset(seen)

    def pending(self) -> int:
        return len(self._stack)

    def take(self, count: int) -> list[str]:
        taken = self._stack[:count]  # the bottom of the stack: listed last
        del self._stack[:count]
        return [chain[-1][0] for chain in reversed(taken)]

    def entered(self) -> frozenset[tuple[int, int]]:
        return frozenset(self._seen - self._top)


class LiveFS(NodeFS[_Node]):
    """A host directory tree. Symlinks resolve inside `root`, so a tree copied from a VM reads as that VM."""

    def __init__(self, root: str = "/") -> None:
        super().__init__()
        self.root = os.path.abspath(root)
        if not os.path.isdir(self.root):
            raise FSError(f"{root}: not a directory")
        self.description = "this host" if self.root == "/" else f"directory {self.root}"
        self._bytes = 0

    def host_path(self, path: str) -> str:
        """Where a canonical target path lives on this machine."""
        return self.root if path == "/" else self.root.rstrip("/") + path

    def _root(self) -> _Node:
        return _Node(self.root, os.stat(self.root))

    def _child(self, node: _Node, name: str, path: str) -> _Node | None:
        host = posixpath.join(node.host_path, name)
        try:
            return _Node(host, os.lstat(host))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _fs_error(exc, path) from exc

    def _info(self, node: _Node, path: str) -> FileInfo:
        st = node.st
        kind = FileType.from_mode(st.st_mode)
        # a directory's size depends on the filesystem holding it: 0, as ImageFS reports it
        size = st.st_size if kind in (FileType.REGULAR, FileType.SYMLINK) else 0
        return FileInfo(path, kind, size, st.st_mode, int(st.st_mtime))

    def _children(self, node: _Node, path: str) -> Iterator[tuple[str, _Node]]:
        try:
            with os.scandir(node.host_path) as it:
                entries = list(it)
        except OSError as exc:
            raise _fs_error(exc, path) from exc
        for entry in entries:
            try:
                yield entry.name, _Node(entry.path, entry.stat(follow_symlinks=False))
            except OSError:
                continue  # vanished between listing and stat: a live host changes under us

    def walk(
        self,
        top: str = "/",
        *,
        skip: frozenset[str] = frozenset(),
        on_error: ErrorSink | None = None,
        split: WalkSplit | None = None,
    ) -> Iterator[FileInfo]:
        """`NodeFS.walk` on `os.scandir` directly: a host walk is hundreds of thousands of entries, and the
        generic node layer costs three times the `lstat` calls themselves (measured: 450k entries, 2.9 s
        against 8.6 s with the generic walk). Same order, same loop and error reporting. With `split`, the
        caller may take pending directories away between entries (see `WalkSplit`)."""
        if self._mounts:
            if split is not None:
                raise ValueError("a walk across mounts cannot be split")
            yield from super().walk(top, skip=skip, on_error=on_error)
            return
        top_chain = tuple(self._resolve(self._root_stack(), path_components(top), top, follow_last=True))
        node = top_chain[-1][1]
        if not stat_mod.S_ISDIR(node.st.st_mode):
            raise NotADirectory(f"{top}: not a directory")
        # each directory with the chain above it, so that opening a file the walk found is one lstat
        stack = [top_chain]
        seen: set[tuple[int, int]] = {(node.st.st_dev, node.st.st_ino)}
        if split is not None:
            split._attach(stack, seen)
        directory, regular, other = FileType.DIRECTORY, FileType.REGULAR, FileType.OTHER
        while stack:
            chain = stack.pop()
            dir_path, dir_node = chain[-1]
            try:
                with os.scandir(dir_node.host_path) as it:
                    entries = list(it)
            except OSError as exc:
                if on_error is not None:
                    on_error(dir_path, _fs_error(exc, dir_path))
                continue
            self._remember_directory(dir_path, chain)
            prefix = dir_path if dir_path == "/" else dir_path + "/"
            for entry in entries:
                path = prefix + entry.name
                if path in skip:
                    continue
                if len(path) > MAX_PATH:
                    if on_error is not None:
                        on_error(path, PathTooLong(path))
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # vanished between listing and stat: a live host changes under us
                except OSError as exc:
                    # the host's own limit (ENAMETOOLONG, counted with the root's path), or a directory
                    # that can be listed but not searched: the entry cannot be examined, and says so
                    if on_error is not None:
                        on_error(path, _fs_error(exc, path))
                    continue
                mode = st.st_mode
                kind = _KINDS.get(stat_mod.S_IFMT(mode), other)
                size = st.st_size if kind is regular or kind is FileType.SYMLINK else 0
                yield FileInfo(path, kind, size, mode, int(st.st_mtime))
                if kind is directory:
                    identity = (st.st_dev, st.st_ino)
                    if identity in seen:
                        if on_error is not None:
                            on_error(path, SymlinkLoop(f"{path}: directory loop"))
                        continue
                    seen.add(identity)
                    stack.append((*chain, (path, _Node(entry.path, st))))

    def _identity(self, node: _Node) -> Hashable:
        return (node.st.st_dev, node.st.st_ino)

    def _link_target(self, node: _Node, path: str) -> str:
        try:
            return os.readlink(node.host_path)
        except OSError as exc:
            raise _fs_error(exc, path) from exc

    def _open(self, node: _Node, path: str) -> BinaryIO:
        try:
            # nofollow: resolution already happened inside the target; never let the host follow a link.
            # The type is checked again on the descriptor: what `lstat` saw may have become a FIFO since.
            f, _ = open_regular(node.host_path, nofollow=True)
        except OSError as exc:
            raise _fs_error(exc, path) from exc
        return cast(BinaryIO, _CountingFile(f, self))

    def _count(self, n: int) -> None:
        self._bytes += n

    def bytes_read(self) -> int:
        return self._bytes


class _CountingFile:
    """A host file that reports how many bytes were read through it."""

    def __init__(self, f: BinaryIO, owner: LiveFS) -> None:
        self._f = f
        self._owner = owner

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._owner._count(len(data))
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self._f, name)

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def __iter__(self) -> Iterator[bytes]:
        for line in self._f:
            self._owner._count(len(line))
            yield line
