"""Bad input: every failure is one of vigil.fs's named errors, says why, and never hangs.

Damaged images are copies of the contract layouts, cut or patched in a test's own directory.
"""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from tests.support import images as im
from tests.support.catalog import Built
from tests.support.rootfs import HOSTNAME

from vigil.fs import (
    CorruptImage,
    EncryptedVolume,
    FileSystem,
    FSError,
    ImageError,
    NoOperatingSystem,
    ScanTimeout,
    UnsupportedFilesystem,
    open_image,
)

LayoutImage = Callable[[str], Built]


def _copy(built: Built, dest: Path) -> list[Path]:
    """A sparse copy of a built image's files in `dest`; returns the copied sources."""
    dest.mkdir(exist_ok=True)
    for path in built.files:
        im.run("cp", "--sparse=always", path, dest / path.name)
    return [dest / p.name for p in built.sources]


def _read_everything(fs: FileSystem) -> list[FSError]:
    """Walk the whole tree and read every file; return the per-file errors (each must be an FSError)."""
    errors: list[FSError] = []
    for info in fs.walk("/", on_error=lambda _path, exc: errors.append(exc)):
        if info.is_file:
            try:
                with fs.open(info.path) as f:
                    while f.read(1 << 20):
                        pass
            except FSError as exc:
                errors.append(exc)
    return errors


# -- truncated images ---------------------------------------------------------------------------------

CONTAINERS = [
    "qcow2",
    "qcow2-compressed",
    "vmdk-sparse",
    "vmdk-stream",
    "vhd",
    "vhd-fixed",
    "vhdx",
    "gpt-debian",
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("layout", CONTAINERS)
def test_a_container_cut_in_its_data_says_the_image_is_truncated(
    layout: str, layout_image: LayoutImage, tmp_path: Path
) -> None:
    source = layout_image(layout).sources[0]
    cut = im.truncated_copy(source, tmp_path / source.name, source.stat().st_size * 3 // 10)
    with pytest.raises(CorruptImage, match="truncated") as raised:
        open_image(cut, timeout=30)
    assert str(cut) in str(raised.value)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("layout", [*CONTAINERS, "ext4", "xfs"])
@pytest.mark.parametrize("size", [1, 511, 4096, 70_000])
def test_an_image_cut_in_its_headers_is_a_named_error(
    layout: str, size: int, layout_image: LayoutImage, tmp_path: Path
) -> None:
    source = layout_image(layout).sources[0]
    cut = im.truncated_copy(source, tmp_path / source.name, size)
    with pytest.raises(ImageError) as raised:
        open_image(cut, timeout=30)
    assert type(raised.value) in (CorruptImage, NoOperatingSystem)
    assert str(raised.value)


@pytest.mark.timeout(60)
def test_a_flat_vmdk_with_a_short_extent_says_the_image_is_truncated(
    layout_image: LayoutImage, tmp_path: Path
) -> None:
    (descriptor,) = _copy(layout_image("vmdk-flat"), tmp_path)
    os.truncate(tmp_path / "disk-flat.vmdk", 20 * im.MIB)
    with pytest.raises(CorruptImage, match=r"truncated image: extent .*disk-flat\.vmdk holds 20971520 bytes"):
        open_image(descriptor, timeout=30)


@pytest.mark.timeout(60)
def test_a_flat_vmdk_without_its_extent_names_the_missing_file(
    layout_image: LayoutImage, tmp_path: Path
) -> None:
    (descriptor,) = _copy(layout_image("vmdk-flat"), tmp_path)
    (tmp_path / "disk-flat.vmdk").unlink()
    with pytest.raises(ImageError, match=r"disk-flat\.vmdk: No such file"):
        open_image(descriptor, timeout=30)


@pytest.mark.timeout(60)
def test_an_overlay_without_its_backing_file_names_it(layout_image: LayoutImage, tmp_path: Path) -> None:
    (overlay,) = _copy(layout_image("qcow2-overlay"), tmp_path)
    (tmp_path / "disk-backing.qcow2").unlink()
    with pytest.raises(ImageError, match=r"disk-backing\.qcow2"):
        open_image(overlay, timeout=30)


@pytest.mark.timeout(60)
def test_a_renamed_sparse_vmdk_still_opens(layout_image: LayoutImage, tmp_path: Path) -> None:
    """The descriptor inside a monolithicSparse vmdk names the file it was created as."""
    source = layout_image("vmdk-stream").sources[0]
    renamed = tmp_path / "renamed-by-the-user.vmdk"
    im.run("cp", "--sparse=always", source, renamed)
    with open_image(renamed, timeout=30) as fs:
        assert fs.open("/etc/hostname").read() == HOSTNAME


@pytest.mark.timeout(60)
def test_a_filesystem_cut_short_is_read_with_a_problem_recorded(
    layout_image: LayoutImage, tmp_path: Path
) -> None:
    source = layout_image("ext4").sources[0]
    cut = im.truncated_copy(source, tmp_path / "root.ext4", source.stat().st_size // 2)
    with open_image(cut, timeout=30) as fs:
        assert any("looks truncated" in p for p in fs.problems)
        _read_everything(fs)  # whatever was cut off fails per file, as an FSError


# -- partition tables ---------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("which", ["primary", "backup"])
def test_a_gpt_with_one_broken_header_is_read_from_the_other(
    which: str, layout_image: LayoutImage, tmp_path: Path
) -> None:
    (disk,) = _copy(layout_image("gpt-debian"), tmp_path)
    header = im.SECTOR if which == "primary" else disk.stat().st_size - im.SECTOR
    im.patch(disk, header + 16, b"\xde\xad\xbe\xef")  # the header CRC
    with open_image(disk, timeout=30) as fs:
        assert fs.open("/etc/hostname").read() == HOSTNAME


@pytest.mark.timeout(60)
def test_a_gpt_with_both_headers_broken_is_corrupt(layout_image: LayoutImage, tmp_path: Path) -> None:
    (disk,) = _copy(layout_image("gpt-debian"), tmp_path)
    for header in (im.SECTOR, disk.stat().st_size - im.SECTOR):
        im.patch(disk, header + 16, b"\xde\xad\xbe\xef")
    with pytest.raises(CorruptImage, match="cannot read the GPT"):
        open_image(disk, timeout=30)


@pytest.mark.timeout(60)
def test_a_protective_mbr_without_a_gpt_header_is_corrupt(layout_image: LayoutImage, tmp_path: Path) -> None:
    (disk,) = _copy(layout_image("gpt-debian"), tmp_path)
    im.patch(disk, im.SECTOR, bytes(im.SECTOR))
    with pytest.raises(CorruptImage, match="protective MBR but no GPT header"):
        open_image(disk, timeout=30)


@pytest.mark.timeout(60)
def test_a_gpt_entry_past_the_end_of_the_disk_is_a_problem_not_a_failure(
    layout_image: LayoutImage, tmp_path: Path
) -> None:
    (disk,) = _copy(layout_image("gpt-debian"), tmp_path)
    im.gpt_set_partition(disk, 14, last_lba=10**9)  # BIOS boot now claims ~500 GB
    with open_image(disk, timeout=30) as fs:
        assert any("GPT partition 14 extends past the end of the disk" in p for p in fs.problems)
        assert fs.open("/etc/hostname").read() == HOSTNAME


@pytest.mark.timeout(60)
def test_a_root_partition_past_the_end_of_the_disk_is_corrupt(
    layout_image: LayoutImage, tmp_path: Path
) -> None:
    (disk,) = _copy(layout_image("gpt-debian"), tmp_path)
    im.gpt_set_partition(disk, 1, last_lba=10**9)
    with pytest.raises(CorruptImage, match="GPT partition 1 extends past the end of the disk"):
        open_image(disk, timeout=30)


@pytest.mark.timeout(60)
def test_an_mbr_entry_past_the_end_of_the_disk_is_a_problem_not_a_failure(
    layout_image: LayoutImage, tmp_path: Path
) -> None:
    (disk,) = _copy(layout_image("mbr-logical"), tmp_path)
    im.mbr_set_partition(disk, 1, start_lba=2048, sectors=10**9)  # /boot now claims ~500 GB
    with open_image(disk, timeout=30) as fs:
        assert any("MBR partition 1 extends past the end of the disk" in p for p in fs.problems)
        assert fs.open("/etc/hostname").read() == HOSTNAME


@pytest.mark.timeout(60)
def test_an_extended_partition_past_the_end_is_corrupt(layout_image: LayoutImage, tmp_path: Path) -> None:
    (disk,) = _copy(layout_image("mbr-logical"), tmp_path)
    im.mbr_set_partition(disk, 2, start_lba=10**8, sectors=2048)  # its logical partitions hold the root
    with pytest.raises(CorruptImage, match=r"cannot read the MBR partition table: .*past the end of"):
        open_image(disk, timeout=30)


# -- filesystems --------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("layout", "offset", "data"),
    [
        ("ext4", 1024 + 24, b"\x1e\x00\x00\x00"),  # s_log_block_size: 1 GiB blocks
        ("ext4", 1024 + 32, b"\x00\x00\x00\x00"),  # s_blocks_per_group: 0
        ("ext4", 1024 + 40, b"\x00\x00\x00\x00"),  # s_inodes_per_group: 0
        ("ext4-1k", 2048, bytes(1024)),  # the group descriptor table
        ("xfs", 4, b"\x00\x00\x00\x00"),  # sb_blocksize: 0
        ("xfs", 56, b"\x7f" * 8),  # sb_rootino: no such inode
    ],
)
def test_a_corrupt_superblock_is_a_corrupt_image(
    layout: str, offset: int, data: bytes, layout_image: LayoutImage, tmp_path: Path
) -> None:
    (image,) = _copy(layout_image(layout), tmp_path)
    im.patch(image, offset, data)
    with pytest.raises(CorruptImage, match=r"corrupt (ext4|xfs) filesystem|looks truncated"):
        open_image(image, timeout=30)


@pytest.mark.timeout(60)
def test_a_wiped_superblock_leaves_no_filesystem(layout_image: LayoutImage, tmp_path: Path) -> None:
    (image,) = _copy(layout_image("ext4"), tmp_path)
    im.patch(image, 1024, bytes(1024))
    with pytest.raises(NoOperatingSystem, match="no filesystem found"):
        open_image(image, timeout=30)


@pytest.mark.timeout(60)
def test_a_directory_loop_in_a_corrupt_filesystem_ends_the_walk_with_an_error(
    layout_image: LayoutImage,
) -> None:
    with open_image(layout_image("directory-loop").sources[0], timeout=30) as fs:
        errors: list[tuple[str, FSError]] = []
        paths = [i.path for i in fs.walk("/", on_error=lambda p, e: errors.append((p, e)))]
        assert len(paths) == len(set(paths))
        assert {p for p, _ in errors} == {"/loop/a/back", "/loop/a/root"}
        assert all("directory loop" in str(e) for _, e in errors)
        # resolution is by name, so the loop is a finite path like any other
        assert (
            fs.resolve("/loop/a/back/a/back/a/root/etc/hostname") == "/loop/a/back/a/back/a/root/etc/hostname"
        )
        assert fs.open("/loop/a/root/etc/hostname").read() == HOSTNAME


@pytest.mark.timeout(60)
def test_random_garbage_is_no_filesystem(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.img"
    garbage.write_bytes(random.Random(7).randbytes(8 * im.MIB))
    with pytest.raises(NoOperatingSystem, match="no filesystem found"):
        open_image(garbage, timeout=30)


@pytest.mark.timeout(60)
def test_an_empty_file_is_not_a_disk_image(tmp_path: Path) -> None:
    empty = tmp_path / "empty.img"
    empty.touch()
    with pytest.raises(CorruptImage, match="empty file"):
        open_image(empty, timeout=30)


@pytest.mark.timeout(60)
def test_a_missing_file_or_a_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nope\.img: No such file"):
        open_image(tmp_path / "nope.img", timeout=30)
    with pytest.raises(ImageError, match="a directory, not a regular file or block device"):
        open_image(tmp_path, timeout=30)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("layout", ["btrfs-root", "vfat-only"])
def test_an_unsupported_root_filesystem_is_named(layout: str, layout_image: LayoutImage) -> None:
    expected = layout.split("-")[0]
    with pytest.raises(UnsupportedFilesystem, match=f"unsupported filesystem {expected}") as raised:
        open_image(layout_image(layout).sources, timeout=30)
    assert raised.value.fs_type == expected


@pytest.mark.timeout(60)
def test_an_unsupported_home_is_a_problem_and_the_rest_is_read(layout_image: LayoutImage) -> None:
    with open_image(layout_image("btrfs-home").sources, timeout=30) as fs:
        assert "/home: btrfs on disk0p2 is not read (unsupported)" in fs.problems
        assert list(fs.list_dir("/home")) == []
        assert fs.open("/etc/hostname").read() == HOSTNAME


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", [1, 2])
def test_an_encrypted_root_is_an_encrypted_volume(version: int, layout_image: LayoutImage) -> None:
    with pytest.raises(EncryptedVolume, match=f"disk0p1 \\(LUKS{version}\\); no readable root filesystem"):
        open_image(layout_image(f"luks{version}-root").sources, timeout=30)


@pytest.mark.timeout(60)
def test_an_encrypted_home_is_a_problem_and_the_rest_is_read(layout_image: LayoutImage) -> None:
    with open_image(layout_image("luks-home").sources, timeout=30) as fs:
        assert fs.problems == ["disk0p2: encrypted volume (LUKS2) (mounted at /home), contents not read"]
        assert list(fs.list_dir("/home")) == []
        assert _read_everything(fs) == []


@pytest.mark.timeout(60)
def test_a_volume_group_missing_a_disk_says_so(layout_image: LayoutImage) -> None:
    with pytest.raises(CorruptImage, match="vg0: 1 of its 2 physical volumes are not on the given disks"):
        open_image(layout_image("lvm-two-disks").sources[:1], timeout=30)


@pytest.mark.timeout(60)
def test_a_filesystem_without_an_os_release_file_is_no_operating_system(layout_image: LayoutImage) -> None:
    with pytest.raises(NoOperatingSystem, match=r"no volume holds /etc/os-release .*disk0=ext4"):
        open_image(layout_image("no-os").sources, timeout=30)


# -- time limits --------------------------------------------------------------------------------------


class SlowFile(io.RawIOBase):
    """A seekable file object whose every read takes `delay` seconds (a slow snapshot block store)."""

    def __init__(self, path: Path, delay: float) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._delay = delay
        self.name = str(path)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        time.sleep(self._delay)
        return self._f.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.close()
        super().close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "layout", ["ext4", "gpt-debian", "lvm", "qcow2-compressed", "vmdk-stream", "var-uuid"]
)
def test_a_zero_time_limit_stops_the_scan_at_once(layout: str, layout_image: LayoutImage) -> None:
    started = time.monotonic()
    with pytest.raises(ScanTimeout, match="time limit"):
        open_image(layout_image(layout).sources, timeout=0)
    assert time.monotonic() - started < 5


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "layout", ["ext4", "xfs", "gpt-debian", "lvm", "qcow2-overlay", "vmdk-sparse", "var-lvm-path"]
)
@pytest.mark.parametrize("limit", [0.02, 0.1, 0.3])
def test_a_slow_image_raises_scan_timeout_whatever_the_scan_is_doing(
    layout: str, limit: float, layout_image: LayoutImage
) -> None:
    """The deadline passes while a container, a partition table, LVM, a filesystem or a file is being read."""
    files = [cast(BinaryIO, SlowFile(p, 0.01)) for p in layout_image(layout).sources]
    started = time.monotonic()
    try:
        with pytest.raises(ScanTimeout, match="time limit"), open_image(files, timeout=limit) as fs:
            _read_everything(fs)
    finally:
        for f in files:
            f.close()
    assert time.monotonic() - started < limit + 10


@pytest.mark.timeout(60)
def test_the_time_limit_also_bounds_reads_after_the_image_is_open(layout_image: LayoutImage) -> None:
    with open_image(layout_image("gpt-debian").sources, timeout=0.5) as fs:
        time.sleep(0.6)
        with pytest.raises(ScanTimeout):
            list(fs.walk("/"))
        with pytest.raises(ScanTimeout):
            fs.open("/files/big.bin").read()
