"""Debian's jars on this host: read, versioned as dpkg says, owned by their Debian packages, read fast.

Needs the apt packages libcommons-lang3-java, libslf4j-java, libguava-java and libguice-java.
"""

import subprocess
from pathlib import Path

from tests.inventory.extracting import run_extractor

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.language.java import JavaArchiveExtractor
from vigil.inventory.model import Inventory, Target
from vigil.inventory.os.dpkg_files import DpkgFileListExtractor

JAVA = "/usr/share/java"


def _upstream(debian_package: str) -> str:
    """The upstream part of an installed Debian package's version: 3.12.0-2+deb12u1 → 3.12.0."""
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", debian_package], capture_output=True, text=True, check=True
    ).stdout
    return version.split(":", 1)[-1].rsplit("-", 1)[0]


def _collect(*, with_file_lists: bool) -> Inventory:
    extractors = (
        [JavaArchiveExtractor(), DpkgFileListExtractor()] if with_file_lists else [JavaArchiveExtractor()]
    )
    collector = Collector(LiveFS("/"), extractors, scope=PathScope("test", (JAVA,)))
    return collector.collect(Target("directory", ["/"]))


def test_debian_s_jars_are_read_and_owned_by_their_packages():
    inventory = _collect(with_file_lists=True)
    assert [e.errors for e in inventory.extractors] == [(), ()]
    found = {(p.name, p.owner): p for p in inventory.packages}
    for name, debian_package, version in (
        ("org.apache.commons:commons-lang3", "libcommons-lang3-java", _upstream("libcommons-lang3-java")),
        ("org.slf4j:slf4j-api", "libslf4j-java", _upstream("libslf4j-java")),
        # osv-scalibr's guava-31.1-jre.jar expectation, on Debian's build of the same release
        ("com.google.guava:guava", "libguava-java", f"{_upstream('libguava-java')}-jre"),
    ):
        package = found[(name, debian_package)]
        assert package.version == version
        assert package.package_manager == "JAR" and package.notes == ()
        (location,) = package.locations  # the real file, as the Debian package's file list names it
        listed = Path(f"/var/lib/dpkg/info/{debian_package}.list").read_text().splitlines()
        assert location in listed and not Path(location).is_symlink()


def test_debian_s_guice_is_itself_beside_the_cglib_it_shades():
    """guice.jar holds cglib's pom.properties and none of its own: its manifest names it (as its file does)."""
    packages, ctx = run_extractor(JavaArchiveExtractor(), Path("/"), f"{JAVA}/guice.jar")
    assert ctx.errors == []
    assert ("com.google.inject:guice", _upstream("libguice-java")) in [(p.name, p.version) for p in packages]
    assert "cglib:cglib" in [p.name for p in packages]


def test_a_versioned_debian_link_reads_the_jar_it_points_to():
    version = _upstream("libcommons-lang3-java")
    link = Path(f"{JAVA}/commons-lang3-{version}.jar")
    assert link.is_symlink()
    packages, _ = run_extractor(JavaArchiveExtractor(), Path("/"), str(link))
    assert [(p.purl, p.locations) for p in packages] == [
        (f"pkg:maven/org.apache.commons/commons-lang3@{version}", (str(link),))
    ]


def test_debian_s_jars_take_milliseconds_and_a_fraction_of_their_bytes():
    """The central directory and a few small members: never the classes."""
    inventory = _collect(with_file_lists=False)
    jars = [p for p in Path(JAVA).iterdir() if p.suffix == ".jar" and not p.is_symlink()]
    total = sum(p.stat().st_size for p in jars)
    assert len(inventory.packages) >= len(jars) - 5  # a few Debian jars carry no version at all
    assert inventory.stats.bytes_read < total // 4, f"{inventory.stats.bytes_read} bytes read of {total}"
    assert inventory.stats.duration_s < 1.0
