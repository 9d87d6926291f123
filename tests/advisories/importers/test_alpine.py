"""The Alpine secdb importer on real secdb JSON, vuln-list per-package JSON and legacy YAML files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vigil.advisories.importer import RecordError, SourceFormatError
from vigil.advisories.importers.alpine import AlpineSecdbImporter, secdb_url
from vigil.advisories.model import Advisory, AffectedPackage, Status

ALPINE = Path(__file__).parent / "fixtures" / "alpine"
BUSYBOX = ALPINE / "secdb-json" / "vuln-list" / "3.18" / "main" / "busybox.json"
LEGACY = ALPINE / "secdb-legacy" / "v3.8" / "main.yaml"

pytestmark = pytest.mark.timeout(20)


@pytest.fixture(scope="module")
def advisories() -> dict[str, Advisory]:
    errors: list[RecordError] = []
    found = {a.id: a for a in AlpineSecdbImporter().read(ALPINE, errors)}
    assert errors == []
    return found


def _read(path: Path) -> tuple[dict[str, Advisory], list[RecordError]]:
    errors: list[RecordError] = []
    return {a.id: a for a in AlpineSecdbImporter().read(path, errors)}, errors


def _fixed(namespace: str, origin: str, version: str) -> AffectedPackage:
    return AffectedPackage("Alpine", namespace, origin, Status.FIXED, fixed_version=version)


def test_secdb_json_gives_the_fixed_version_of_the_origin_package_per_release(advisories):
    botan = advisories["CVE-2018-20187"]
    assert botan.affected == (_fixed("alpine:3.10", "botan", "2.9.0-r0"),)
    assert (botan.source, botan.references) == (
        "alpine-secdb",
        ("https://security.alpinelinux.org/vuln/CVE-2018-20187",),
    )


def test_a_zero_key_means_the_release_was_never_affected(advisories):
    assert advisories["CVE-2023-45853"].affected == (
        AffectedPackage("Alpine", "alpine:3.20", "zlib", Status.NOT_AFFECTED),
    )
    assert advisories["CVE-2022-37434"].affected == (_fixed("alpine:3.20", "zlib", "1.2.12-r2"),)


def test_one_advisory_per_id_collects_every_release_that_fixed_it(advisories):
    assert set(advisories["CVE-2017-2629"].affected) == {
        _fixed("alpine:3.20", "curl", "7.53.0-r0"),
        _fixed("alpine:3.8", "curl", "7.53.0"),  # the legacy YAML wrote it without -r0
    }


def test_unsorted_secfixes_keep_every_fix_and_non_cve_ids_are_advisories_too(advisories):
    busybox = json.loads(BUSYBOX.read_bytes())["secfixes"]
    assert list(busybox)[-4:] == ["1.35.0-r7", "1.36.1-r1", "1.36.1-r6", "1.36.1-r7"]
    assert advisories["CVE-2022-30065"].affected == (_fixed("alpine:3.18", "busybox", "1.35.0-r17"),)
    assert advisories["CVE-2022-28391"].affected == (_fixed("alpine:3.18", "busybox", "1.35.0-r7"),)
    alpine_id = advisories["ALPINE-13661"]
    assert alpine_id.affected == (_fixed("alpine:3.18", "busybox", "1.35.0-r7"),)
    assert alpine_id.references == ()


def test_legacy_yaml_splits_multi_id_entries_into_an_id_and_its_aliases(advisories):
    xen = advisories["CVE-2018-8897"]
    assert xen.aliases == ("XSA-260",)
    assert _fixed("alpine:3.8", "xen", "4.10-1-r1") in xen.affected
    assert "XSA-207" in advisories  # an XSA without a CVE stays an advisory of its own


def test_legacy_slips_in_cve_ids_are_straightened(advisories):
    assert advisories["CVE-2017-17434"].affected == (_fixed("alpine:3.8", "rsync", "3.1.2-r7"),)  # -1 and -2
    assert "CVE-2017-17434-1" not in advisories
    assert _fixed("alpine:3.8", "openjdk7", "7.211.2.6.17-r0") in advisories["CVE-2019-2426"].affected
    assert "CVE_2019-2426" not in advisories


def test_a_release_file_without_packages_gives_nothing():
    found, errors = _read(ALPINE / "secdb-legacy" / "v3.3" / "community.yaml")
    assert found == {} and errors == []


def test_a_single_file_is_read_on_its_own():
    found, errors = _read(BUSYBOX)
    assert errors == [] and len(found) == 29  # every id of busybox's secfixes
    assert found["CVE-2021-42373"].affected == (
        AffectedPackage("Alpine", "alpine:3.18", "busybox", Status.NOT_AFFECTED),
    )


def test_a_malformed_package_is_reported_and_the_rest_kept(tmp_path):
    data = json.loads((ALPINE / "secdb-json" / "claircore" / "v3.10" / "community.json").read_bytes())
    data["packages"][0]["pkg"]["secfixes"] = ["CVE-2018-20187"]
    data["packages"][1]["pkg"]["name"] = None
    path = tmp_path / "community.json"
    path.write_text(json.dumps(data))
    found, errors = _read(path)
    assert "CVE-2017-6949" in found and "CVE-2018-20187" not in found
    assert [e.where for e in errors] == [f"{path}#botan", f"{path}#?"]


def test_garbage_is_refused_and_a_bad_file_in_a_directory_reported(tmp_path):
    truncated = tmp_path / "main.json"
    truncated.write_bytes(BUSYBOX.read_bytes()[:300])
    with pytest.raises(SourceFormatError, match="not valid JSON"):
        _read(truncated)
    no_release = tmp_path / "x.yaml"
    no_release.write_text("packages: []\n")
    with pytest.raises(SourceFormatError, match="distroversion"):
        _read(no_release)
    not_a_list = tmp_path / "community.json"
    not_a_list.write_text('{"distroversion": "v3.20", "packages": 5}')
    with pytest.raises(SourceFormatError, match="`packages` is not a list"):
        _read(not_a_list)
    shutil.copy(BUSYBOX, tmp_path / "busybox.json")
    found, errors = _read(tmp_path)
    assert "ALPINE-13661" in found
    assert {e.where for e in errors} == {str(truncated), str(no_release), str(not_a_list)}


def test_recognition():
    importer = AlpineSecdbImporter()
    assert importer.recognises(ALPINE)
    assert importer.recognises(BUSYBOX)
    assert importer.recognises(LEGACY)
    assert not importer.recognises(ALPINE.parent / "osv" / "ubuntu" / "usn" / "USN-6429-1.json")
    assert not importer.recognises(ALPINE.parent / "amazon" / "vuln-list" / "2023" / "ALAS2023-2023-002.json")


def test_secdb_url():
    assert secdb_url("v3.20", "main") == "https://secdb.alpinelinux.org/v3.20/main.json"
