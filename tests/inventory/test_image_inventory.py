"""The same instance read live and from its disk image gives the same inventory."""

from __future__ import annotations

import json

import pytest
from tests.support.cli import vigil

from vigil.demo import ROOTFS, build_demo_image
from vigil.inventory.targets import take_inventory


@pytest.fixture(scope="module")
def demo_image(tmp_path_factory):
    return build_demo_image(tmp_path_factory.mktemp("demo"))


def _comparable(inventory):
    return sorted(
        (p.name, p.version, p.arch, p.source_name, p.source_version, p.purl) for p in inventory.packages
    )


def test_image_and_tree_give_the_same_packages_os_and_kernel(demo_image):
    live = take_inventory([str(ROOTFS)], os_only=True)
    image = take_inventory([str(demo_image)], os_only=True)
    assert _comparable(image) == _comparable(live)
    assert image.os == live.os
    assert image.kernel == live.kernel
    assert image.kernel.default == "5.10.0-20-amd64"


def test_var_on_a_second_volume_is_found_through_fstab(demo_image):
    image = take_inventory([str(demo_image)], os_only=True)
    mounts = {v.name: v.mountpoint for v in image.target.volumes}
    assert mounts == {"disk0p1": "/", "disk0p2": "/var"}
    assert image.packages, "the dpkg database lives on the /var volume"
    assert image.packages[0].locations == ("/var/lib/dpkg/status",)


def test_an_os_inventory_of_an_image_reads_little_and_does_not_walk(demo_image):
    image = take_inventory([str(demo_image)], os_only=True)
    assert image.stats.walked is False
    assert 0 < image.stats.bytes_read < 2 << 20  # the databases and metadata, not the disk


def test_cli_table_names_the_volumes_and_the_default_kernel(demo_image):
    out = vigil("inventory", demo_image).stdout
    assert "disk0p2: ext4" in out and "mounted at /var" in out
    assert "5.10.0-20-amd64 (default per boot loader; package linux-image-5.10.0-20-amd64" in out


def test_json_of_an_image_lists_its_volumes(demo_image):
    doc = json.loads(vigil("inventory", demo_image, "--format", "json", "--os-only").stdout)
    assert doc["target"]["kind"] == "image"
    assert [v["content"] for v in doc["target"]["volumes"]] == ["ext4", "ext4"]
