"""`vigil inventory` as a user runs it: the real command line, real targets, the output formats of the contract."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.support.cli import vigil

REPO = Path(__file__).resolve().parents[2]
DEMO_ROOTFS = REPO / "demo" / "rootfs"


def test_json_inventory_of_a_directory_tree():
    doc = json.loads(vigil("inventory", str(DEMO_ROOTFS), "--format", "json").stdout)
    assert (doc["schema"], doc["schema_version"]) == ("vigil.inventory", 1)
    assert doc["target"]["kind"] == "directory"
    assert (doc["os"]["id"], doc["os"]["version_id"], doc["os"]["codename"]) == ("debian", "11", "bullseye")
    names = {p["name"] for p in doc["packages"]}
    assert {"openssl", "libssl1.1", "bash", "linux-image-5.10.0-20-amd64"} <= names
    libssl = next(p for p in doc["packages"] if p["name"] == "libssl1.1")
    assert libssl["source_name"] == "openssl" and libssl["purl"].startswith("pkg:deb/debian/libssl1.1@")
    dpkg_run = next(e for e in doc["extractors"] if e["name"] == "os/dpkg")
    assert dpkg_run["version"] == 1 and dpkg_run["files_read"] == ["/var/lib/dpkg/status"]
    assert doc["kernel"]["default"] == "5.10.0-20-amd64"
    assert set(doc["stats"]) >= {"files_seen", "bytes_read", "duration_s"}


def test_host_inventory_lists_exactly_what_dpkg_query_lists():
    """The oracle is dpkg itself: every installed package, same version."""
    if shutil.which("dpkg-query") is None:
        pytest.fail("this test needs a Debian host (dpkg-query)")
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Status} ${Package} ${Version}\n"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    expected = sorted((n, v) for s, n, v in (line.split() for line in out.splitlines()) if s == "installed")
    doc = json.loads(vigil("inventory", "/", "--os-only", "--format", "json").stdout)
    got = sorted((p["name"], p["version"]) for p in doc["packages"] if p["type"] == "deb")
    assert got == expected
    assert doc["target"]["kind"] == "host" and doc["kernel"]["running"]


def test_cyclonedx_output_validates_against_the_schema():
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    for version, schema in (("1.6", SchemaVersion.V1_6), ("1.4", SchemaVersion.V1_4)):
        text = vigil(
            "inventory", str(DEMO_ROOTFS), "--format", "cyclonedx", "--cyclonedx-version", version
        ).stdout
        assert JsonStrictValidator(schema).validate_str(text) is None
        doc = json.loads(text)
        assert doc["specVersion"] == version
        purls = {c.get("purl") for c in doc["components"]}
        assert any(p and p.startswith("pkg:deb/debian/openssl@") for p in purls)
        assert any(c["type"] == "operating-system" for c in doc["components"])


def test_spdx_output_parses_and_validates(tmp_path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    out = tmp_path / "inventory.spdx.json"
    vigil("inventory", str(DEMO_ROOTFS), "--format", "spdx", "-o", str(out))
    document = parse_file(str(out))
    assert validate_full_spdx_document(document) == []
    assert document.creation_info.spdx_version == "SPDX-2.3"
    assert any(p.name == "libssl1.1" for p in document.packages)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "No such file"),
        ("dir", "no OS found"),
        (bytes(1 << 20), "no filesystem found"),
        (b"junk" * 5000, "no filesystem found"),
    ],
)
def test_an_unreadable_target_is_a_clear_message_and_exit_status_2(tmp_path, content, reason):
    target = tmp_path / "target"
    if content == "dir":
        target.mkdir()
    elif content is not None:
        target.write_bytes(content)
    result = vigil("inventory", str(target), check=False)
    assert result.returncode == 2
    assert reason in result.stderr and result.stdout == ""
