"""Assemble an instance's tree from its disks: find the root volume, then mount the others per /etc/fstab."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, BinaryIO, cast

from vigil.fs.base import FSError, NotFound, normalize, read_bytes
from vigil.fs.image.containers import Disk, open_disk
from vigil.fs.image.errors import (
    CorruptImage,
    EncryptedVolume,
    ImageError,
    NoOperatingSystem,
    UnsupportedFilesystem,
)
from vigil.fs.image.imagefs import ImageFS, Mount, open_filesystem
from vigil.fs.image.reader import ReadBudget
from vigil.fs.image.volumes import Volume, scan_volumes

OS_RELEASE_FILES = (
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/system-release",
    "/etc/redhat-release",
    "/etc/centos-release",
    "/etc/alpine-release",
    "/etc/debian_version",
    "/etc/SuSE-release",
)
_MAX_CONFIG_BYTES = 1 << 20
_PSEUDO_FSTYPES = frozenset(
    {
        "proc",
        "sysfs",
        "tmpfs",
        "devtmpfs",
        "devpts",
        "swap",
        "none",
        "nfs",
        "nfs4",
        "cifs",
        "smbfs",
        "efivarfs",
        "securityfs",
        "cgroup",
        "cgroup2",
        "debugfs",
        "tracefs",
        "hugetlbfs",
        "mqueue",
        "fuse",
        "fuse.sshfs",
        "9p",
        "virtiofs",
        "bpf",
        "pstore",
        "configfs",
        "autofs",
        "binfmt_misc",
    }
)
_DEVICE_NAME = re.compile(
    r"^/dev/(?:(?:sd|vd|xvd|hd)(?P<letter>[a-z])(?P<part>\d+)?|nvme(?P<nvme>\d+)n\d+(?:p(?P<npart>\d+))?)$"
)


Source = str | os.PathLike[str] | BinaryIO


def open_image(
    sources: Source | Sequence[Source],
    *,
    timeout: float | None = 900.0,
    backing_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = (),
) -> ImageFS:
    """Open one instance's disk image(s), never mounted and never written, as one read-only tree.

    `timeout` bounds the whole scan (every later read is checked against the same deadline).
    `backing_dirs`: folders a qcow2 overlay's backing files may be read from besides the overlay's own folder
    (a backing file named anywhere else is refused: an image must not make Vigil read the host's files).
    """
    if isinstance(backing_dirs, str | os.PathLike):
        backing_dirs = [backing_dirs]  # one folder, not a sequence of one-letter folders
    listed: Sequence[Source] = (
        [cast(Source, sources)]
        if isinstance(sources, str | os.PathLike) or hasattr(sources, "read")
        else sources
    )
    budget = ReadBudget.with_timeout(timeout)
    disks: list[Disk] = []
    try:
        for source in listed:
            disks.append(open_disk(source, budget, backing_dirs))
        return _assemble(disks, budget)
    except BaseException:
        for disk in disks:
            disk.close()
        raise


def _assemble(disks: list[Disk], budget: ReadBudget) -> ImageFS:
    scan = scan_volumes(disks, budget)
    problems = list(scan.problems)
    root_volume, root_fs = _find_root(scan.volumes, problems, budget)
    image = ImageFS(disks, scan.volumes, [(Mount("/", root_volume, "root"), root_fs)], budget, problems)
    encrypted_at = _mount_fstab(image, scan.volumes, root_volume, problems)
    for volume in scan.volumes:
        if volume.probe.kind.startswith("luks"):
            where = f" (mounted at {encrypted_at[volume.name]})" if volume.name in encrypted_at else ""
            problems.append(
                f"{volume.name}: encrypted volume ({volume.probe.kind.upper()}){where}, contents not read"
            )
    return image


def _has_entry(fs: Any, path: str, volume: Volume, budget: ReadBudget) -> bool:
    try:
        return fs.get_file_entry_by_path(path) is not None
    except OSError as exc:
        raise CorruptImage(f"{volume.name}: cannot look up {path}: {budget.explain(exc)}") from exc


def _find_root(volumes: list[Volume], problems: list[str], budget: ReadBudget) -> tuple[Volume, Any]:
    candidates: list[tuple[Volume, Any, bool]] = []
    for volume in volumes:
        if not volume.probe.is_supported_filesystem:
            continue
        fs = None
        try:
            fs = open_filesystem(volume, budget)
            if any(_has_entry(fs, p, volume, budget) for p in OS_RELEASE_FILES):
                candidates.append((volume, fs, _has_entry(fs, "/etc/fstab", volume, budget)))
                continue
        except CorruptImage as exc:
            problems.append(str(exc))
        if fs is not None:
            fs.close()
    if candidates:
        # a root that carries /etc/fstab is the installed system; another OS tree is likely a rescue copy
        candidates.sort(key=lambda c: not c[2])
        for _, other, _ in candidates[1:]:
            other.close()
        return candidates[0][0], candidates[0][1]
    raise _no_root_error(volumes, problems)


def _no_root_error(volumes: list[Volume], problems: list[str]) -> ImageError:
    kinds = [v.probe.kind for v in volumes]
    encrypted = [v for v in volumes if v.probe.kind.startswith("luks")]
    if encrypted:
        names = ", ".join(f"{v.name} ({v.probe.kind.upper()})" for v in encrypted)
        return EncryptedVolume(f"encrypted volume: {names}; no readable root filesystem")
    if problems:
        return CorruptImage("no readable root filesystem: " + "; ".join(problems))
    unsupported = [v for v in volumes if v.probe.kind not in ("empty", "unknown", "swap")]
    if unsupported and not any(v.probe.is_supported_filesystem for v in unsupported):
        # an EFI system partition (vfat) sits beside most roots: name the other filesystem when there is one
        v = next((v for v in unsupported if v.probe.kind != "vfat"), unsupported[0])
        return UnsupportedFilesystem(v.probe.kind, v.name)
    if not volumes or all(k in ("empty", "unknown") for k in kinds):
        return NoOperatingSystem("no filesystem found on the image (empty or not a disk image)")
    return NoOperatingSystem(
        "no OS found: no volume holds /etc/os-release or another release file "
        f"(volumes: {', '.join(f'{v.name}={v.probe.kind}' for v in volumes)})"
    )


def parse_fstab(text: str) -> list[tuple[str, str, str]]:
    """(device, mount point, filesystem type) for each line of an fstab."""
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        fields = line.split()
        if len(fields) >= 3:
            device, mountpoint, fstype = (_unescape(f) for f in fields[:3])
            entries.append((device, mountpoint, fstype))
    return entries


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _read_text(image: ImageFS, path: str, problems: list[str]) -> str:
    """A small configuration file of the root (symlinks followed), or "" when absent or unreadable."""
    try:
        return read_bytes(image, path, _MAX_CONFIG_BYTES).decode("utf-8", "replace")
    except NotFound:
        return ""
    except FSError as exc:
        problems.append(f"{path}: {exc}")
        return ""


def _mount_fstab(image: ImageFS, volumes: list[Volume], root: Volume, problems: list[str]) -> dict[str, str]:
    """Mount the volumes the root's /etc/fstab names; return where encrypted ones would be mounted."""
    crypttab = parse_crypttab(_read_text(image, "/etc/crypttab", problems))
    encrypted_at: dict[str, str] = {}
    fstab = parse_fstab(_read_text(image, "/etc/fstab", problems))
    for device, mountpoint, fstype in sorted(fstab, key=lambda e: e[1].count("/")):
        path = normalize(mountpoint)
        if not mountpoint.startswith("/") or path == "/" or fstype in _PSEUDO_FSTYPES:
            continue
        volume = find_volume(device, volumes)
        name = device.removeprefix("/dev/mapper/")
        if volume is None and device.startswith("/dev/mapper/") and name in crypttab:
            volume = find_volume(crypttab[name], volumes)  # the LUKS volume that /dev/mapper/NAME opens
        if volume is None:
            problems.append(f"/etc/fstab: {device} (mounted at {path}) is not on the given disks")
            continue
        if volume is root:
            continue
        if volume.probe.kind.startswith("luks"):
            encrypted_at[volume.name] = path
            continue
        if not volume.probe.is_supported_filesystem:
            # an EFI system partition holds boot loaders, never packages: not worth a problem
            if not (volume.probe.kind == "vfat" and path.startswith("/boot")):
                problems.append(f"{path}: {volume.probe.kind} on {volume.name} is not read (unsupported)")
            continue
        try:
            target = image.resolve(path)
            if not image.stat(target).is_dir:
                raise FSError(f"{target}: not a directory")
            image.add_mount(Mount(target, volume, device), open_filesystem(volume, image.budget))
        except FSError as exc:
            problems.append(f"{path}: {volume.name} not mounted: {exc}")
    return encrypted_at


def parse_crypttab(text: str) -> dict[str, str]:
    """Mapped name → source device, for each line of a crypttab."""
    entries = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            entries[_unescape(fields[0])] = _unescape(fields[1])
    return entries


def find_volume(device: str, volumes: list[Volume]) -> Volume | None:
    """The volume an fstab device field names (UUID=, LABEL=, PARTUUID=, /dev names, LVM names)."""
    for prefix, key in (
        ("/dev/disk/by-uuid/", "UUID"),
        ("/dev/disk/by-label/", "LABEL"),
        ("/dev/disk/by-partuuid/", "PARTUUID"),
    ):
        if device.startswith(prefix):
            device = f"{key}={device[len(prefix) :]}"
    key, _, value = device.partition("=")
    value = value.strip('"').lower() if key in ("UUID", "PARTUUID") else value.strip('"')
    for volume in volumes:
        if key == "UUID" and (volume.probe.uuid or "").lower() == value:
            return volume
        if key == "LABEL" and volume.probe.label == value:
            return volume
        if key == "PARTUUID" and volume.part_uuid == value:
            return volume
    if volume_lvm := _lvm_name(device):
        return next((v for v in volumes if v.lvm == volume_lvm), None)
    match = _DEVICE_NAME.match(device)
    if match:
        if match["nvme"] is not None:
            disk, part = int(match["nvme"]), match["npart"]
        else:
            disk, part = ord(match["letter"]) - ord("a"), match["part"]
        number = int(part) if part else None
        return next(
            (v for v in volumes if v.disk_index == disk and v.partition == number and not v.lvm), None
        )
    return None


def _lvm_name(device: str) -> tuple[str, str] | None:
    if device.startswith("/dev/mapper/"):
        # device-mapper doubles dashes inside names: vg--data-lv--root → (vg-data, lv-root)
        parts = re.split(r"(?<!-)-(?!-)", device[len("/dev/mapper/") :], maxsplit=1)
        if len(parts) == 2:
            return parts[0].replace("--", "-"), parts[1].replace("--", "-")
        return None
    rest = device[len("/dev/") :] if device.startswith("/dev/") else ""
    if rest.count("/") == 1 and not rest.startswith(("disk/", "mapper/")):
        vg, lv = rest.split("/")
        return vg, lv
    return None
