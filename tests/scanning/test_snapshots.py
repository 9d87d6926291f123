"""Snapshots of local volumes: a reflink copy where the filesystem allows it, otherwise the image read in
place (and said so), tagged with their scan, and swept when their scan is not running."""

from __future__ import annotations

import json

from tests.support import images as im

from vigil.fleet.model import Volume
from vigil.scanning.snapshots import SnapshotStore, reflink


def _volume(path, volume_id="vol-01"):
    return Volume(volume_id, "/dev/xvda", 8, source=str(path))


def test_without_reflink_the_image_is_read_in_place_and_the_folder_is_tagged_with_the_scan(
    tmp_path, machine_images
):
    store = SnapshotStore(tmp_path / "snapshots")
    (snapshot,) = store.take("scan-1", [_volume(machine_images["web"])])
    assert (snapshot.method, snapshot.path) == ("in-place", str(machine_images["web"]))
    assert snapshot.note == "no reflink copy: the filesystem cannot share extents (Operation not supported)"
    assert json.loads((tmp_path / "snapshots/scan-1/tags.json").read_text()) == {"InspectorScan": "scan-1"}
    assert [p.name for p in (tmp_path / "snapshots/scan-1").iterdir()] == ["tags.json"]
    store.delete("scan-1")
    assert list((tmp_path / "snapshots").iterdir()) == []


def test_a_failed_reflink_leaves_no_partial_copy(tmp_path, machine_images):
    reason = reflink(machine_images["web"], tmp_path / "copy.qcow2")
    assert reason is not None and "cannot share extents" in reason
    assert not (tmp_path / "copy.qcow2").exists()


def test_an_overlay_naming_its_backing_file_is_read_in_place(tmp_path, machine_images):
    overlay = im.empty_overlay(machine_images["web"], tmp_path / "overlay.qcow2")
    (snapshot,) = SnapshotStore(tmp_path / "snapshots").take("scan-2", [_volume(overlay)])
    assert (snapshot.method, snapshot.note) == (
        "in-place",
        "a qcow2 overlay with a backing file: read in place",
    )


def test_the_sweeper_keeps_running_scans_snapshots_and_deletes_the_rest(tmp_path, machine_images):
    store = SnapshotStore(tmp_path / "snapshots")
    for scan_id in ("running", "crashed"):
        store.take(scan_id, [_volume(machine_images["web"])])
    (tmp_path / "snapshots/renamed-folder").mkdir()
    (tmp_path / "snapshots/renamed-folder/tags.json").write_text('{"InspectorScan": "crashed-too"}')
    (tmp_path / "snapshots/untagged").mkdir()
    outside = tmp_path / "not-ours"
    outside.mkdir()
    (tmp_path / "snapshots/link").symlink_to(outside)
    assert sorted(store.sweep({"running"})) == ["crashed", "crashed-too", "untagged"]
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["link", "running"]
    assert outside.exists()
    assert SnapshotStore(tmp_path / "nothing-yet").sweep(set()) == []
