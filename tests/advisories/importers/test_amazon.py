"""The Amazon Linux ALAS importer on real updateinfo.xml files (AL2, AL2022, AL2023) and vuln-list JSON."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from vigil.advisories.importer import RecordError, SourceFormatError
from vigil.advisories.importers.amazon import AmazonUpdateinfoImporter, updateinfo_href
from vigil.advisories.model import Advisory, AffectedPackage, Status

AMAZON = Path(__file__).parent / "fixtures" / "amazon"
UPDATEINFO = AMAZON / "updateinfo"
AL2023 = UPDATEINFO / "updateinfo_AL2023.xml.gz"

pytestmark = pytest.mark.timeout(20)


def _read(path: Path, importer: AmazonUpdateinfoImporter | None = None) -> tuple[dict[str, Advisory], list]:
    errors: list[RecordError] = []
    return {a.id: a for a in (importer or AmazonUpdateinfoImporter()).read(path, errors)}, errors


@pytest.fixture(scope="module")
def advisories() -> dict[str, Advisory]:
    found, errors = _read(AMAZON)
    assert errors == []
    return found


def _packages(advisory: Advisory) -> dict[tuple[str, str | None], AffectedPackage]:
    return {(a.package, a.arch): a for a in advisory.affected}


def test_every_release_and_both_renderings_are_read(advisories):
    assert sorted(advisories) == [
        "ALAS2-2018-939",
        "ALAS2-2018-942",
        "ALAS2-2018-949",
        "ALAS2022-2021-001",
        "ALAS2023-2023-001",
        "ALAS2023-2023-002",  # vuln-list JSON
    ]
    assert {a.affected[0].namespace for a in advisories.values()} == {"amzn:2", "amzn:2022", "amzn:2023"}


def test_an_al2_advisory_fixes_each_binary_rpm_per_architecture_debuginfo_included(advisories):
    kernel = advisories["ALAS2-2018-939"]
    packages = _packages(kernel)
    assert packages[("kernel", "x86_64")] == AffectedPackage(
        "Amazon Linux", "amzn:2", "kernel", Status.FIXED, fixed_version="4.9.76-38.79.amzn2", arch="x86_64"
    )
    assert packages[("kernel-doc", "noarch")].fixed_version == "4.9.76-38.79.amzn2"
    assert ("kernel-debuginfo", "x86_64") in packages and len(packages) == 13
    assert (kernel.vendor_severity, kernel.aliases) == ("critical", ("CVE-2017-5754", "CVE-2017-5715"))
    assert (
        kernel.summary
        == "Amazon Linux 2 2017.12 - ALAS2-2018-939: critical priority package update for kernel"
    )
    assert (kernel.published, kernel.modified) == ("2018-01-11T21:05:00Z", "2018-01-16T01:28:00Z")
    assert kernel.references[0] == "https://alas.aws.amazon.com/AL2/ALAS2-2018-939.html"


def test_a_non_zero_epoch_is_written_and_a_zero_epoch_is_not(advisories):
    qemu = _packages(advisories["ALAS2-2018-942"])[("qemu-kvm", "x86_64")]
    assert qemu.fixed_version == "10:1.5.3-141.amzn2.5.3"
    vim = _packages(advisories["ALAS2022-2021-001"])
    assert all(v.fixed_version == "2:8.2.3512-1.amzn2022" for v in vim.values())


def test_al2023_severity_is_lowercased_and_each_arch_has_its_entry(advisories):
    rsyslog = advisories["ALAS2023-2023-001"]
    assert rsyslog.vendor_severity == "important"  # "Important" in AL2023, "important" in AL2
    assert {arch for (name, arch) in _packages(rsyslog) if name == "rsyslog"} == {"x86_64", "i686", "aarch64"}
    assert _packages(rsyslog)[("rsyslog", "aarch64")].fixed_version == "8.2204.0-3.amzn2023.0.2"
    assert rsyslog.aliases == ("CVE-2014-3634", "CVE-2022-24903")
    assert advisories["ALAS2022-2021-001"].vendor_severity == "medium"


def test_the_vuln_list_json_rendering_maps_the_same_way(advisories):
    rsync = advisories["ALAS2023-2023-002"]
    assert _packages(rsync)[("rsync", "aarch64")] == AffectedPackage(
        "Amazon Linux",
        "amzn:2023",
        "rsync",
        Status.FIXED,
        fixed_version="3.2.6-1.amzn2023.0.3",
        arch="aarch64",
    )
    assert rsync.aliases == ("CVE-2018-25032", "CVE-2022-29154", "CVE-2022-37434")
    assert (rsync.vendor_severity, rsync.published) == ("important", "2023-02-17T20:41:00Z")


def test_plain_and_gzip_updateinfo_give_the_same_advisories(tmp_path):
    plain = tmp_path / "updateinfo.xml"
    plain.write_bytes(gzip.decompress(AL2023.read_bytes()))
    assert _read(plain) == _read(AL2023)


def test_the_updateinfo_location_comes_from_repomd():
    assert updateinfo_href((UPDATEINFO / "repomd_valid.xml").read_bytes()) == "repodata/updateinfo.xml.gz"
    with pytest.raises(SourceFormatError, match="no updateinfo"):
        updateinfo_href(b'<repomd xmlns="http://linux.duke.edu/metadata/repo"/>')


def test_other_update_types_are_counted_not_imported(tmp_path):
    bugfix = tmp_path / "updateinfo.xml"
    bugfix.write_bytes(gzip.decompress(AL2023.read_bytes()).replace(b'type="security"', b'type="bugfix"'))
    errors: list[RecordError] = []
    skipped: Counter[str] = Counter()
    assert list(AmazonUpdateinfoImporter().read(bugfix, errors, skipped)) == []
    assert skipped == {"bugfix update": 1} and errors == []


def test_a_malformed_update_is_reported_and_the_others_kept(tmp_path):
    path = tmp_path / "updateinfo.xml"
    xml = gzip.decompress((UPDATEINFO / "updateinfo_2_items.xml.gz").read_bytes())
    path.write_bytes(xml.replace(b'epoch="10"', b'epoch="ten"', 1))
    found, errors = _read(path)
    assert list(found) == ["ALAS2-2018-949"]
    assert errors == [
        RecordError(f"{path}#ALAS2-2018-942", "malformed ALAS record: qemu-kvm: epoch 'ten' is not a number")
    ]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<updates><update type="security"><id>ALAS2-0000-0</id><description>&lol9;</description></update></updates>
"""


@pytest.mark.parametrize("compress", [False, True])
def test_entity_expansion_is_refused_before_parsing(tmp_path, compress):
    path = tmp_path / "updateinfo.xml.gz"
    path.write_bytes(gzip.compress(BILLION_LAUGHS) if compress else BILLION_LAUGHS)
    with pytest.raises(SourceFormatError, match="DOCTYPE/ENTITY declarations are refused"):
        _read(path)


def test_a_declaration_split_across_read_chunks_is_still_seen(tmp_path):
    header = b'<?xml version="1.0"?>\n<!--'
    prolog = header + b" " * (65535 - len(header) - 3) + b"-->"  # "<" ends the first 64 KiB chunk
    path = tmp_path / "updateinfo.xml"
    path.write_bytes(prolog + b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><updates>&x;</updates>')
    with pytest.raises(SourceFormatError, match="DOCTYPE"):
        _read(path)


def test_truncated_and_foreign_documents_are_refused(tmp_path):
    data = AL2023.read_bytes()
    truncated_gzip = tmp_path / "a.xml.gz"
    truncated_gzip.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceFormatError, match="damaged gzip"):
        _read(truncated_gzip)
    truncated_xml = tmp_path / "b.xml"
    truncated_xml.write_bytes(gzip.decompress(data)[:3000])
    with pytest.raises(SourceFormatError, match="malformed XML"):
        _read(truncated_xml)
    with pytest.raises(SourceFormatError, match=r"repo\}repomd>, not <updates>"):
        _read(UPDATEINFO / "repomd_valid.xml")
    with pytest.raises(SourceFormatError, match="larger than 1000 bytes"):
        _read(AL2023, AmazonUpdateinfoImporter(max_bytes=1000))


def test_a_broken_file_in_a_directory_is_reported_and_the_others_read(tmp_path):
    (tmp_path / "good.xml.gz").write_bytes(AL2023.read_bytes())
    (tmp_path / "bad.xml").write_bytes(gzip.decompress(AL2023.read_bytes())[:3000])
    (tmp_path / "cut-updateinfo.xml.gz").write_bytes(AL2023.read_bytes()[:700])
    found, errors = _read(tmp_path)
    assert list(found) == ["ALAS2023-2023-001"]
    assert [e.where for e in errors] == [str(tmp_path / "bad.xml"), str(tmp_path / "cut-updateinfo.xml.gz")]


def test_recognition():
    importer = AmazonUpdateinfoImporter()
    assert importer.recognises(AL2023)
    assert importer.recognises(AMAZON / "vuln-list" / "2023" / "ALAS2023-2023-002.json")
    assert importer.recognises(UPDATEINFO)
    assert not importer.recognises(UPDATEINFO / "repomd_valid.xml")
    assert not importer.recognises(AMAZON.parent / "osv" / "ubuntu" / "usn" / "USN-6429-1.json")
    assert not importer.recognises(AMAZON.parent / "alpine" / "secdb-legacy" / "v3.8" / "main.yaml")
