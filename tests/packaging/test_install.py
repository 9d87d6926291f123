"""`pip install vigil` into a fresh virtual environment, without extras, gives a working `vigil`.

The dependencies come from `var/wheelhouse` (`make wheelhouse` fills it with the wheels of every declared
dependency), so that the install is offline and holds only what pyproject.toml declares.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = REPO / "var" / "wheelhouse"
DEMO_ROOTFS = REPO / "demo" / "rootfs"
DSA_LIST = REPO / "tests" / "advisories" / "importers" / "fixtures" / "debian" / "DSA-list"


def _run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory):
    """A fresh virtual environment with `vigil` from a wheel of this checkout, no extras."""
    if not (WHEELHOUSE / ".built").exists():
        pytest.fail("no wheelhouse: run `make wheelhouse` (make test does)")
    work = tmp_path_factory.mktemp("install")
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                 "-w", work / "dist", REPO)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("vigil-*.whl")
    venv.create(work / "venv", with_pip=True)
    pip = _run(work / "venv/bin/pip", "install", "-q", "--no-index", "--find-links", WHEELHOUSE, wheel)
    assert pip.returncode == 0, pip.stderr
    return work


def test_the_wheel_carries_no_tests_and_the_inventory_schema(plain_install):
    import zipfile

    (wheel,) = (plain_install / "dist").glob("vigil-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "vigil/inventory/inventory.schema.json" in names
    assert not any(n.startswith("tests/") for n in names)


def test_inventory_db_import_and_scan_work_without_extras(plain_install):
    vigil = plain_install / "venv/bin/vigil"
    inventory = _run(vigil, "inventory", DEMO_ROOTFS, "--format", "json")
    assert inventory.returncode == 0, inventory.stderr
    assert any(p["name"] == "openssl" for p in json.loads(inventory.stdout)["packages"])
    db = plain_install / "advisories.db"
    imported = _run(vigil, "db", "import", DSA_LIST, "--db", db)
    assert imported.returncode == 0, imported.stderr
    scan = _run(vigil, "scan", DEMO_ROOTFS, "--db", db, "--format", "json")
    assert scan.returncode == 0, scan.stderr
    assert len(json.loads(scan.stdout)["findings"]) > 5


def test_what_an_extra_brings_is_asked_for_by_name(plain_install, tmp_path):
    vigil = plain_install / "venv/bin/vigil"
    image = tmp_path / "disk.img"
    image.write_bytes(bytes(1 << 20))
    result = _run(vigil, "inventory", image)
    assert result.returncode == 2 and "pip install 'vigil[images]'" in result.stderr
    result = _run(vigil, "inventory", DEMO_ROOTFS, "--format", "cyclonedx")
    assert result.returncode == 1 and "pip install 'vigil[sbom]'" in result.stderr
