"""The rpm extractor under the collector, on a tree laid out the way EL9 lays it out."""

import os

from tests.inventory.extracting import place
from tests.inventory.rpm.building import package_blob, sqlite_file

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.model import Target
from vigil.inventory.os.rpm import RpmExtractor

OS_RELEASE = 'ID="almalinux"\nVERSION_ID="9.4"\nID_LIKE="rhel centos fedora"\n'


def test_a_database_reached_through_the_var_lib_rpm_symlink_is_read_once(tmp_path):
    blob = package_blob("openssl-libs", "3.0.7", "27.el9", epoch=1, source_rpm="openssl-3.0.7-27.el9.src.rpm")
    place(tmp_path, "/etc/os-release", OS_RELEASE)
    place(tmp_path, "/usr/lib/sysimage/rpm/rpmdb.sqlite", sqlite_file([blob]))
    (tmp_path / "var/lib").mkdir(parents=True)
    os.symlink("../../usr/lib/sysimage/rpm", tmp_path / "var/lib/rpm")
    collector = Collector(LiveFS(str(tmp_path)), [RpmExtractor()], scope=PathScope.all())
    inventory = collector.collect(Target("directory", ["/"]))
    assert [p.purl for p in inventory.packages] == [
        "pkg:rpm/almalinux/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=almalinux-9.4&epoch=1&upstream=openssl"
    ]
    (run,) = inventory.extractors
    assert (run.name, run.errors, len(run.files_read)) == ("os/rpm", (), 1)
