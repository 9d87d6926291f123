"""A qcow2 overlay names its backing file; that name is the image's, not the user's, so it is confined.

Backing files are read from the overlay's own folder (or below it) and from folders the caller allows, only
as regular files, at most eight below the image and without loops. A refusal never says whether a file
outside exists. The overlays are the contract layout's, pointed elsewhere with `qemu-img rebase -u`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support import images as im
from tests.support.catalog import Built
from tests.support.rootfs import HOSTNAME

from vigil.fs import CorruptImage, ImageError, open_image

LayoutImage = Callable[[str], Built]
NOT_READ = "backing files are read only from the image's own folder or a folder allowed explicitly"


@pytest.fixture
def overlay(layout_image: LayoutImage, tmp_path: Path) -> Path:
    """A copy of the qcow2-overlay layout in `tmp_path/vm`: `disk.qcow2` over `disk-backing.qcow2`."""
    built = layout_image("qcow2-overlay")
    folder = tmp_path / "vm"
    folder.mkdir()
    for path in built.files:
        im.run("cp", "--sparse=always", path, folder / path.name)
    return folder / "disk.qcow2"


def _hostname(image: Path, backing_dirs: str | Path | list[str | Path] = ()) -> bytes:
    """The instance's /etc/hostname, read through the image and its backing chain."""
    with open_image(image, timeout=30, backing_dirs=backing_dirs) as fs:
        return fs.open("/etc/hostname").read()


def _move_backing(overlay: Path, folder: Path) -> Path:
    """Move the overlay's backing file into `folder`; returns its new path."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.move(overlay.with_name("disk-backing.qcow2"), folder / "disk-backing.qcow2"))


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "backing",
    [
        "/etc/shadow",
        "/etc/passwd",
        "../../../../../../etc/shadow",
        "/dev/zero",
        "/dev/null",
        "/proc/self/environ",
    ],
)
def test_a_backing_file_naming_a_host_file_is_refused(overlay: Path, backing: str) -> None:
    im.set_backing(overlay, backing)
    with pytest.raises(ImageError, match=NOT_READ) as raised:
        open_image(overlay, timeout=30)
    assert repr(backing) in str(raised.value)


@pytest.mark.timeout(60)
def test_another_vms_disk_is_not_read_as_this_images_backing_file(overlay: Path, tmp_path: Path) -> None:
    """Its packages would be reported as this image's."""
    other = _move_backing(overlay, tmp_path / "other-vm")
    im.set_backing(overlay, "../other-vm/disk-backing.qcow2")
    with pytest.raises(ImageError, match=NOT_READ):
        open_image(overlay, timeout=30)
    im.set_backing(overlay, str(other))  # the same file by its absolute name
    with pytest.raises(ImageError, match=NOT_READ):
        open_image(overlay, timeout=30)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("present", "absent"),
    [
        ("/etc/shadow", "/etc/shadow-that-does-not-exist"),
        ("../other-vm/disk-backing.qcow2", "../other-vm/no-such-disk.qcow2"),
        ("/dev/zero", "/dev/no-such-device"),
    ],
)
def test_a_refusal_does_not_tell_whether_the_file_outside_exists(
    overlay: Path, tmp_path: Path, present: str, absent: str
) -> None:
    _move_backing(overlay, tmp_path / "other-vm")
    messages = []
    for backing in (present, absent):
        im.set_backing(overlay, backing)
        with pytest.raises(ImageError) as raised:
            open_image(overlay, timeout=30)
        messages.append((type(raised.value), str(raised.value).replace(repr(backing), "NAME")))
    assert messages[0] == messages[1]


@pytest.mark.timeout(60)
def test_a_symlink_in_the_image_folder_cannot_lead_out_of_it(overlay: Path, tmp_path: Path) -> None:
    other = _move_backing(overlay, tmp_path / "other-vm")
    os.symlink(other, overlay.with_name("disk-backing.qcow2"))
    with pytest.raises(ImageError, match=NOT_READ):
        open_image(overlay, timeout=30)
    assert _hostname(overlay, [tmp_path / "other-vm"]) == HOSTNAME


@pytest.mark.timeout(60)
def test_a_backing_file_in_an_allowed_folder_is_read(overlay: Path, tmp_path: Path) -> None:
    """OpenStack's layout: each instance's overlay names a base image in a shared `_base` folder."""
    base = _move_backing(overlay, tmp_path / "_base")
    im.set_backing(overlay, str(base))
    with pytest.raises(ImageError, match=NOT_READ):
        open_image(overlay, timeout=30)
    assert _hostname(overlay, [str(tmp_path / "_base")]) == HOSTNAME
    assert _hostname(overlay, str(tmp_path)) == HOSTNAME  # one folder given alone, and a folder above it


@pytest.mark.timeout(60)
def test_a_backing_file_below_the_image_folder_is_read(overlay: Path) -> None:
    _move_backing(overlay, overlay.parent / "base")
    im.set_backing(overlay, "base/disk-backing.qcow2")
    assert _hostname(overlay) == HOSTNAME


@pytest.mark.timeout(60)
def test_an_image_reached_through_a_symlinked_folder_reads_its_backing_file(
    overlay: Path, tmp_path: Path
) -> None:
    """qemu resolves a relative backing name from the overlay's name as given: both folders are its own."""
    link = tmp_path / "vms"
    link.symlink_to(overlay.parent)
    assert _hostname(link / overlay.name) == HOSTNAME


@pytest.mark.timeout(60)
def test_a_fifo_as_backing_file_is_refused_without_hanging(overlay: Path) -> None:
    backing = overlay.with_name("disk-backing.qcow2")
    backing.unlink()
    os.mkfifo(backing)
    with pytest.raises(ImageError, match=r"disk-backing\.qcow2'?: a FIFO, not a regular file"):
        open_image(overlay, timeout=30)


@pytest.mark.timeout(60)
def test_a_device_in_an_allowed_folder_is_still_no_backing_file(overlay: Path) -> None:
    im.set_backing(overlay, "/dev/zero")
    with pytest.raises(ImageError, match="a character device, not a regular file"):
        open_image(overlay, timeout=30, backing_dirs=["/dev"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("which", ["itself", "its backing file"])
def test_a_backing_chain_that_loops_is_refused(overlay: Path, which: str) -> None:
    if which == "itself":
        im.set_backing(overlay, overlay.name)
    else:
        im.set_backing(overlay.with_name("disk-backing.qcow2"), overlay.name)
    with pytest.raises(CorruptImage, match="qcow2 backing chain loops"):
        open_image(overlay, timeout=30)


@pytest.mark.timeout(60)
def test_eight_backing_files_are_read_and_a_ninth_is_refused(overlay: Path) -> None:
    top = overlay
    for n in range(7):
        top = im.empty_overlay(top, overlay.with_name(f"layer{n}.qcow2"))
    assert _hostname(top) == HOSTNAME  # below the top layer: six layers, the overlay, its backing file
    top = im.empty_overlay(top, overlay.with_name("layer7.qcow2"))
    with pytest.raises(CorruptImage, match="qcow2 backing chain deeper than 8"):
        open_image(top, timeout=30)
