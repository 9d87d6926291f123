"""How an instance's disks become one tree: which volume is the root, what fstab mounts, what is reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.catalog import CONTRACT_LAYOUTS, VAR_UUID, Built
from tests.support.rootfs import HOSTNAME

from vigil.fs import open_image

LayoutImage = Callable[[str], Built]
pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("layout", CONTRACT_LAYOUTS)
def test_a_clean_image_opens_without_problems_and_closes_its_files(
    layout: str, layout_image: LayoutImage
) -> None:
    fs = open_image(layout_image(layout).sources, timeout=30)
    with fs:
        assert fs.problems == []
        assert fs.mount_table[0].path == "/"
    assert all(f._f.closed for disk in fs.disks for f in disk.files)


@pytest.mark.parametrize(
    ("layout", "root"),
    [
        ("ext4", "disk0"),
        ("gpt-debian", "disk0p1"),
        ("gpt-al2023", "disk0p1"),
        ("gpt-root-third", "disk0p3"),
        ("mbr-logical", "disk0p6"),
        ("lvm", "vg0/root"),
        ("var-uuid", "disk0p1"),
    ],
)
def test_the_root_is_the_volume_holding_an_os_release_file(
    layout: str, root: str, layout_image: LayoutImage
) -> None:
    with open_image(layout_image(layout).sources, timeout=30) as fs:
        assert fs.mount_table[0].volume.name == root


@pytest.mark.parametrize("layout", [name for name in CONTRACT_LAYOUTS if name.startswith("var-")])
def test_var_on_a_second_disk_is_mounted_from_fstab(layout: str, layout_image: LayoutImage) -> None:
    with open_image(layout_image(layout).sources, timeout=30) as fs:
        (_, var) = fs.mount_table
        assert var.path == "/var"
        assert var.volume.disk_index == 1
        assert var.volume.name == ("vg-data/lv-var" if "lvm" in layout else "disk1p1")
        assert fs.open("/var/lib/app/data.txt").read() == b"on the /var volume\n"


def test_a_disk_fstab_names_but_that_was_not_given_is_a_problem(layout_image: LayoutImage) -> None:
    with open_image(layout_image("var-uuid").sources[:1], timeout=30) as fs:
        assert fs.problems == [f"/etc/fstab: UUID={VAR_UUID} (mounted at /var) is not on the given disks"]
        assert list(fs.list_dir("/var")) == []
        assert fs.open("/etc/hostname").read() == HOSTNAME


def test_sources_may_be_paths_strings_or_file_objects(layout_image: LayoutImage) -> None:
    disk = layout_image("gpt-debian").sources[0]
    for source in (disk, str(disk), [disk]):
        with open_image(source, timeout=30) as fs:
            assert fs.open("/etc/hostname").read() == HOSTNAME
    with open(disk, "rb") as f:
        with open_image(f, timeout=30) as fs:
            assert fs.open("/etc/hostname").read() == HOSTNAME
        assert not f.closed  # the caller's file object stays the caller's


def test_an_image_is_never_written(layout_image: LayoutImage, tmp_path: Path) -> None:
    built = layout_image("qcow2-overlay")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in built.files}
    with open_image(built.sources, timeout=30) as fs:
        for info in fs.walk("/"):
            if info.is_file:
                fs.open(info.path).read()
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in built.files} == before
