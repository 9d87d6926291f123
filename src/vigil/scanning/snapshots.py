"""Snapshots of a local instance's volumes, taken before an agentless scan reads them (DESIGN §3.4).

Each scan's snapshots live in `DIR/snapshots/<scanId>/`, tagged `InspectorScan=<scanId>` (`tags.json`,
written before anything else). A volume is snapshotted by a reflink copy (FICLONE: no data copied, the copy
independent of later writes) where the filesystem allows it; otherwise, and for an image that names other
files (a qcow2 backing file, a vmdk's extents), the image is read in place, and the scan records which.
Snapshots are deleted when their scan ends, however it ends; the sweeper deletes those whose scan is not
running (after a crash).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.fleet.model import SCAN_TAG, Volume

FICLONE = 0x40049409  # _IOW(0x94, 9, int): share the source's extents (btrfs, xfs with reflink=1, …)
TAGS_FILE = "tags.json"
REFLINK, IN_PLACE = "reflink", "in-place"
_QCOW2_MAGIC = b"QFI\xfb"
_VMDK_DESCRIPTOR = b"# Disk DescriptorFile"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a scan reads for one volume: a reflink copy, or the image itself (in place), and why."""

    volume_id: str
    device: str
    path: str
    method: str  # reflink | in-place
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {"volumeId": self.volume_id, "device": self.device, "method": self.method}
        if self.note:
            data["note"] = self.note
        return data


class SnapshotStore:
    """The snapshots folder of one server (`DIR/snapshots`)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def take(self, scan_id: str, volumes: Sequence[Volume]) -> list[Snapshot]:
        """Snapshot every volume for scan `scan_id` (tagged before the first copy is made)."""
        folder = self.root / scan_id
        self.root.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        (folder / TAGS_FILE).write_text(json.dumps({SCAN_TAG: scan_id}))
        return [self._snapshot(folder, index, volume) for index, volume in enumerate(volumes)]

    def _snapshot(self, folder: Path, index: int, volume: Volume) -> Snapshot:
        if volume.source is None:
            raise ValueError(f"volume {volume.volume_id} has no image file")
        source = Path(volume.source)
        refers = _names_other_files(source)
        if refers:
            return Snapshot(volume.volume_id, volume.device, str(source), IN_PLACE, refers)
        copy = folder / f"volume-{index}{source.suffix[:16]}"
        failure = reflink(source, copy)
        if failure is None:
            return Snapshot(volume.volume_id, volume.device, str(copy), REFLINK)
        return Snapshot(volume.volume_id, volume.device, str(source), IN_PLACE, f"no reflink copy: {failure}")

    def delete(self, scan_id: str) -> None:
        _remove(self.root / scan_id)

    def tagged(self) -> dict[str, Path]:
        """Every snapshot folder, by the scan it is tagged with (its name when the tag is unreadable)."""
        found: dict[str, Path] = {}
        if not self.root.is_dir():
            return found
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                found[_tag(entry) or entry.name] = entry
        return found

    def sweep(self, running: Collection[str]) -> list[str]:
        """Delete the snapshots whose scan is not running; returns their scan ids."""
        swept = []
        for scan_id, folder in self.tagged().items():
            if scan_id not in running and folder.name not in running:
                _remove(folder)
                swept.append(scan_id)
        return swept


def reflink(source: Path, dest: Path) -> str | None:
    """Make `dest` a reflink copy of `source`; None when done, else why not (and no `dest` is left)."""
    with open(source, "rb") as src, open(dest, "xb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            return None
        except OSError as exc:
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "failed")
            failure = f"the filesystem cannot share extents ({reason})"
    dest.unlink(missing_ok=True)
    return failure


def _names_other_files(source: Path) -> str:
    """Why a copy of the image alone would not be the disk ("" when it would)."""
    with open(source, "rb") as f:
        head = f.read(24)
    if head.startswith(_QCOW2_MAGIC) and len(head) >= 16 and struct.unpack(">Q", head[8:16])[0]:
        return "a qcow2 overlay with a backing file: read in place"
    if head.startswith(_VMDK_DESCRIPTOR[:16]):
        return "a vmdk descriptor naming its extents: read in place"
    return ""


def _tag(folder: Path) -> str | None:
    try:
        tags = json.loads((folder / TAGS_FILE).read_text())
    except (OSError, ValueError):
        return None
    value = tags.get(SCAN_TAG) if isinstance(tags, dict) else None
    return value if isinstance(value, str) else None


def _remove(folder: Path) -> None:
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
