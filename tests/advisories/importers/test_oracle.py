"""The Oracle Linux ELSA importer on real OVAL definitions (OL 5 to 10, bzip2 and plain)."""

from __future__ import annotations

import bz2
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.advisories.feeds import FEEDS, IMPORTERS, importer_for
from vigil.advisories.importer import RecordError
from vigil.advisories.importers.oracle import OracleOvalImporter
from vigil.advisories.model import Advisory, AffectedPackage, Status
from vigil.advisories.namespaces import oracle_build_channel as build_channel
from vigil.advisories.store import AdvisoryDB
from vigil.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
ORACLE = FIXTURES / "oracle"
OL5_7 = ORACLE / "com.oracle.elsa-ol5-7.xml.bz2"
PER_ARCH = ORACLE / "com.oracle.elsa-per-arch.xml"
KSPLICE = ORACLE / "com.oracle.elsa-ksplice.xml"

pytestmark = pytest.mark.timeout(20)


def _read(path: Path) -> tuple[dict[str, Advisory], list[RecordError]]:
    errors: list[RecordError] = []
    return {a.id: a for a in OracleOvalImporter().read(path, errors)}, errors


@pytest.fixture(scope="module")
def advisories() -> dict[str, Advisory]:
    found, errors = _read(ORACLE)
    assert errors == []
    return found


def _packages(advisory: Advisory) -> dict[tuple[str, str, str | None], AffectedPackage]:
    return {(a.namespace, a.package, a.arch): a for a in advisory.affected}


def test_every_definition_of_every_file_is_one_advisory_in_its_release(advisories):
    assert len(advisories) == 18
    assert {"ELSA-2007-0057", "ELSA-2019-4821", "ELSA-2021-9151", "ELSA-2024-2961", "ELSA-2025-10073"} <= set(
        advisories
    )
    namespaces = {a.namespace for advisory in advisories.values() for a in advisory.affected}
    assert namespaces == {"ol:5", "ol:6", "ol:7", "ol:8", "ol:10"}
    assert {a.ecosystem for advisory in advisories.values() for a in advisory.affected} == {"Oracle Linux"}


def test_an_elsa_keeps_its_cves_severity_date_and_pages(advisories):
    osbuild = advisories["ELSA-2024-2961"]
    assert osbuild.source == "oracle-oval"
    assert osbuild.aliases == ("CVE-2024-2307",)
    assert osbuild.summary == (
        "ELSA-2024-2961: Image builder components bug fix, enhancement and security update (MODERATE)"
    )
    assert (osbuild.vendor_severity, osbuild.published, osbuild.modified) == (
        "moderate",
        "2024-05-24T00:00:00Z",
        None,
    )
    assert osbuild.references == (
        "https://linux.oracle.com/errata/ELSA-2024-2961.html",
        "https://linux.oracle.com/cve/CVE-2024-2307.html",
    )
    assert osbuild.details and osbuild.details.startswith("osbuild\n[110-1]")
    firefox = advisories["ELSA-2025-10073"]
    assert firefox.aliases == ("CVE-2025-6429", "CVE-2025-6424", "CVE-2025-6430", "CVE-2025-6425")
    assert advisories["ELSA-2010-0809"].vendor_severity == "critical"
    assert advisories["ELSA-2013-1732"].vendor_severity == "low"


def test_a_package_fix_is_the_highest_of_its_or_ed_builds(advisories):
    """ELSA-2024-2961 lists osbuild below 110-1.0.1.el8 OR below 110-1.el8: below the first is affected."""
    packages = _packages(advisories["ELSA-2024-2961"])
    assert packages[("ol:8", "osbuild", None)] == AffectedPackage(
        "Oracle Linux", "ol:8", "osbuild", Status.FIXED, fixed_version="110-1.0.1.el8", severity="moderate"
    )
    assert packages[("ol:8", "osbuild-composer", None)].fixed_version == "101-1.el8"
    assert len(packages) == 10  # one entry per binary rpm, although each is listed per architecture


def test_a_package_respun_per_architecture_has_one_fix_per_architecture(advisories):
    packages = _packages(advisories["ELSA-2022-4803"])
    assert packages[("ol:7", "rsyslog", "aarch64")].fixed_version == "8.24.0-57.0.4.el7_9.3"
    assert packages[("ol:7", "rsyslog", "x86_64")].fixed_version == "8.24.0-57.0.1.el7_9.3"
    assert ("ol:7", "rsyslog", None) not in packages


def test_the_same_fix_on_every_architecture_is_one_entry_without_arch(advisories):
    firefox = advisories["ELSA-2025-10073"].affected
    assert [(a.namespace, a.package, a.fixed_version, a.arch) for a in firefox] == [
        ("ol:10", "firefox", "128.12.0-1.0.1.el10_0", None)
    ]


def test_a_package_listed_for_some_architectures_only_keeps_them(advisories):
    packages = _packages(advisories["ELSA-2021-9151"])
    assert ("ol:8", "openssl-debugsource", "aarch64") in packages  # not in the x86_64 branch
    assert ("ol:8", "openssl-static", "aarch64") in packages
    assert ("ol:8", "openssl-libs", None) in packages  # in both


def test_a_non_zero_epoch_is_written_and_a_zero_epoch_is_not(advisories):
    assert _packages(advisories["ELSA-2007-0057"])[("ol:5", "bind", None)].fixed_version == "30:9.3.3-8.el5"
    assert (
        _packages(advisories["ELSA-2012-1261"])[("ol:6", "dbus", None)].fixed_version
        == "1:1.2.24-7.0.1.el6_3"
    )
    assert _packages(advisories["ELSA-2019-4821"])[("ol:7", "sudo", None)].fixed_version == "1.8.23-4.0.1.el7"


def test_a_definition_for_two_releases_gives_each_release_its_own_fix(advisories):
    uek = _packages(advisories["ELSA-2016-3646"])
    assert uek[("ol:5", "kernel-uek", None)].fixed_version == "2.6.39-400.290.2.el5uek"
    assert uek[("ol:6", "kernel-uek", None)].fixed_version == "2.6.39-400.290.2.el6uek"
    firefox = _packages(advisories["ELSA-2011-1268"])
    assert firefox[("ol:5", "firefox", None)].fixed_version == "3.6.22-1.0.1.el5_7"
    assert firefox[("ol:6", "firefox", None)].fixed_version == "3.6.22-1.0.1.el6_1"


STREAMS = """<criteria operator="AND">
<criterion comment="Oracle Linux 10 is installed"/>
<criteria operator="OR">
<criteria operator="AND">
<criterion comment="Module firefox:esr128 is enabled"/>
<criteria operator="AND"><criterion comment="firefox is earlier than 0:128.12.0-1.0.1.el10_0"/></criteria>
</criteria>
<criteria operator="AND">
<criterion comment="Module firefox:esr115 is enabled"/>
<criteria operator="AND"><criterion comment="firefox is earlier than 0:115.25.0-1.0.1.el10_0"/></criteria>
</criteria>
</criteria>
</criteria>
"""


def test_module_streams_of_one_package_stay_alternatives(tmp_path):
    """ELSA-2025-10073 with its fix put under two module streams, as Oracle writes AppStream modules."""
    data = PER_ARCH.read_text()
    start = data.index("<criteria", data.index("ELSA-2025-10073:"))
    end = data.index("</definition>", start)
    path = tmp_path / "com.oracle.elsa-streams.xml"
    path.write_text(data[:start] + STREAMS + data[end:])
    found, errors = _read(path)
    assert errors == []
    assert sorted(a.fixed_version for a in found["ELSA-2025-10073"].affected) == [
        "115.25.0-1.0.1.el10_0",  # not folded into the other stream's higher fix
        "128.12.0-1.0.1.el10_0",
    ]


def test_an_elsa_without_cves_is_kept_under_its_own_id(advisories):
    assert advisories["ELSA-2011-1268"].aliases == ()
    assert advisories["ELSA-2011-1268"].cves == ()


def test_ksplice_builds_are_their_own_channel(advisories):
    openssl = advisories["ELSA-2021-9151"]
    assert {(a.fixed_version, a.channel) for a in openssl.affected} == {
        ("2:1.1.1g-15.ksplice1.el8_3", "ksplice")
    }


def test_uek_kernels_match_by_name_and_uek_built_perf_is_its_own_channel(advisories):
    """ELSA-2019-4820 fixes UEK R5 and the perf built with it, named as RHCK's perf (3.10.0-…el7)."""
    packages = _packages(advisories["ELSA-2019-4820"])
    kernel = packages[("ol:7", "kernel-uek", None)]
    assert (kernel.fixed_version, kernel.channel) == ("4.14.35-1902.6.6.el7uek", None)
    assert {packages[("ol:7", name, None)].channel for name in ("perf", "python-perf")} == {"uek"}
    assert {a.channel for a in advisories["ELSA-2014-2010"].affected} == {None}  # RHCK kernel and perf


@pytest.mark.parametrize(
    ("package", "release", "channel"),
    [
        ("openssl", "15.ksplice1.el8_3", "ksplice"),  # ELSA-2021-9151
        ("glibc", "157.ksplice1.el7_3.4", "ksplice"),  # ELSA-2017-3582 (Trivy's ksplice tests)
        ("gnutls", "4.0.1.el8_fips", "fips"),  # ELSA-2022-9221 (trivy-db's fips-and-ksplice tests)
        ("perf", "1902.6.6.el7uek", "uek"),  # ELSA-2019-4820
        ("kernel-uek", "1902.6.6.el7uek", None),
        ("rsyslog", "57.0.4.el7_9.3", None),
        ("perf", "123.13.2.el7", None),
    ],
)
def test_the_build_flavour_of_a_release(package, release, channel):
    assert build_channel(package, release) == channel


def test_plain_and_bzip2_files_give_the_same_advisories(tmp_path):
    plain = tmp_path / "com.oracle.elsa-ol5-7.xml"
    plain.write_bytes(bz2.decompress(OL5_7.read_bytes()))
    packed = tmp_path / "com.oracle.elsa-per-arch.xml.bz2"
    packed.write_bytes(bz2.compress(PER_ARCH.read_bytes()))
    assert _read(plain) == _read(OL5_7)
    assert _read(packed) == _read(PER_ARCH)


def test_recognition_by_name_and_by_content(tmp_path):
    importer = OracleOvalImporter()
    assert importer.recognises(OL5_7) and importer.recognises(KSPLICE) and importer.recognises(ORACLE)
    renamed = tmp_path / "mock_ksplice_data"  # vunnel's own name for it
    shutil.copy(KSPLICE, renamed)
    assert importer.recognises(renamed)
    assert not importer.recognises(FIXTURES / "amazon" / "updateinfo" / "repomd_valid.xml")
    assert not importer.recognises(FIXTURES / "csaf" / "rhsa-2024_6163.json")
    assert not importer.recognises(FIXTURES / "osv")
    assert importer_for(ORACLE) is IMPORTERS["oracle-oval"] is importer_for(renamed)
    assert (
        importer_for(FIXTURES / "amazon" / "updateinfo" / "updateinfo_AL2023.xml.gz").name
        == "amazon-updateinfo"
    )


def test_the_public_feeds_are_one_per_supported_release():
    oracle = {f.name: f for f in FEEDS if f.importer == "oracle-oval"}
    assert sorted(oracle) == ["oracle-ol10", "oracle-ol7", "oracle-ol8", "oracle-ol9"]
    assert oracle["oracle-ol9"].url == "https://linux.oracle.com/security/oval/com.oracle.elsa-ol9.xml.bz2"
    assert "Oracle" in oracle["oracle-ol9"].licence


def test_vigil_db_import_recognises_the_oracle_files(tmp_path):
    db = tmp_path / "advisories.db"
    result = CliRunner().invoke(app, ["db", "import", str(ORACLE), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert f"{ORACLE}: oracle-oval: 18 added, 0 changed, 0 unchanged, 0 unreadable records" in result.output
    with AdvisoryDB(db, readonly=True) as store:
        [candidate] = store.lookup("ol:8", "python3-osbuild")
        assert (candidate.advisory_id, candidate.affected.fixed_version) == (
            "ELSA-2024-2961",
            "110-1.0.1.el8",
        )
        assert store.source(f"oracle-oval:{ORACLE.resolve()}").licence == OracleOvalImporter.licence
