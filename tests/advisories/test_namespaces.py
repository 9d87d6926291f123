import pytest

from vigil.advisories.namespaces import os_namespace, package_key, parse_osv_ecosystem
from vigil.versions import compare


@pytest.mark.parametrize(
    ("ecosystem", "expected"),
    [
        ("Debian:12", ("Debian", "debian:12", None)),
        ("Ubuntu:22.04:LTS", ("Ubuntu", "ubuntu:22.04", None)),
        ("Ubuntu:Pro:18.04:LTS", ("Ubuntu", "ubuntu:18.04", "pro")),
        ("Ubuntu:Pro:FIPS-updates:18.04:LTS", ("Ubuntu", "ubuntu:18.04", "fips-updates")),
        ("Ubuntu:Pro:Realtime:24.04:LTS", ("Ubuntu", "ubuntu:24.04", "realtime")),
        ("Ubuntu:Nvidia-BlueField:22.04", ("Ubuntu", "ubuntu:22.04", "nvidia-bluefield")),
        ("Alpine:v3.19", ("Alpine", "alpine:3.19", None)),
        ("AlmaLinux:9", ("AlmaLinux", "almalinux:9", None)),
        ("Rocky Linux:8", ("Rocky Linux", "rocky:8", None)),
        ("Red Hat:enterprise_linux:9::appstream", ("Red Hat", "rhel:9", None)),
        ("SUSE:Linux Enterprise Server 15 SP5", ("SUSE", "sles:15.5", None)),
        ("SUSE:Linux Enterprise Micro 5.5", ("SUSE", "sle-micro:5.5", None)),
        ("openSUSE:Leap 15.5", ("openSUSE", "opensuse-leap:15.5", None)),
        ("openSUSE:Tumbleweed", ("openSUSE", "opensuse-tumbleweed", None)),
        ("PyPI", ("PyPI", "pypi", None)),
        ("crates.io", ("crates.io", "crates.io", None)),
    ],
)
def test_osv_ecosystems_map_to_namespaces(ecosystem, expected):
    assert parse_osv_ecosystem(ecosystem) == expected


@pytest.mark.parametrize(
    ("os_id", "version_id", "expected"),
    [
        ("debian", "12", "debian:12"),
        ("ubuntu", "22.04", "ubuntu:22.04"),
        ("almalinux", "9.4", "almalinux:9"),
        ("centos", "7", "rhel:7"),
        ("amzn", "2023", "amzn:2023"),
        ("amzn", "2", "amzn:2"),
        ("amzn", "2018.03", "amzn:1"),
        ("alpine", "3.19.1", "alpine:3.19"),
        ("sles", "15.5", "sles:15.5"),
        ("opensuse-tumbleweed", "20240101", "opensuse-tumbleweed"),
    ],
)
def test_an_os_release_maps_to_the_namespace_its_advisories_use(os_id, version_id, expected):
    assert os_namespace(os_id, version_id)[0] == expected


@pytest.mark.parametrize("version_id", ["7.9", "8.10", "9.3", "10.0"])
def test_oracle_linux_uses_its_own_elsa_namespace_compared_as_rpm(version_id):
    """Oracle Linux is matched with Oracle's ELSA data (`ol:N`), not Red Hat's, with rpm versions."""
    major = version_id.split(".")[0]
    assert os_namespace("ol", version_id) == (f"ol:{major}", "Oracle Linux")
    assert compare("Oracle Linux", "2:1.1.1g-15.el8_3", "1:1.1.1k-12.el8_9") > 0


def test_unknown_ecosystems_and_oses_are_refused():
    with pytest.raises(ValueError, match="unknown OSV ecosystem"):
        parse_osv_ecosystem("Hex")
    assert os_namespace("windows", "10") is None


def test_package_keys_normalise_as_each_registry_does():
    assert package_key("pypi", "Zope.Interface") == package_key("pypi", "zope-interface")
    assert package_key("nuget", "Newtonsoft.Json") == "newtonsoft.json"
    assert package_key("debian:12", "Linux") == "Linux"
