"""`ImageFS`: an instance's disks read as one filesystem tree, the way the instance would mount them."""

from __future__ import annotations

import io
import stat
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple, cast

import pyfsext
import pyfsxfs

from vigil.fs.base import FileInfo, FileType, FSError, NodeFS
from vigil.fs.image.containers import Disk
from vigil.fs.image.errors import CorruptImage, UnsupportedFilesystem
from vigil.fs.image.reader import RawReader, ReadBudget
from vigil.fs.image.volumes import Volume

_OPENERS: dict[str, Any] = {"ext2": pyfsext, "ext3": pyfsext, "ext4": pyfsext, "xfs": pyfsxfs}


def open_filesystem(volume: Volume, budget: ReadBudget) -> Any:
    """The libyal filesystem object for a volume that `probe` recognised as ext or xfs."""
    module = _OPENERS.get(volume.probe.kind)
    if module is None:
        raise UnsupportedFilesystem(volume.probe.kind, volume.name)
    fs = module.volume()
    corrupt = f"{volume.name}: corrupt {volume.probe.kind} filesystem"
    try:
        fs.open_file_object(volume.stream)
    except OSError as exc:
        raise CorruptImage(f"{corrupt}: {budget.explain(exc)}") from exc
    try:
        root_mode = fs.get_root_directory().file_mode or 0
    except OSError as exc:
        fs.close()
        raise CorruptImage(f"{corrupt}: {budget.explain(exc)}") from exc
    if not stat.S_ISDIR(root_mode):
        fs.close()
        raise CorruptImage(f"{corrupt}: its root is not a directory")
    return fs


class _Node(NamedTuple):
    volume: int  # index into ImageFS._filesystems, so inode numbers of two volumes never collide
    vpath: str  # the path inside that volume
    entry: Any  # a pyfsext / pyfsxfs file_entry


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume mounted into the tree."""

    path: str
    volume: Volume
    source: str  # how it was found: "root", or the fstab line's first field


_READ_BUFFER = 4096


class _EntryReader(RawReader):
    """A libyal file entry as a raw, seekable binary stream."""

    def __init__(self, entry: Any, path: str, budget: ReadBudget) -> None:
        super().__init__(entry.size, path)
        self._entry = entry
        self._budget = budget

    def _read_at(self, offset: int, size: int) -> bytes:
        try:
            data: bytes = self._entry.read_buffer_at_offset(size, offset)
        except OSError as exc:
            raise FSError(f"{self.name}: read error: {self._budget.explain(exc)}") from exc
        return data


class ImageFS(NodeFS[_Node]):
    """One instance's files, read from its disk images through libyal. Never writes, never mounts."""

    def __init__(
        self,
        disks: list[Disk],
        volumes: list[Volume],
        mounts: list[tuple[Mount, Any]],
        budget: ReadBudget,
        problems: list[str],
    ) -> None:
        super().__init__()
        self.disks = disks
        self.volumes = volumes
        self.budget = budget
        self.problems = problems  # what could not be read or mounted: kept and reported, never dropped
        self.mount_table: list[Mount] = []
        self._listed: tuple[tuple[int, str] | None, dict[str, _Node]] = (None, {})
        self._filesystems: list[Any] = []
        self.description = ", ".join(d.name for d in disks)
        for mount, fs in mounts:
            self.add_mount(mount, fs)

    def add_mount(self, mount: Mount, filesystem: Any) -> None:
        """Mount a libyal filesystem at `mount.path` (a canonical directory path; used while assembling)."""
        self.mount_table.append(mount)
        self._filesystems.append(filesystem)
        self._mounts[mount.path] = _Node(len(self._filesystems) - 1, "/", filesystem.get_root_directory())
        self._dirs.clear()

    def _root(self) -> _Node:
        return self._mounts["/"]

    def _child(self, node: _Node, name: str, path: str) -> _Node | None:
        listed_key, listed = self._listed
        if listed_key == (node.volume, node.vpath) and name in listed:
            return listed[name]  # a file the walk just found: no second lookup from the volume's root
        # by path from the volume: libfsext/libfsxfs's get_sub_file_entry_by_name fails on valid names
        vpath = f"{node.vpath.rstrip('/')}/{name}"
        try:
            entry = self._filesystems[node.volume].get_file_entry_by_path(vpath)
        except OSError as exc:
            raise FSError(f"{path}: unreadable: {self.budget.explain(exc)}") from exc
        return None if entry is None else _Node(node.volume, vpath, entry)

    def _info(self, node: _Node, path: str) -> FileInfo:
        mode = node.entry.file_mode or 0
        size = node.entry.size if mode & 0o170000 in (0o100000, 0o120000) else 0
        return FileInfo(path, FileType.from_mode(mode), size or 0, mode)

    def _children(self, node: _Node, path: str) -> Iterator[tuple[str, _Node]]:
        self.budget.check()
        try:
            entries = [(entry.name, entry) for entry in node.entry.sub_file_entries]
        except OSError as exc:
            raise FSError(f"{path}: cannot list directory: {self.budget.explain(exc)}") from exc
        base = node.vpath.rstrip("/")
        children = {
            name: _Node(node.volume, f"{base}/{name}", entry)
            for name, entry in entries
            if name and name not in (".", "..") and "/" not in name
        }
        # the walk hands each file to the extractors while this directory is the last one listed: opening
        # it by path would make libyal read every directory on the path again (16-90 KiB per file)
        self._listed = ((node.volume, node.vpath), children)
        yield from children.items()

    def _identity(self, node: _Node) -> Hashable:
        return (node.volume, node.entry.inode_number)

    def _link_target(self, node: _Node, path: str) -> str:
        try:
            target = node.entry.symbolic_link_target
        except OSError as exc:
            raise FSError(f"{path}: unreadable symbolic link: {self.budget.explain(exc)}") from exc
        if target is None:
            raise FSError(f"{path}: unreadable symbolic link")
        return str(target)

    def _open(self, node: _Node, path: str) -> BinaryIO:
        raw = _EntryReader(node.entry, path, self.budget)
        # a block-sized buffer: extractors that peek at headers (ELF, zip) read kilobytes, not the
        # read-ahead; larger reads bypass the buffer and go to libyal in one call
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=_READ_BUFFER))

    def bytes_read(self) -> int:
        return self.budget.bytes_read

    def close(self) -> None:
        for fs in self._filesystems:
            fs.close()
        for disk in self.disks:
            disk.close()
