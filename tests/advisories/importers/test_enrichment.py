"""NVD CVSS, EPSS and CISA KEV importers on real files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from vigil.advisories.importer import SourceFormatError
from vigil.advisories.importers.epss import EpssImporter
from vigil.advisories.importers.kev import KevImporter
from vigil.advisories.importers.nvd import NvdImporter

FIXTURES = Path(__file__).parent / "fixtures"


def _read(importer, path):
    errors = []
    return list(importer.read(path, errors)), errors


def test_nvd_gives_every_cvss_version_with_vector_score_and_scorer():
    records, errors = _read(NvdImporter(), FIXTURES / "nvd")
    assert not errors
    by_cve = {}
    for r in records:
        by_cve.setdefault(r.cve, []).append((r.version, r.vector, r.base_score, r.source))
    assert by_cve["CVE-2023-4863"] == [
        ("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8, "nvd@nist.gov")
    ]
    assert by_cve["CVE-2014-1424"] == [("2.0", "AV:N/AC:L/Au:N/C:N/I:P/A:P", 6.4, "nvd@nist.gov")]
    assert by_cve["CVE-2024-47177"][0][2] == 9.0  # scored by the CNA, not NVD
    assert NvdImporter().recognises(FIXTURES / "nvd" / "CVE-2023-4863.json")


def test_epss_scores_carry_the_score_date():
    records, errors = _read(EpssImporter(), FIXTURES / "epss" / "example-1.csv")
    assert not errors and len(records) == 5
    first = records[0]
    assert (first.cve, first.score, first.percentile, first.date) == (
        "CVE-1999-0001",
        0.00383,
        0.73075,
        "2025-02-20",
    )


def test_epss_gzip_as_published(tmp_path):
    gz = tmp_path / "epss_scores-current.csv.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "epss" / "example-1.csv").read_bytes()))
    assert EpssImporter().recognises(gz)
    assert len(_read(EpssImporter(), gz)[0]) == 5


@pytest.mark.parametrize(
    ("name", "reason"), [("invalid-header.csv", "header"), ("missing-date.csv", "score_date")]
)
def test_broken_epss_files_are_refused_with_the_reason(name, reason):
    with pytest.raises(SourceFormatError, match=reason):
        _read(EpssImporter(), FIXTURES / "epss" / name)


def test_kev_entries_say_when_exploitation_was_known():
    path = FIXTURES / "kev" / "known_exploited_vulnerabilities.subset.json"
    assert KevImporter().recognises(path)
    records, errors = _read(KevImporter(), path)
    assert not errors
    by_cve = {r.cve: r for r in records}
    assert by_cve["CVE-2025-48384"].date_added == "2025-08-25"
    assert by_cve["CVE-2025-48384"].due_date == "2025-09-15"
    assert by_cve["CVE-2021-44228"].ransomware == "Known"


@pytest.mark.timeout(20)
def test_gzip_bomb_is_refused(tmp_path, monkeypatch):
    from vigil.advisories.importers import enrichment_files

    monkeypatch.setattr(enrichment_files, "MAX_ENRICHMENT_BYTES", 1 << 20)
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"#model_version:v1,score_date:2025-01-01\n" + bytes(50 << 20)))
    with pytest.raises(SourceFormatError, match="larger than"):
        list(EpssImporter().read(bomb, []))


def test_malformed_json_is_refused(tmp_path):
    bad = tmp_path / "kev.json"
    bad.write_text('{"title": "CISA Catalog of Known Exploited Vulnerabilities", "vulnerabilities": [')
    with pytest.raises(SourceFormatError):
        _read(KevImporter(), bad)
