"""Every importer against hostile input: records nested without end, FIFOs where files belong, XML in
UTF-16 declaring entities. Each is one unreadable record (or one refused file), never a crash or a hang;
the good records beside it are read."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from vigil.advisories.feeds import IMPORTERS
from vigil.advisories.importer import RecordError, SourceFormatError
from vigil.advisories.importers.amazon import updateinfo_href
from vigil.advisories.importers.jsondoc import TOO_DEEP, load_records

FIXTURES = Path(__file__).parent / "fixtures"
DEEP = "[" * 100_000 + "]" * 100_000  # far past CPython's recursion limit
pytestmark = pytest.mark.timeout(30)  # a FIFO read would block: fail instead of hanging


def _read(importer: str, path: Path) -> tuple[list, list[RecordError]]:
    errors: list[RecordError] = []
    return list(IMPORTERS[importer].read(path, errors)), errors


def _deepened(source: Path, old: str, new: str) -> str:
    text = source.read_text()
    assert old in text
    return text.replace(old, new, 1)


# (importer, fixture folder copied, the file given a record nested too deeply, text replaced, by)
ONE_RECORD_PER_FILE = {
    "osv": ("osv/almalinux/almalinux8", "ALSA-2023:5050.json", '"summary": ', f'"summary": {DEEP}, "x": '),
    "csaf": ("csaf", "cve-2021-0084.json", '"document": ', f'"deep": {DEEP}, "document": '),
    "amazon-updateinfo": ("amazon/vuln-list/2023", "ALAS2023-2023-002.json", '"title": ', f'"title": {DEEP}, "x": '),
}  # fmt: skip


@pytest.mark.parametrize("importer", ONE_RECORD_PER_FILE)
def test_a_file_nested_too_deeply_is_one_unreadable_record_and_the_rest_are_read(tmp_path, importer):
    folder, name, old, new = ONE_RECORD_PER_FILE[importer]
    shutil.copytree(FIXTURES / folder, tmp_path / "feed")
    good, errors = _read(importer, tmp_path / "feed")
    assert errors == []
    deep = tmp_path / "feed" / name
    deep.write_text(_deepened(deep, old, new))
    records, errors = _read(importer, tmp_path / "feed")
    assert len(errors) == 1 and str(deep) in errors[0].where and "nested deeper" in errors[0].error
    assert len(records) == len(good) - 1
    with pytest.raises(SourceFormatError, match="nested deeper"):
        _read(importer, deep)  # named on its own, the file is the whole source


def test_an_archive_member_nested_too_deeply_is_one_unreadable_record(tmp_path):
    archive = tmp_path / "all.zip"
    members = sorted((FIXTURES / "osv" / "almalinux").rglob("*.json"))
    with zipfile.ZipFile(archive, "w") as out:
        for member in members:
            out.writestr(member.name, member.read_text())
        out.writestr("DEEP-1.json", f'{{"id": "DEEP-1", "affected": {DEEP}}}')
    records, errors = _read("osv", archive)
    assert len(records) == len(members)
    assert errors == [RecordError(f"{archive}!DEEP-1.json", f"{archive}!DEEP-1.json: {TOO_DEEP}")]


def _tracker(tmp_path: Path) -> Path:
    data = json.loads((FIXTURES / "debian" / "tracker.json").read_text())
    text = json.dumps(data, indent=1)
    path = tmp_path / "tracker.json"
    path.write_text(text.replace('"CVE-2013-1444": {', f'"CVE-2013-1444": {{"deep": {DEEP},', 1))
    return path


# documents of many records: only the record nested too deeply is left out
MANY_RECORDS = {
    "debian-tracker": (_tracker, "#txt2man/CVE-2013-1444", "CVE-2013-1444"),
    "kev": (
        lambda tmp: _write(tmp / "kev.json", _deepened(
            FIXTURES / "kev" / "known_exploited_vulnerabilities.subset.json",
            '"cveID": "CVE-2025-48384"', f'"deep": {DEEP}, "cveID": "CVE-2025-48384"')),
        "#vulnerabilities/0", None,
    ),
    "nvd": (lambda tmp: _nvd_page(tmp / "nvd.json"), "#vulnerabilities/0", None),
    "alpine-secdb": (
        lambda tmp: _write(tmp / "v3.10" / "community.json", _deepened(
            FIXTURES / "alpine" / "secdb-json" / "claircore" / "v3.10" / "community.json",
            '"pkg": {', f'"pkg": {{"deep": {DEEP},')),
        "#packages/0", None,
    ),
}  # fmt: skip


def _nvd_page(path: Path) -> Path:
    """A page of two CVEs (two real records), the first nested too deeply."""
    page = json.loads((FIXTURES / "nvd" / "CVE-2023-4863.json").read_text())
    page["vulnerabilities"].append(
        json.loads((FIXTURES / "nvd" / "CVE-2014-1424.json").read_text())["vulnerabilities"][0]
    )
    return _write(path, json.dumps(page).replace('"cve": {', f'"cve": {{"deep": {DEEP},', 1))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("importer", MANY_RECORDS)
def test_a_record_nested_too_deeply_inside_a_document_is_left_out_alone(tmp_path, importer):
    make, where, record_id = MANY_RECORDS[importer]
    path = make(tmp_path)
    records, errors = _read(importer, path)
    assert errors == [RecordError(f"{path}{where}", TOO_DEEP, record_id=record_id)]
    assert records  # every other record of the document


def test_a_bundle_header_nested_too_deeply_is_a_damaged_header(tmp_path):
    import io
    import struct

    from vigil.advisories.bundle import MAGIC, BundleError, read_header

    nested = ("[" * 30_000 + "]" * 30_000).encode()
    with pytest.raises(BundleError, match="damaged bundle header"):
        read_header(io.BytesIO(MAGIC + struct.pack(">I", len(nested)) + nested))


FIFO_FOLDERS = {
    "osv": ("osv/almalinux/almalinux8", "ALSA-9999:0001.json"),
    "alpine-secdb": ("alpine/secdb-json/vuln-list/3.20/main", "openssl.json"),
    "amazon-updateinfo": ("amazon/updateinfo", "updateinfo.xml.gz"),
}


@pytest.mark.parametrize("importer", FIFO_FOLDERS)
def test_a_fifo_inside_a_feed_folder_is_reported_and_never_opened_for_reading(tmp_path, importer):
    folder, name = FIFO_FOLDERS[importer]
    shutil.copytree(FIXTURES / folder, tmp_path / "feed")
    os.mkfifo(tmp_path / "feed" / name)
    records, errors = _read(importer, tmp_path / "feed")
    assert records
    assert [e.where for e in errors] == [str(tmp_path / "feed" / name)]
    assert "a FIFO, not a regular file" in errors[0].error


@pytest.mark.parametrize("importer", sorted(IMPORTERS))
def test_a_fifo_named_as_the_source_is_refused_at_once(tmp_path, importer):
    fifo = tmp_path / "feed.json"
    os.mkfifo(fifo)
    assert not IMPORTERS[importer].recognises(fifo)
    with pytest.raises((OSError, SourceFormatError), match="a FIFO, not a regular file"):
        _read(importer, fifo)


ENTITY_DOCUMENT = """<?xml version="1.0" encoding="UTF-16"?>
<!DOCTYPE updates [<!ENTITY injected "text the source never published">]>
<updates><update type="security"><id>ALAS2-2099-1</id><description>&injected;</description>
<pkglist><collection><package name="curl" epoch="0" version="8.0" release="1.amzn2" arch="x86_64"/>
</collection></pkglist></update></updates>
"""


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("compress", [False, True])
def test_a_dtd_is_refused_in_utf16_too_and_no_entity_reaches_stored_text(tmp_path, encoding, compress):
    document = ENTITY_DOCUMENT.replace("UTF-16", encoding.upper().replace("-LE", "LE").replace("-BE", "BE"))
    document = document.encode(encoding)
    if encoding == "utf-16-le":
        document = b"\xff\xfe" + document
    elif encoding == "utf-16-be":
        document = b"\xfe\xff" + document
    path = tmp_path / "updateinfo.xml.gz"
    path.write_bytes(gzip.compress(document) if compress else document)
    with pytest.raises(SourceFormatError, match="DOCTYPE/ENTITY declarations are refused"):
        _read("amazon-updateinfo", path)
    with pytest.raises(SourceFormatError, match="DOCTYPE/ENTITY declarations are refused"):
        updateinfo_href(document)


def test_only_the_values_nested_too_deeply_are_left_out_of_a_document():
    document = json.dumps({"a": {"x": 1, "y": "DEEP", "z": [1, {"q": ']}"[\\'}]}, "b": [], "d": ["DEEP", 3]})
    errors: list[RecordError] = []
    found = load_records(document.replace('"DEEP"', DEEP), "doc", errors)
    assert found == {"a": {"x": 1, "z": [1, {"q": ']}"[\\'}]}, "b": [], "d": [3]}
    assert [e.where for e in errors] == ["doc#a/y", "doc#d/0"]
    with pytest.raises(ValueError, match="malformed JSON at offset"):
        load_records('{"a": ' + DEEP, "doc", [])  # the walk checks what it reads
