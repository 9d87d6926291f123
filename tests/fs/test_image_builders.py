"""The test-image library builds what it says: real partition layouts, real container formats, no leftovers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support import images as im
from tests.support.catalog import CONTRACT_LAYOUTS, Built
from tests.support.rootfs import PROTOFILE_HOSTILE, UNICODE_FILE

LayoutImage = Callable[[str], Built]
pytestmark = pytest.mark.timeout(60)


def _partitions(disk: Path) -> list[dict[str, object]]:
    table = json.loads(im.run("sfdisk", "--json", disk))["partitiontable"]
    for part in table["partitions"]:
        part["number"] = int(str(part["node"]).removeprefix(str(disk)))
    return sorted(table["partitions"], key=lambda p: int(p["start"]))


def test_debian_cloud_layout_puts_p14_and_p15_before_an_unnamed_p1(layout_image: LayoutImage) -> None:
    parts = _partitions(layout_image("gpt-debian").sources[0])
    assert [p["number"] for p in parts] == [14, 15, 1]
    assert [p["type"] for p in parts] == [im.GPT_BIOS_BOOT, im.GPT_EFI, im.GPT_LINUX]
    assert "name" not in parts[2]


def test_al2023_layout_names_its_partitions_like_the_ami(layout_image: LayoutImage) -> None:
    parts = _partitions(layout_image("gpt-al2023").sources[0])
    assert [(p["number"], p.get("name")) for p in parts] == [
        (127, "BIOS Boot Partition"), (128, "EFI System Partition"), (1, "Linux"),
    ]  # fmt: skip


def test_mbr_layout_has_logical_partitions_in_an_extended_one(layout_image: LayoutImage) -> None:
    parts = _partitions(layout_image("mbr-logical").sources[0])
    assert [(p["number"], p["type"]) for p in parts] == [(1, "83"), (2, "5"), (5, "82"), (6, "83")]


@pytest.mark.parametrize(
    ("layout", "fmt", "detail"),
    [
        ("qcow2", "qcow2", None),
        ("qcow2-compressed", "qcow2", None),
        ("vmdk-sparse", "vmdk", "monolithicSparse"),
        ("vmdk-stream", "vmdk", "streamOptimized"),
        ("vmdk-flat", "vmdk", "monolithicFlat"),
        ("vhd", "vpc", None),
        ("vhdx", "vhdx", None),
    ],
)
def test_containers_are_the_formats_they_are_named_after(
    layout: str, fmt: str, detail: str | None, layout_image: LayoutImage
) -> None:
    info = json.loads(im.run("qemu-img", "info", "--output=json", layout_image(layout).sources[0]))
    assert info["format"] == fmt
    if detail:
        assert info["format-specific"]["data"]["create-type"] == detail


def test_a_fixed_vhd_is_raw_data_and_a_footer(layout_image: LayoutImage) -> None:
    image = layout_image("vhd-fixed").sources[0]
    with open(image, "rb") as f:
        f.seek(-512, 2)
        assert f.read(8) == b"conectix"


def test_the_overlay_names_its_backing_file_relatively(layout_image: LayoutImage) -> None:
    built = layout_image("qcow2-overlay")
    info = json.loads(im.run("qemu-img", "info", "--output=json", built.sources[0]))
    assert info["backing-filename"] == "disk-backing.qcow2"
    assert built.extra == (built.sources[0].with_name("disk-backing.qcow2"),)


def test_images_stay_sparse(layout_image: LayoutImage) -> None:
    built = layout_image("xfs")
    (image,) = built.sources
    assert image.stat().st_blocks * 512 < image.stat().st_size // 2


def test_an_xfs_protofile_leaves_out_and_lists_what_it_cannot_express(contract_tree: Path) -> None:
    proto = im.xfs_protofile(contract_tree)
    assert proto.skipped == tuple(sorted(PROTOFILE_HOSTILE))
    assert UNICODE_FILE.rsplit("/", 1)[1].encode() in proto.text
    assert b"hard-a" in proto.text and b"hard-b" in proto.text  # hard links become two copies


def test_no_loop_device_is_left_attached(layout_image: LayoutImage) -> None:
    for layout in CONTRACT_LAYOUTS:
        if "lvm" in layout:
            layout_image(layout)
    attached = im.run("losetup", "--list", "--noheadings", "--output", "BACK-FILE")
    assert "vigil-images" not in attached


def test_a_missing_tool_fails_loudly() -> None:
    with pytest.raises(im.MissingTool, match=r"scripts/system-deps\.sh"):
        im.tool("mkfs.no-such-filesystem")
