"""CSAF 2.0 advisories and VEX (Red Hat, Rocky Linux from CIQ) on real documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.advisories.importer import SourceFormatError
from vigil.advisories.importers.csaf import CsafImporter
from vigil.advisories.model import Status

CSAF = Path(__file__).parent / "fixtures" / "csaf"


def _one(name):
    errors = []
    advisories = list(CsafImporter().read(CSAF / name, errors))
    assert errors == []
    return advisories


def _entries(advisory):
    return {(a.namespace, a.package, a.arch): a for a in advisory.affected}


def test_rhsa_fixed_packages_with_epoch_version_release():
    (advisory,) = _one("rhsa-2022-0011.json")
    assert (advisory.id, advisory.aliases, advisory.vendor_severity) == (
        "RHSA-2022:0011",
        ("CVE-2020-10188",),
        "important",
    )
    telnet = _entries(advisory)[("rhel:7", "telnet-server", None)]
    assert (telnet.ecosystem, telnet.status, telnet.fixed_version) == (
        "Red Hat",
        Status.FIXED,
        "1:0.17-65.el7_6",
    )


def test_a_fix_listed_only_as_a_source_rpm_is_kept_for_the_source_lookup():
    (advisory,) = _one("rhsa-2024_6163.json")
    entry = _entries(advisory)[("rhel:9", "python3.9", "src")]
    assert entry.fixed_version == "3.9.18-3.el9_4.5"


def test_rocky_z_stream_builds_are_alternatives():
    (advisory,) = _one("crlsa-2024-0119.json")
    fixes = sorted(a.fixed_version for a in advisory.affected if a.package == "libxml2" and a.arch is None)
    assert fixes == ["2.9.7-18.el8", "2.9.7-18.el8_9"]
    assert all(a.namespace == "rocky:8" and a.ecosystem == "Rocky Linux" for a in advisory.affected)
    assert not [a for a in advisory.affected if a.package.endswith("-debuginfo")]


def test_vex_not_affected_per_release():
    (advisory,) = _one("cve-2023-4154.json")
    samba9 = _entries(advisory)[("rhel:9", "samba", None)]
    assert advisory.id == "CVE-2023-4154" and samba9.status is Status.NOT_AFFECTED
    (kernel,) = _one("cve-2021-0084.json")
    assert {a.namespace for a in kernel.affected} == {"rhel:5", "rhel:6", "rhel:7", "rhel:8", "rhel:9"}


def test_products_vigil_does_not_scan_are_left_out():
    assert _one("cve-2024-22047.json") == []  # Red Hat Satellite only


def test_malformed_documents(tmp_path):
    bad = tmp_path / "rhsa.json"
    bad.write_text('{"document": {"csaf_version": "2.0", ')
    with pytest.raises(SourceFormatError):
        list(CsafImporter().read(bad, []))
    doc = json.loads((CSAF / "rhsa-2022-0011.json").read_text())
    doc["product_tree"]["relationships"] = "not a list"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc))
    errors = []
    assert list(CsafImporter().read(broken, errors)) == []
    assert "malformed CSAF" in errors[0].error
