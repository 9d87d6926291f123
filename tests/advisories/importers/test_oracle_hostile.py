"""The Oracle ELSA importer against damaged and hostile input: nothing is lost, nothing hangs or explodes."""

from __future__ import annotations

import bz2
import os
import re
import time
import tracemalloc
from pathlib import Path

import pytest

from vigil.advisories.importer import RecordError, SourceFormatError
from vigil.advisories.importers.oracle import OracleOvalImporter

ORACLE = Path(__file__).parent / "fixtures" / "oracle"
PER_ARCH = (ORACLE / "com.oracle.elsa-per-arch.xml").read_bytes()
KSPLICE = (ORACLE / "com.oracle.elsa-ksplice.xml").read_bytes()
HEADER = b'<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><definitions>'

pytestmark = pytest.mark.timeout(20)


def _read(path: Path, importer: OracleOvalImporter | None = None) -> tuple[list[str], list[RecordError]]:
    errors: list[RecordError] = []
    return [a.id for a in (importer or OracleOvalImporter()).read(path, errors)], errors


def _write(tmp_path: Path, data: bytes, name: str = "com.oracle.elsa-test.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_malformed_definitions_are_counted_and_the_others_kept(tmp_path):
    damaged = PER_ARCH.replace(  # rsyslog: a fixed version without its release
        b'comment="rsyslog is earlier than 0:8.24.0-57.0.4.el7_9.3"',
        b'comment="rsyslog is earlier than 0:8.24.0"',
        1,
    ).replace(  # firefox: a criterion nobody has seen
        b'comment="firefox is signed with the Oracle Linux 10 key"', b'comment="firefox is blessed"', 1
    )
    path = _write(tmp_path, damaged)
    found, errors = _read(path)
    assert found == ["ELSA-2024-2961"]
    assert errors == [
        RecordError(
            f"{path}#oval:com.oracle.elsa:def:20224803",
            "malformed ELSA definition: '0:8.24.0' is not epoch:version-release",
        ),
        RecordError(
            f"{path}#oval:com.oracle.elsa:def:202510073",
            "malformed ELSA definition: criterion Vigil does not know: 'firefox is blessed'",
        ),
    ]


INSTALLED = (
    b'<criterion test_ref="oval:com.oracle.elsa:tst:20219151001" comment="Oracle Linux 8 is installed"/>'
)
KSPLICE_TEST = (
    b'<criterion test_ref="oval:com.oracle.elsa:tst:20219151005" comment="openssl is ksplice-based"/>'
)
DEEP = 2000


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.replace(KSPLICE_TEST, KSPLICE_TEST.replace(b"/>", b' negate="true"/>'), 1), "negated"),
        (lambda d: d.replace(b'ref_id="ELSA-2021-9151"', b'ref_id="RHSA-2021:1024"'), "no ELSA id"),
        (
            lambda d: d.replace(INSTALLED, b""),
            "openssl: fix outside any 'Oracle Linux N is installed' branch",
        ),
        (
            lambda d: re.sub(rb"</metadata>.*</definition>", b"</metadata></definition>", d, flags=re.S),
            "no <criteria>",
        ),
        (
            lambda d: d.replace(INSTALLED, b"<criteria>" * DEEP + INSTALLED, 1).replace(
                b"</definition>", b"</criteria>" * DEEP + b"</definition>", 1
            ),
            "criteria nested deeper than 32",
        ),
    ],
    ids=["negated", "no-id", "no-release", "no-criteria", "deep"],
)
def test_each_kind_of_malformed_definition_is_a_record_error(tmp_path, damage, message):
    data = damage(KSPLICE)
    assert data != KSPLICE
    found, errors = _read(_write(tmp_path, data))
    assert found == []
    assert len(errors) == 1 and message in errors[0].error, errors


BILLION_LAUGHS = (
    '<?xml version="1.0" encoding="{encoding}"?>\n'
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>\n'
    '<oval_definitions><definitions><definition id="x"><metadata><title>&lol2;</title></metadata>'
    "</definition></definitions></oval_definitions>"
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    "<oval_definitions><definitions>&e;</definitions></oval_definitions>"
)


@pytest.mark.parametrize(
    "data",
    [
        BILLION_LAUGHS.format(encoding="UTF-8").encode(),
        bz2.compress(BILLION_LAUGHS.format(encoding="UTF-8").encode()),
        BILLION_LAUGHS.format(encoding="UTF-16").encode("utf-16"),  # a byte scan for "<!DOCTYPE" misses this
        EXTERNAL.encode(),
    ],
    ids=["entities", "entities-bzip2", "entities-utf16", "external-entity"],
)
def test_doctype_and_entities_are_refused_whatever_the_encoding(tmp_path, data):
    with pytest.raises(SourceFormatError, match="refused: DTDForbidden"):
        _read(_write(tmp_path, data))


def _peak_memory(read) -> int:
    tracemalloc.start()
    try:
        read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_feed_is_read_in_flat_memory_and_refused_past_its_bound(tmp_path):
    """90 real definitions (0.9 MB; 4 MB as one tree): each is dropped once read."""
    definitions = PER_ARCH[PER_ARCH.index(b"<definition ") : PER_ARCH.index(b"</definitions>")]
    feed = _write(tmp_path, HEADER + definitions * 30 + b"</definitions></oval_definitions>")
    counted: list[int] = []

    def count():
        errors: list[RecordError] = []
        counted.append(sum(1 for _ in OracleOvalImporter().read(feed, errors)) + len(errors))

    assert _peak_memory(count) < 1 << 20 and counted == [90]
    with pytest.raises(SourceFormatError, match="larger than 524288 bytes"):
        _read(feed, OracleOvalImporter(max_bytes=512 << 10))


def test_a_bzip2_bomb_stops_at_the_bound_in_flat_memory(tmp_path):
    bomb = _write(tmp_path, bz2.compress(HEADER + b" " * (32 << 20)), "com.oracle.elsa-bomb.xml.bz2")
    assert bomb.stat().st_size < 4096
    started = time.monotonic()

    def read_bomb():
        with pytest.raises(SourceFormatError, match="a definition larger than 1048576 bytes"):
            _read(bomb, OracleOvalImporter(max_definition_bytes=1 << 20))

    assert _peak_memory(read_bomb) < 4 << 20
    assert time.monotonic() - started < 5
    with pytest.raises(SourceFormatError, match="larger than 2097152 bytes"):
        _read(bomb, OracleOvalImporter(max_bytes=2 << 20))


def test_one_huge_definition_is_refused_before_it_fills_memory(tmp_path):
    """A real definition whose description grew to 4 MB: refused at a 1 MB bound, read under the default."""
    huge = PER_ARCH.replace(b"<description>\n[128.12.0-1.0.1]", b"<description>\n" + b"x" * (4 << 20), 1)
    path = _write(tmp_path, huge)
    with pytest.raises(SourceFormatError, match="a definition larger than 1048576 bytes"):
        _read(path, OracleOvalImporter(max_definition_bytes=1 << 20))
    assert _read(path)[0] == ["ELSA-2022-4803", "ELSA-2025-10073", "ELSA-2024-2961"]


def test_damaged_truncated_and_foreign_files_are_refused(tmp_path):
    packed = bz2.compress(PER_ARCH)
    with pytest.raises(SourceFormatError, match="damaged bzip2 data"):
        _read(_write(tmp_path, packed[: len(packed) // 2], "com.oracle.elsa-cut.xml.bz2"))
    with pytest.raises(SourceFormatError, match="malformed XML"):
        _read(_write(tmp_path, PER_ARCH[:3000], "com.oracle.elsa-cut.xml"))
    with pytest.raises(SourceFormatError, match="root is <updates>, not <oval_definitions>"):
        _read(_write(tmp_path, b"<updates><update/></updates>", "com.oracle.elsa-alas.xml"))
    with pytest.raises(SourceFormatError, match="no <definitions>"):
        _read(_write(tmp_path, b"<oval_definitions><generator/></oval_definitions>", "com.oracle.elsa-0.xml"))


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "com.oracle.elsa-fifo.xml"
    os.mkfifo(fifo)
    with pytest.raises(SourceFormatError, match="not a regular file"):
        _read(fifo)
    assert not OracleOvalImporter().recognises(fifo)


def test_a_broken_file_in_a_directory_is_reported_and_the_others_read(tmp_path):
    _write(tmp_path, KSPLICE, "com.oracle.elsa-ksplice.xml")
    _write(tmp_path, bz2.compress(PER_ARCH)[:500], "com.oracle.elsa-cut.xml.bz2")
    found, errors = _read(tmp_path)
    assert found == ["ELSA-2021-9151"]
    assert [e.where for e in errors] == [str(tmp_path / "com.oracle.elsa-cut.xml.bz2")]
    assert "damaged bzip2 data" in errors[0].error
