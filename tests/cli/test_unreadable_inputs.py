"""A target Vigil cannot really read is never "0 packages, exit 0", and nothing hostile reaches the terminal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.inventory.extracting import place
from tests.support.cli import vigil

BULLSEYE = 'ID=debian\nVERSION_ID="11"\n'
STATUS = "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.1-2+deb11u1\n"


def _debian_tree(root: Path, status: str | None) -> Path:
    place(root, "/etc/os-release", BULLSEYE)
    (root / "var/lib/dpkg").mkdir(parents=True)
    database = root / "var/lib/dpkg/status"
    if status == "directory":
        database.mkdir()
    elif status == "fifo":
        os.mkfifo(database)
    elif status == "device":
        os.symlink("/dev/zero", database)  # inside the tree a link to /dev/zero resolves to the tree's
        (root / "dev").mkdir()
        os.mknod(root / "dev/zero", 0o600 | 0o020000, os.makedev(1, 5))
    elif status == "text":
        database.write_text(STATUS)
    return root


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("directory", "/var/lib/dpkg/status: not a regular file but a directory"),
        ("fifo", "/var/lib/dpkg/status: not a regular file but a FIFO"),
        ("device", "/var/lib/dpkg/status: not a regular file but a character device"),
        (None, "/var/lib/dpkg/status: missing, although /var/lib/dpkg exists"),
    ],
)
@pytest.mark.parametrize("command", ["inventory", "scan"])
def test_an_unusable_dpkg_database_is_exit_status_2_with_the_reason(tmp_path, status, reason, command):
    root = _debian_tree(tmp_path / "root", status)
    db = tmp_path / "advisories.db"
    if command == "scan":
        vigil("db", "import", Path(__file__).parents[1] / "advisories/importers/fixtures/debian/DSA-list",
              "--db", db)  # fmt: skip
    result = vigil(command, root, *(("--db", db) if command == "scan" else ()), check=False)
    assert result.returncode == 2, result.stdout
    assert "the OS package database is unusable" in result.stderr and reason in result.stderr


def test_a_distroless_status_d_without_status_is_not_an_error(tmp_path):
    root = tmp_path / "root"
    place(root, "/etc/os-release", BULLSEYE)
    place(root, "/var/lib/dpkg/status.d/bash", STATUS)
    result = vigil("inventory", root, "--format", "json")
    assert '"name": "bash"' in result.stdout


def test_output_to_a_missing_folder_is_a_message(tmp_path):
    root = _debian_tree(tmp_path / "root", "text")
    result = vigil("inventory", root, "-o", tmp_path / "nowhere/out.json", check=False)
    assert result.returncode == 1 and "no folder" in result.stderr and "Traceback" not in result.stderr


def test_output_to_a_full_device_is_a_message(tmp_path):
    root = _debian_tree(tmp_path / "root", "text")
    result = vigil("inventory", root, "-o", "/dev/full", check=False)
    assert result.returncode == 1 and "cannot write /dev/full: the device is full" in result.stderr


def test_output_replaces_a_file_whole_and_keeps_its_mode(tmp_path):
    root = _debian_tree(tmp_path / "root", "text")
    out = tmp_path / "inventory.txt"
    out.write_text("old")
    out.chmod(0o640)
    vigil("inventory", root, "-o", out)
    assert "bash" in out.read_text() and (out.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.txt", "root"]  # no temporary left


def test_a_hostile_target_name_is_shown_escaped(tmp_path):
    target = tmp_path / "evil\x1b]0;pwned\x07name"
    target.mkdir()
    result = vigil("inventory", target, check=False)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\\x1b]0;pwned\\x07name" in result.stderr


@pytest.mark.timeout(120)
def test_a_qcow2_backing_file_elsewhere_is_read_only_from_a_folder_the_user_allows(layout_image, tmp_path):
    """OpenStack's layout: the instance's overlay names a base image in a shared `_base` folder."""
    from tests.support import images as im

    built = layout_image("qcow2-overlay")
    (tmp_path / "vm").mkdir()
    (tmp_path / "_base").mkdir()
    overlay = tmp_path / "vm/disk.qcow2"
    for path in built.files:
        folder = "_base" if path.name == "disk-backing.qcow2" else "vm"
        im.run("cp", "--sparse=always", path, tmp_path / folder / path.name)
    im.set_backing(overlay, str(tmp_path / "_base/disk-backing.qcow2"))
    refused = vigil("inventory", overlay, "--os-only", check=False)
    assert refused.returncode == 2 and "allowed explicitly" in refused.stderr
    allowed = vigil(
        "inventory", overlay, "--os-only", "--allow-backing-dir", tmp_path / "_base", "--format", "json"
    )
    assert '"kind": "image"' in allowed.stdout and '"packages": [' in allowed.stdout
