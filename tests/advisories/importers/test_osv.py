"""The OSV importer on real records of every source in the corpus, as files, directories and archives."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from vigil.advisories.importer import RecordError, SourceFormatError
from vigil.advisories.importers.osv import OsvImporter, all_zip_url, load_yaml
from vigil.advisories.model import Advisory, Range, SeverityScore, Status

OSV = Path(__file__).parent / "fixtures" / "osv"
FIXTURES = OSV.parent
DSA = OSV / "osv.dev-testdata" / "debian" / "DSA-3029-1.json"
QS = OSV / "ghsa" / "2022" / "11" / "GHSA-hrpp-h998-j3pp" / "GHSA-hrpp-h998-j3pp.json"
USN = OSV / "ubuntu" / "usn" / "USN-6429-1.json"

pytestmark = pytest.mark.timeout(20)


@pytest.fixture(scope="module")
def corpus() -> tuple[dict[str, Advisory], list[RecordError], Counter[str]]:
    errors: list[RecordError] = []
    skipped: Counter[str] = Counter()
    advisories = {a.id: a for a in OsvImporter().read(OSV, errors, skipped)}
    return advisories, errors, skipped


@pytest.fixture(scope="module")
def advisories(corpus: tuple[dict[str, Advisory], list[RecordError], Counter[str]]) -> dict[str, Advisory]:
    return corpus[0]


def _by_package(advisory: Advisory) -> dict[tuple[str, str], list]:
    found: dict[tuple[str, str], list] = {}
    for affected in advisory.affected:
        found.setdefault((affected.namespace, affected.package), []).append(affected)
    return found


def _read(path: Path, importer: OsvImporter | None = None) -> tuple[list[Advisory], list[RecordError]]:
    errors: list[RecordError] = []
    return list((importer or OsvImporter()).read(path, errors)), errors


def test_a_directory_of_every_source_reads_without_errors_and_counts_what_it_skips(corpus):
    advisories, errors, skipped = corpus
    assert errors == []
    assert skipped == {"withdrawn": 3, "informational": 1}
    assert "GO-2024-2730" not in advisories  # withdrawn (Go)
    assert "PYSEC-2023-101" not in advisories  # withdrawn (PyPI, YAML)
    assert "UBUNTU-CVE-2020-36325" not in advisories  # withdrawn (Ubuntu)
    assert "RUSTSEC-2024-0381" not in advisories  # "unmaintained": not a vulnerability
    assert len(advisories) == 15


def test_almalinux_names_binary_rpms_with_their_fix_and_the_red_hat_severity(advisories):
    xz = advisories["ALSA-2022:4940"]
    (libs,) = _by_package(xz)[("almalinux:9", "xz-libs")]
    assert (libs.ecosystem, libs.status, libs.fixed_version) == ("AlmaLinux", Status.FIXED, "5.2.5-8.el9_0")
    assert libs.ranges == (Range("ECOSYSTEM", (("introduced", "0"), ("fixed", "5.2.5-8.el9_0"))),)
    assert xz.related == ("CVE-2022-1271",) and xz.cves == ("CVE-2022-1271",)
    assert (xz.source, xz.vendor_severity) == ("osv-almalinux", "important")
    assert advisories["ALSA-2025:10630"].affected[0].namespace == "almalinux:10"


def test_almalinux_keeps_non_zero_epochs_and_each_module_build_of_one_package(advisories):
    httpd = _by_package(advisories["ALSA-2023:5050"])
    assert [a.fixed_version for a in httpd[("almalinux:8", "mod_md")]] == [
        "1:2.0.8-8.module_el8.6.0+2872+fe0ff7aa",
        "1:2.0.8-8.module_el8.6.0+3031+fb177b09",
    ]
    assert httpd[("almalinux:8", "httpd")][0].fixed_version == "2.4.37-56.module_el8.8.0+3605+a3cf1030.7"
    assert advisories["ALSA-2023:5050"].vendor_severity == "moderate"


def test_an_almalinux_bugfix_advisory_has_no_severity(advisories):
    perl = advisories["ALBA-2019:3337"]
    assert perl.vendor_severity is None and perl.cves == ()
    assert (
        _by_package(perl)[("almalinux:8", "perl")][0].fixed_version
        == "4:5.24.4-404.module_el8.4.0+2396+b2b60bb5.alma"
    )


def test_a_usn_names_source_packages_per_release_with_its_cves_as_aliases(advisories):
    usn = advisories["USN-6429-1"]
    assert usn.aliases == (
        "UBUNTU-CVE-2023-38545",
        "UBUNTU-CVE-2023-38546",
        "CVE-2023-38545",
        "CVE-2023-38546",
    )
    assert usn.extra["upstream"] == ["UBUNTU-CVE-2023-38545", "UBUNTU-CVE-2023-38546"]
    (jammy,) = _by_package(usn)[("ubuntu:22.04", "curl")]
    assert (jammy.ecosystem, jammy.status, jammy.fixed_version) == (
        "Ubuntu",
        Status.FIXED,
        "7.81.0-1ubuntu1.14",
    )
    assert jammy.channel is None
    assert jammy.severity == "high"  # CVE-2023-38545 is high, CVE-2023-38546 low in 22.04
    assert _by_package(usn)[("ubuntu:20.04", "curl")][0].severity == "low"  # only CVE-2023-38546 there
    assert "7.81.0-1ubuntu1.13" in jammy.versions


def test_a_usn_keeps_each_release_binaries_and_cve_priorities_next_to_its_affected_entries(advisories):
    usn = advisories["USN-6429-1"]
    index = next(i for i, a in enumerate(usn.affected) if a.namespace == "ubuntu:22.04")
    extra = usn.extra["affected"][index]
    assert extra["binaries"] == {
        "curl": "7.81.0-1ubuntu1.14",
        "libcurl3-gnutls": "7.81.0-1ubuntu1.14",
        "libcurl3-nss": "7.81.0-1ubuntu1.14",
        "libcurl4": "7.81.0-1ubuntu1.14",
    }
    assert extra["availability"] == "No subscription required"
    assert {"type": "Ubuntu", "score": "high"} in extra["cves"]["CVE-2023-38545"]
    assert Advisory.from_json(usn.to_json()).extra == usn.extra  # survives the database round trip


def test_an_ubuntu_cve_record_gives_the_pro_channel_the_unfixed_state_and_the_priority(advisories):
    kernel = advisories["UBUNTU-CVE-2025-38094"]
    (linux,) = kernel.affected
    assert (linux.namespace, linux.package, linux.channel) == ("ubuntu:14.04", "linux", "pro")
    assert (linux.status, linux.fixed_version) == (Status.AFFECTED, None)
    assert len(linux.versions) == 180 and linux.versions[0] == "3.11.0-12.19"
    assert kernel.aliases == ("CVE-2025-38094",)
    assert (kernel.vendor_severity, kernel.severity) == ("medium", (SeverityScore("Ubuntu", "medium"),))


def test_an_ubuntu_cve_record_keeps_one_copy_of_a_repeated_vector_and_its_usns(advisories):
    wayland = advisories["UBUNTU-CVE-2021-3782"]
    assert wayland.severity == (
        SeverityScore("CVSS_V3", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:H"),
        SeverityScore("Ubuntu", "medium"),
    )
    assert wayland.related == ("USN-5614-1", "USN-5614-2")
    esm = _by_package(wayland)[("ubuntu:16.04", "wayland")][0]
    assert (esm.channel, esm.fixed_version) == ("pro", "1.12.0-1~ubuntu16.04.3+esm1")


def test_a_debian_dsa(advisories):
    dsa = advisories["DSA-3029-1"]
    (nginx,) = dsa.affected
    assert (nginx.namespace, nginx.package, nginx.fixed_version) == ("debian:7", "nginx", "1.2.1-2.2+wheezy3")
    assert dsa.aliases == ("CVE-2014-3616",)


def test_pypi_yaml_drops_git_ranges_and_keeps_versions_and_timestamps_as_strings(advisories):
    (zope,) = advisories["PYSEC-2021-335"].affected
    assert zope.ranges == (
        Range(
            "ECOSYSTEM", (("introduced", "4.0"), ("fixed", "4.3"), ("introduced", "5.0"), ("fixed", "5.2"))
        ),
    )
    assert zope.versions == ("4.0", "4.1", "4.2", "5.0", "5.1")
    assert (zope.status, zope.fixed_version) == (Status.FIXED, None)  # two intervals: no single fix
    aiohttp = advisories["PYSEC-2023-120"]
    assert aiohttp.modified == "2023-07-24T14:58:05.562874Z"  # unquoted in the YAML
    assert aiohttp.affected[0].fixed_version == "3.8.5"
    assert {"0.1", "0.10.0"} <= set(aiohttp.affected[0].versions)
    assert aiohttp.cves == ("CVE-2023-37276",)


def test_ghsa_keeps_one_entry_per_range_and_its_severity_label(advisories):
    qs = advisories["GHSA-hrpp-h998-j3pp"]
    assert [a.package for a in qs.affected] == ["qs"] * 9
    assert (qs.vendor_severity, qs.source) == ("high", "osv-npm")
    branch = next(a for a in qs.affected if a.ranges[0].events[0] == ("introduced", "6.10.0"))
    assert (branch.ranges[0].events[1], branch.fixed_version) == (("fixed", "6.10.3"), None)
    oldest = next(a for a in qs.affected if a.ranges[0].events[0] == ("introduced", "0"))
    assert oldest.fixed_version == "6.2.4"


def test_ghsa_maven_names_group_and_artifact_and_keeps_the_last_known_affected_range(advisories):
    jackson = advisories["GHSA-57j2-w4cx-62h2"]
    assert {(a.namespace, a.package) for a in jackson.affected} == {
        ("maven", "com.fasterxml.jackson.core:jackson-databind")
    }
    assert [e["last_known_affected_version_range"] for e in jackson.extra["affected"]] == [
        "<= 2.13.2.0",
        "<= 2.12.6.0",
    ]


def test_go_uses_semver_ranges_and_drops_the_zero_time(advisories):
    tls = advisories["GO-2023-2044"]
    (stdlib,) = tls.affected
    assert (stdlib.namespace, stdlib.package) == ("go", "stdlib")
    assert stdlib.ranges == (Range("SEMVER", (("introduced", "1.21.0-0"), ("fixed", "1.21.1"))),)
    assert (tls.published, tls.modified) == (None, None)  # 0001-01-01T00:00:00Z means unknown


def test_rustsec_vulnerability_with_its_cvss_vector(advisories):
    openssl = advisories["RUSTSEC-2018-0010"]
    assert openssl.severity == (SeverityScore("CVSS_V3", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),)
    assert openssl.affected[0].ranges[0].events == (("introduced", "0.10.8"), ("fixed", "0.10.9"))
    assert openssl.aliases == ("CVE-2018-20997", "GHSA-xjxc-vfw2-cg96")


@pytest.mark.parametrize(
    ("ecosystem", "scheme", "namespace", "channel"),
    [
        ("Rocky Linux:9", "Rocky Linux", "rocky:9", None),
        ("Red Hat:enterprise_linux:9::appstream", "Red Hat", "rhel:9", None),
        ("SUSE:Linux Enterprise Server 15 SP5", "SUSE", "sles:15.5", None),
        ("Alpine:v3.19", "Alpine", "alpine:3.19", None),
        ("Ubuntu:Pro:FIPS:16.04:LTS", "Ubuntu", "ubuntu:16.04", "fips"),
        ("RubyGems", "RubyGems", "rubygems", None),
        ("Packagist", "Packagist", "packagist", None),
        ("NuGet", "NuGet", "nuget", None),
        ("crates.io", "crates.io", "crates.io", None),
    ],
)
def test_every_distribution_and_language_ecosystem_gets_its_namespace(
    tmp_path, ecosystem, scheme, namespace, channel
):
    record = json.loads(DSA.read_bytes())
    record["affected"][0]["package"]["ecosystem"] = ecosystem
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    (advisory,), errors = _read(path)
    assert errors == []
    affected = advisory.affected[0]
    assert (affected.ecosystem, affected.namespace, affected.channel) == (scheme, namespace, channel)


def test_an_unknown_ecosystem_is_a_record_error_and_the_known_entries_are_kept(tmp_path):
    record = json.loads(QS.read_bytes())
    record["affected"][0]["package"]["ecosystem"] = "Android"
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    (advisory,), errors = _read(path)
    assert len(advisory.affected) == 8
    assert errors == [
        RecordError(f"{path}#GHSA-hrpp-h998-j3pp", "unknown OSV ecosystem 'Android'", partial=True)
    ]
    for entry in record["affected"]:
        entry["package"]["ecosystem"] = "Android"
    path.write_text(json.dumps(record))
    advisories, errors = _read(path)
    assert advisories == [] and len(errors) == 9


def test_an_all_zip_archive_gives_the_same_advisories_as_its_files(tmp_path, advisories):
    archive = tmp_path / "all.zip"
    members = [
        USN,
        QS,
        DSA,
        OSV / "pypi" / "accesscontrol" / "PYSEC-2021-335.yaml",
        OSV / "go" / "GO-2024-2730.json",
    ]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for member in members:
            out.write(member, member.name)
        out.writestr("README.txt", "not a record")
    assert OsvImporter().recognises(archive)
    errors: list[RecordError] = []
    skipped: Counter[str] = Counter()
    found = {a.id: a for a in OsvImporter().read(archive, errors, skipped)}
    assert errors == [] and skipped == {"withdrawn": 1, "not a record file": 1}
    assert set(found) == {"USN-6429-1", "GHSA-hrpp-h998-j3pp", "DSA-3029-1", "PYSEC-2021-335"}
    assert all(found[i] == advisories[i] for i in found)


def test_a_directory_holding_an_archive_reads_it_too(tmp_path):
    with zipfile.ZipFile(tmp_path / "all.zip", "w") as out:
        out.write(DSA, DSA.name)
    shutil.copy(QS, tmp_path / QS.name)
    advisories, errors = _read(tmp_path)
    assert sorted(a.id for a in advisories) == ["DSA-3029-1", "GHSA-hrpp-h998-j3pp"] and errors == []


def test_zip_bomb_members_and_totals_are_refused_without_inflating_them(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("big.json", b"{" + b" " * (4 << 20) + b"}")  # 4 MiB of blanks: a few KB compressed
        out.write(DSA, DSA.name)
    advisories, errors = _read(archive, OsvImporter(max_record_bytes=1 << 20))
    assert [a.id for a in advisories] == ["DSA-3029-1"]
    assert errors == [RecordError(f"{archive}!big.json", f"larger than {1 << 20} bytes")]
    with pytest.raises(SourceFormatError, match="add up to"):
        _read(archive, OsvImporter(max_archive_bytes=1 << 20))
    with pytest.raises(SourceFormatError, match="2 members"):
        _read(archive, OsvImporter(max_members=1))


def test_a_member_whose_header_understates_its_size_is_refused(tmp_path):
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("liar.json", b"[" + b"0," * (8 << 20) + b"0]")  # 16 MiB inflated
    data = bytearray(archive.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")  # central directory: "100 bytes"
    archive.write_bytes(bytes(data))
    advisories, errors = _read(archive)
    assert advisories == []
    assert len(errors) == 1 and "damaged archive member" in errors[0].error


def test_a_file_that_is_not_osv_is_refused_and_one_bad_file_in_a_directory_is_reported(tmp_path):
    bad = tmp_path / "GHSA-x.json"
    bad.write_bytes(QS.read_bytes()[:500])  # truncated
    with pytest.raises(SourceFormatError, match="not valid JSON"):
        _read(bad)
    shutil.copy(DSA, tmp_path / DSA.name)
    advisories, errors = _read(tmp_path)
    assert [a.id for a in advisories] == ["DSA-3029-1"]
    assert errors[0].where == str(bad) and "not valid JSON" in errors[0].error
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(SourceFormatError, match="not an OSV record"):
        _read(tmp_path / "list.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(affected="qs"), "`affected` is str, not a list"),
        (lambda r: r["affected"][0]["package"].update(ecosystem=7), "`ecosystem` is int, not a string"),
        (lambda r: r["affected"][0]["ranges"][0]["events"][1].update(fixed=6.2), "malformed range event"),
        (lambda r: r["affected"][0]["ranges"][0].update(type="SVN"), "unknown range type 'SVN'"),
        (lambda r: r.pop("id"), "no `id`"),
    ],
)
def test_wrong_types_are_record_errors(tmp_path, change, message):
    record = json.loads(QS.read_bytes())
    change(record)
    (tmp_path / "record.json").write_text(json.dumps(record))
    shutil.copy(DSA, tmp_path / DSA.name)
    advisories, errors = _read(tmp_path)
    assert [a.id for a in advisories] == ["DSA-3029-1"]
    assert len(errors) == 1 and message in errors[0].error


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["id: PYSEC-0000-1", "modified: 2024-01-01T00:00:00Z", 'a0: &a0 ["lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]
    lines += ["affected:", "- package: {name: x, ecosystem: PyPI}", "  versions: *a11"]
    bomb = tmp_path / "PYSEC-0000-1.yaml"
    bomb.write_text("\n".join(lines))
    with pytest.raises(SourceFormatError, match="aliases are not allowed"):
        _read(bomb)


def test_an_oversized_record_file_is_refused(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b'{"id": "X", "details": "' + b"x" * 2048 + b'"}')
    with pytest.raises(SourceFormatError, match="larger than 1024 bytes"):
        _read(big, OsvImporter(max_record_bytes=1024))


def test_recognition():
    importer = OsvImporter()
    assert importer.recognises(USN)
    assert importer.recognises(OSV / "pypi" / "aiohttp" / "PYSEC-2023-120.yaml")
    assert importer.recognises(OSV)
    assert not importer.recognises(FIXTURES / "debian" / "tracker.json")
    assert not importer.recognises(FIXTURES / "nvd" / "CVE-2023-4863.json")
    assert not importer.recognises(
        FIXTURES / "alpine" / "secdb-json" / "vuln-list" / "3.20" / "main" / "zlib.json"
    )
    assert not importer.recognises(FIXTURES / "amazon" / "vuln-list" / "2023" / "ALAS2023-2023-002.json")
    assert not importer.recognises(FIXTURES / "alpine" / "secdb-legacy" / "v3.8" / "main.yaml")


def test_the_archive_url_of_an_ecosystem():
    assert (
        all_zip_url("Rocky Linux")
        == "https://osv-vulnerabilities.storage.googleapis.com/Rocky%20Linux/all.zip"
    )


def test_yaml_scalars_stay_strings():
    document = "fixed: 1.10\nname: on\nmodified: 2023-11-07T20:24:23Z\nintroduced: 0\nlast_affected: ~\n"
    assert load_yaml(document) == {
        "fixed": "1.10",
        "name": "on",
        "modified": "2023-11-07T20:24:23Z",
        "introduced": "0",
        "last_affected": None,
    }
