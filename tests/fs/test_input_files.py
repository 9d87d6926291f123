"""What the filesystem layer opens on the host is a regular file (or, as a whole image, a disk), checked on
the opened descriptor: a FIFO, a character device or a directory is a clear error, never a hang."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support import images as im
from tests.support.catalog import Built
from tests.support.rootfs import HOSTNAME

from vigil.fs import FSError, ImageError, LiveFS, open_image
from vigil.fs.live import _Node

LayoutImage = Callable[[str], Built]


# -- images -------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_fifo_given_as_the_image_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "disk.img"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match=r"disk\.img: a FIFO, not a regular file or block device"):
        open_image(fifo, timeout=10)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_character_device_given_as_the_image_is_refused(device: str) -> None:
    with pytest.raises(ImageError, match=f"{device}: a character device, not a regular file or block device"):
        open_image(device, timeout=10)


@pytest.mark.timeout(60)
def test_a_block_device_is_read_as_a_disk(layout_image: LayoutImage, tmp_path: Path) -> None:
    """A disk or an LVM snapshot device attached to the scanner: the agentless case itself."""
    disk = tmp_path / "disk.raw"
    im.run("cp", "--sparse=always", layout_image("gpt-debian").sources[0], disk)
    with im.loop_device(disk, 0, disk.stat().st_size) as device, open_image(device, timeout=30) as fs:
        assert fs.open("/etc/hostname").read() == HOSTNAME


@pytest.mark.timeout(60)
def test_a_fifo_as_vmdk_extent_is_refused_without_hanging(layout_image: LayoutImage, tmp_path: Path) -> None:
    built = layout_image("vmdk-flat")
    for path in built.files:
        im.run("cp", "--sparse=always", path, tmp_path / path.name)
    (tmp_path / "disk-flat.vmdk").unlink()
    os.mkfifo(tmp_path / "disk-flat.vmdk")
    with pytest.raises(ImageError, match=r"vmdk extent .*disk-flat\.vmdk: a FIFO, not a regular file"):
        open_image(tmp_path / built.sources[0].name, timeout=30)


@pytest.mark.timeout(60)
def test_a_vmdk_extent_cannot_be_a_symlink_out_of_the_image_folder(
    layout_image: LayoutImage, tmp_path: Path
) -> None:
    built = layout_image("vmdk-flat")
    (tmp_path / "vm").mkdir()
    (tmp_path / "elsewhere").mkdir()
    for path in built.files:
        im.run("cp", "--sparse=always", path, tmp_path / "vm" / path.name)
    os.rename(tmp_path / "vm" / "disk-flat.vmdk", tmp_path / "elsewhere" / "disk-flat.vmdk")
    os.symlink(tmp_path / "elsewhere" / "disk-flat.vmdk", tmp_path / "vm" / "disk-flat.vmdk")
    with pytest.raises(ImageError, match=r"vmdk extent .*disk-flat\.vmdk leads out of the image's folder"):
        open_image(tmp_path / "vm" / built.sources[0].name, timeout=30)


# -- files in a tree ----------------------------------------------------------------------------------


def _bind_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # the socket file stays after the socket is closed


def _tree_with_status(tmp_path: Path, make: Callable[[Path], object]) -> LiveFS:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    make(status)
    return LiveFS(str(tmp_path))


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("kind", "make", "message"),
    [
        ("fifo", os.mkfifo, "not a regular file"),
        ("directory", os.mkdir, "is a directory"),
        (
            "character device",
            lambda p: os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 5)),
            "not a regular file",
        ),
        ("socket", lambda p: _bind_socket(p), "not a regular file"),
    ],
)
def test_a_dpkg_status_that_is_no_regular_file_is_an_fs_error(
    tmp_path: Path, kind: str, make: Callable[[Path], object], message: str
) -> None:
    fs = _tree_with_status(tmp_path, make)
    with pytest.raises(FSError, match=message):
        fs.open("/var/lib/dpkg/status")


class _SwappingFS(LiveFS):
    """A tree in which /var/lib/dpkg/status becomes a FIFO right after it was looked up: the window between
    a check by path and the open, made to happen every time."""

    def _child(self, node: _Node, name: str, path: str) -> _Node | None:
        child = super()._child(node, name, path)
        if path == "/var/lib/dpkg/status" and child is not None:
            os.unlink(child.host_path)
            os.mkfifo(child.host_path)
        return child


@pytest.mark.timeout(30)
def test_a_file_that_becomes_a_fifo_while_it_is_opened_is_an_fs_error(tmp_path: Path) -> None:
    _tree_with_status(tmp_path, lambda p: p.write_bytes(b"Package: base-files\n"))
    fs = _SwappingFS(str(tmp_path))
    with pytest.raises(FSError, match="status: a FIFO, not a regular file"):
        fs.open("/var/lib/dpkg/status")


def test_a_file_opened_in_a_tree_reads_in_blocking_mode(tmp_path: Path) -> None:
    fs = _tree_with_status(tmp_path, lambda p: p.write_bytes(b"Package: base-files\n"))
    with fs.open("/var/lib/dpkg/status") as f:
        assert os.get_blocking(f.fileno())
        assert f.read() == b"Package: base-files\n"
