"""Text output never sends a terminal what untrusted input carries: control characters are shown escaped."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.inventory.extracting import place

from vigil.findings import evaluate
from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.model import Target
from vigil.inventory.os.dpkg import DpkgExtractor
from vigil.output.tables import db_status_table, inventory_table, scan_table
from vigil.output.text import safe

# a window title, a screen clear, a C1 control sequence introducer, a right-to-left override
HOSTILE = "\x1b]0;owned\x07evil\x1b[2J\x9b31m\u202egnp"
SHOWN = "\\x1b]0;owned\\x07evil\\x1b[2J\\x9b31m\\u202egnp"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


@pytest.fixture
def hostile_inventory(tmp_path):
    """A dpkg status whose package names, versions' source and OS name carry escape sequences; the package
    is built from curl's source, so the DSA list flags it."""
    place(tmp_path, "/etc/os-release", f'PRETTY_NAME="Debian {HOSTILE}"\nVERSION_ID="11"\nID=debian\n')
    place(
        tmp_path,
        "/var/lib/dpkg/status",
        f"Package: lib{HOSTILE}\nStatus: install ok installed\nArchitecture: amd64\nSource: curl\n"
        "Version: 7.74.0-1.3+deb11u3\n",
    )
    collector = Collector(LiveFS(str(tmp_path)), [DpkgExtractor()], scope=PathScope.all())
    return collector.collect(Target("host", [str(tmp_path)], hostname=f"web{HOSTILE}"))


def _assert_escaped(text):
    assert not [c for c in RAW if c in text], repr(text)
    assert SHOWN in text


def test_safe_escapes_control_characters_and_keeps_the_rest():
    assert safe(HOSTILE) == SHOWN
    assert safe("libc6 2.36-9+deb12u4 ünïcode [bold]") == "libc6 2.36-9+deb12u4 ünïcode [bold]"
    assert safe("a\tb\nc") == "a\tb\\nc" and safe("a\nb", newlines=True) == "a\nb"


def test_the_inventory_table_shows_escape_sequences_from_a_package_database_escaped(hostile_inventory):
    assert hostile_inventory.packages[0].name == f"lib{HOSTILE}"  # the extractor keeps what the file says
    _assert_escaped(inventory_table(hostile_inventory))


def test_the_scan_table_shows_escape_sequences_from_a_package_database_escaped(
    hostile_inventory, advisory_db
):
    evaluation = evaluate(hostile_inventory, advisory_db, now=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    text = scan_table(hostile_inventory, evaluation)
    assert "CVE-2023-23916" in text
    _assert_escaped(text)


def test_the_database_status_shows_escape_sequences_in_source_names_escaped():
    doc = {
        "path": f"/var/lib/{HOSTILE}.db", "version": 3, "size_bytes": 4096, "counts": {"advisories": 1},
        "sources": [{"name": f"osv:/srv/{HOSTILE}", "url": None, "licence": HOSTILE, "updated_at": "2026-03-01",
                     "records": 1, "errors": 0}],
    }  # fmt: skip
    _assert_escaped(db_status_table(doc))
