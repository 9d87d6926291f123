"""Collecting an inventory of what the user names: a directory (`/` is this host), one instance's disk image
files, or a document collected elsewhere (an Inventory JSON, an SBOM).

`collect_inventory` is the use case the CLI, the scheduler and the agent call.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, BinaryIO

from vigil.fs import FileSystem, LiveFS, open_image
from vigil.inventory.collect import Collector, Limits, PathScope
from vigil.inventory.documents import is_document, read_document
from vigil.inventory.model import Inventory, Target, VolumeInfo
from vigil.inventory.registry import extractors

if TYPE_CHECKING:
    from vigil.fs.image.imagefs import ImageFS

# never walked on a live host: pseudo and network filesystems (the agent must not stall on NFS)
_SKIPPED_FSTYPES = frozenset(
    {"proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "securityfs", "debugfs",
     "tracefs", "pstore", "bpf", "mqueue", "hugetlbfs", "configfs", "fusectl", "binfmt_misc", "autofs",
     "efivarfs", "rpc_pipefs", "nfsd", "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs",
     "fuse.sshfs", "fuse.s3fs", "overlay", "nsfs", "squashfs"}
)  # fmt: skip
_ALWAYS_SKIPPED_ON_HOST = frozenset({"/proc", "/sys", "/dev", "/run"})


def host_skipped_mounts(mountinfo: str = "/proc/self/mountinfo") -> frozenset[str]:
    """Mount points of pseudo and network filesystems on this host, from the kernel's mount table."""
    skipped = set(_ALWAYS_SKIPPED_ON_HOST)
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if " - " not in line or len(fields) < 5:
                    continue
                fstype = line.split(" - ", 1)[1].split()[0]
                if fstype in _SKIPPED_FSTYPES or fstype.startswith("fuse."):
                    skipped.add(fields[4].encode().decode("unicode_escape"))
    except OSError:
        pass
    return frozenset(skipped)


def open_target(
    paths: Sequence[str | BinaryIO], *, timeout: float | None, backing_dirs: Sequence[str] = ()
) -> tuple[FileSystem, Target]:
    """A directory (`/` is this host) or one instance's disk image files (paths, or seekable readers: an
    EBS snapshot's blocks)."""
    if len(paths) == 1 and isinstance(paths[0], str) and os.path.isdir(paths[0]):
        fs = LiveFS(paths[0])
        is_host = fs.root == "/"
        return fs, Target(
            kind="host" if is_host else "directory",
            paths=(fs.root,),
            hostname=socket.gethostname() if is_host else None,
        )
    for path in paths:
        if isinstance(path, str) and os.path.isdir(path):
            raise ValueError(f"{path}: a directory cannot be combined with other targets")
    try:
        image = open_image(list(paths), timeout=timeout, backing_dirs=list(backing_dirs))
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("py"):
            raise
        raise ValueError(
            "reading disk images needs Vigil's image readers: pip install 'vigil[images]'"
        ) from None
    named = tuple(p if isinstance(p, str) else str(getattr(p, "name", "<snapshot>")) for p in paths)
    return image, Target(kind="image", paths=named, volumes=_volumes(image), problems=tuple(image.problems))


def _volumes(image: ImageFS) -> tuple[VolumeInfo, ...]:
    mounted = {m.volume.name: m.path for m in image.mount_table}
    return tuple(
        VolumeInfo(v.name, v.size, v.probe.kind, v.probe.uuid, v.probe.label, mounted.get(v.name))
        for v in image.volumes
    )


def collect_inventory(
    paths: Sequence[str],
    *,
    os_only: bool = False,
    scope: str | None = None,
    custom_paths: Sequence[str] = (),
    limits: Limits = Limits(),
    progress: Callable[[int, int], None] | None = None,
    backing_dirs: Sequence[str] = (),
) -> Inventory:
    """The inventory of one target: collected from a tree or disk images, or read from a document.

    A document (Inventory JSON, CycloneDX, SPDX) is taken as it is: the collection options describe how
    to collect, and that was done where the document was made. FSError, ValueError (incl.
    `UnreadableDocument`) when the target cannot be read.
    """
    if len(paths) == 1 and not os.path.isdir(paths[0]) and is_document(paths[0]):
        return read_document(paths[0])
    return take_inventory(
        paths,
        os_only=os_only,
        scope=scope,
        custom_paths=custom_paths,
        limits=limits,
        progress=progress,
        backing_dirs=backing_dirs,
    )


def take_inventory(
    paths: Sequence[str],
    *,
    os_only: bool = False,
    scope: str | None = None,
    custom_paths: Sequence[str] = (),
    limits: Limits = Limits(),
    progress: Callable[[int, int], None] | None = None,
    backing_dirs: Sequence[str] = (),
) -> Inventory:
    """Inventory one target. Images default to the whole filesystem, directories to Inspector's paths."""
    fs, target = open_target(paths, timeout=limits.collection_seconds, backing_dirs=backing_dirs)
    try:
        is_host = target.kind == "host"
        skipped = host_skipped_mounts() if is_host else frozenset()
        chosen = scope or ("all" if target.kind == "image" else "default")
        path_scope = (
            PathScope.all(excluded=skipped)
            if chosen == "all"
            else PathScope.default(custom_paths, excluded=skipped)
        )
        collector = Collector(
            fs,
            extractors(os_only=os_only),
            scope=path_scope,
            limits=limits,
            running_kernel=os.uname().release if is_host else None,
            progress=progress,
        )
        return collector.collect(target)
    finally:
        fs.close()
