import pytest
from tests.inventory.extracting import place

from vigil.fs import LiveFS
from vigil.inventory.os.release import detect_os

UBUNTU_2204 = """PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"""
AL2023 = """NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023.3.20240131"
CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"
"""
ROCKY_93 = """NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
"""
ALPINE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'
SLES = """NAME="SLES"
VERSION="15-SP5"
VERSION_ID="15.5"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"
ID="sles"
ID_LIKE="suse"
CPE_NAME="cpe:/o:suse:sles:15:sp5"
"""
DEBIAN_10 = 'PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nVERSION_ID="10"\nVERSION="10 (buster)"\nID=debian\n'


@pytest.mark.parametrize(
    ("text", "family", "os_id", "version_id", "codename", "eol_date"),
    [
        (UBUNTU_2204, "debian", "ubuntu", "22.04", "jammy", "2027-06-01"),
        (AL2023, "amazon", "amzn", "2023", None, "2029-06-30"),
        (ROCKY_93, "redhat", "rocky", "9.3", None, "2032-05-31"),
        (ALPINE, "alpine", "alpine", "3.19.1", None, "2025-11-01"),
        (SLES, "suse", "sles", "15.5", None, "2031-07-31"),
        (DEBIAN_10, "debian", "debian", "10", "buster", "2024-06-30"),
    ],
)
def test_os_release_gives_family_id_version_codename_and_end_of_life(
    tmp_path, text, family, os_id, version_id, codename, eol_date
):
    info = detect_os(LiveFS(str(place(tmp_path, "/usr/lib/os-release", text))))
    assert info is not None
    assert (info.family, info.id, info.version_id, info.codename, info.eol_date) == (
        family, os_id, version_id, codename, eol_date,
    )  # fmt: skip
    assert info.source == "/usr/lib/os-release"


def test_a_release_past_its_end_of_life_is_flagged(tmp_path):
    assert detect_os(LiveFS(str(place(tmp_path, "/etc/os-release", DEBIAN_10)))).eol is True
    assert detect_os(LiveFS(str(place(tmp_path / "u", "/etc/os-release", AL2023)))).eol is False


def test_cpe_is_kept(tmp_path):
    assert detect_os(LiveFS(str(place(tmp_path, "/etc/os-release", AL2023)))).cpe == (
        "cpe:2.3:o:amazon:amazon_linux:2023"
    )


def test_etc_os_release_symlink_resolves_inside_the_target(tmp_path):
    place(tmp_path, "/usr/lib/os-release", ALPINE)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").symlink_to("/usr/lib/os-release")  # absolute: into the target
    info = detect_os(LiveFS(str(tmp_path)))
    assert info.id == "alpine" and info.source == "/etc/os-release"


def test_legacy_centos_release_file(tmp_path):
    place(tmp_path, "/etc/centos-release", "CentOS release 6.10 (Final)\n")
    info = detect_os(LiveFS(str(tmp_path)))
    assert (info.id, info.family, info.version_id, info.eol) == ("centos", "redhat", "6.10", True)


def test_legacy_system_release_amazon_linux_1(tmp_path):
    place(tmp_path, "/etc/system-release", "Amazon Linux AMI release 2018.03\n")
    info = detect_os(LiveFS(str(tmp_path)))
    assert (info.id, info.family, info.version_id, info.eol_date) == (
        "amzn",
        "amazon",
        "2018.03",
        "2023-12-31",
    )


def test_legacy_alpine_release(tmp_path):
    place(tmp_path, "/etc/alpine-release", "3.16.2\n")
    info = detect_os(LiveFS(str(tmp_path)))
    assert (info.id, info.version_id, info.eol) == ("alpine", "3.16.2", True)


def test_debian_testing_takes_its_codename_from_debian_version(tmp_path):
    place(
        tmp_path,
        "/etc/os-release",
        'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nNAME="Debian GNU/Linux"\nID=debian\n',
    )
    place(tmp_path, "/etc/debian_version", "trixie/sid\n")
    info = detect_os(LiveFS(str(tmp_path)))
    assert (info.id, info.version_id, info.codename) == ("debian", None, "trixie")


def test_no_release_file_means_no_os(tmp_path):
    place(tmp_path, "/etc/hostname", "x\n")
    assert detect_os(LiveFS(str(tmp_path))) is None
