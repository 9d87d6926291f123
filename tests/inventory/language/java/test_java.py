"""Java archives: osv-scalibr's test jars, Debian's jars on this host, and hostile archives made here."""

import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.java import JavaArchiveExtractor, zipread
from vigil.inventory.model import Target
from vigil.inventory.os.dpkg_files import DpkgFileListExtractor

FIXTURES = Path(__file__).parent / "fixtures" / "scalibr"
FILE_NAME_NOTE = ("version from the file name: the archive holds no Maven metadata",)


def _jar(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _extract(tmp_path: Path, path: str, content: bytes):
    root = place(tmp_path, path, content)
    return run_extractor(JavaArchiveExtractor(), root, path)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("simple.jar", [("com.some.package:package-name", "1.2.3", ())]),
        (
            "pom_missing_group_id-2.4.0.jar",
            [("pom_missing_group_id:pom_missing_group_id", "2.4.0", FILE_NAME_NOTE)],
        ),
        ("no_pom_properties-2.4.0.jar", [("no_pom_properties:no_pom_properties", "2.4.0", FILE_NAME_NOTE)]),
        (
            "org.eclipse.sisu.inject-0.3.5.jar",
            [("org.eclipse.sisu:org.eclipse.sisu.inject", "0.3.5", FILE_NAME_NOTE)],
        ),
        ("no_pom_properties.jar", []),  # no metadata and no version in the name: nothing to report
    ],
)
def test_scalibr_jars_give_the_artifact_of_their_metadata_or_their_file_name(tmp_path, fixture, expected):
    path = f"/opt/app/lib/{fixture}"
    packages, _ = _extract(tmp_path, path, (FIXTURES / fixture).read_bytes())
    assert [(p.name, p.version, p.notes) for p in packages] == expected
    assert all(p.package_manager == "JAR" and p.type == "maven" and p.locations == (path,) for p in packages)


def test_a_jar_nested_in_a_spring_boot_jar_is_read_and_located_inside_it(tmp_path):
    packages, ctx = _extract(tmp_path, "/opt/app/app.jar", (FIXTURES / "complex.jar").read_bytes())
    assert [(p.purl, p.locations) for p in packages] == [
        ("pkg:maven/com.some.package/package-name@1.2.3", ("/opt/app/app.jar",)),
        (
            "pkg:maven/com.some.anotherpackage/another-package-name@3.2.1",
            ("/opt/app/app.jar", "/opt/app/app.jar!/BOOT-INF/lib/inner.jar"),
        ),
    ]
    assert ctx.errors == []


def test_nesting_is_bounded_and_reported(tmp_path):
    packages, ctx = _extract(tmp_path, "/opt/deep.jar", (FIXTURES / "nested_at_100.jar").read_bytes())
    assert packages == []
    ((where, message),) = ctx.errors
    assert where == "/opt/deep.jar" and message.endswith("nested more than 3 archives deep; not read")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        # Bundle-SymbolicName has spaces: the next valid group is Extension-Name; Name and titles are invalid
        ("invalid-ids", ("test.group:correct.name", "1.2.3")),
        # the Maven bundle plugin's artifact is the symbolic name's last word
        ("manifest-symbolicname", ("com.google.guava.failureaccess:failureaccess", "1.0.1")),
    ],
)
def test_a_manifest_names_the_artifact_when_there_is_no_pom_properties(tmp_path, manifest, expected):
    content = _jar({"META-INF/MANIFEST.MF": (FIXTURES / manifest / "MANIFEST.MF").read_bytes()})
    packages, _ = _extract(tmp_path, "/opt/app/lib/x.jar", content)
    assert [(p.name, p.version) for p in packages] == [expected]


def test_a_manifest_without_a_group_leaves_the_file_name(tmp_path):
    content = _jar({"META-INF/MANIFEST.MF": (FIXTURES / "manifest-no-group-id/MANIFEST.MF").read_bytes()})
    packages, _ = _extract(tmp_path, "/opt/app/lib/some-package-1.2.3.jar", content)
    assert [(p.name, p.version, p.notes) for p in packages] == [
        ("some-package:some-package", "1.2.3", FILE_NAME_NOTE)
    ]


def test_a_war_s_libraries_and_a_shaded_jar_s_artifacts_are_all_reported(tmp_path):
    def pom(group: str, artifact: str, version: str) -> bytes:
        return (
            f"#Created by Apache Maven\nversion={version}\ngroupId={group}\nartifactId={artifact}\n".encode()
        )

    shaded = _jar({
        "META-INF/maven/org.example/app-core/pom.properties": pom("org.example", "app-core", "2.0"),
        "META-INF/maven/com.google.guava/guava/pom.properties": pom("com.google.guava", "guava", "31.1-jre"),
    })  # fmt: skip
    war = _jar({"WEB-INF/lib/app-core-2.0.jar": shaded, "WEB-INF/web.xml": b"<web-app/>"})
    packages, _ = _extract(tmp_path, "/srv/tomcat/webapps/shop.war", war)
    assert sorted(p.name for p in packages) == ["com.google.guava:guava", "org.example:app-core"]


@pytest.mark.parametrize("fixture", ["invalid_jar.jar", "not_jar"])
def test_a_file_that_is_not_a_zip_archive_is_a_clear_error(tmp_path, fixture):
    with pytest.raises(ExtractError, match="not a readable zip archive"):
        _extract(tmp_path, "/opt/x.jar", (FIXTURES / fixture).read_bytes())


@pytest.mark.timeout(10)
def test_a_zip_bomb_is_refused_without_inflating_it(tmp_path):
    bomb = _jar({"META-INF/maven/a/b/pom.properties": b"groupId=a\n" + b"\0" * (200 << 20)})
    assert len(bomb) < 1 << 20
    with pytest.raises(ExtractError, match="over the 1048576-byte limit"):
        _extract(tmp_path, "/opt/bomb.jar", bomb)


@pytest.mark.timeout(10)
def test_a_nested_bomb_stops_at_the_inflate_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(zipread, "MAX_INFLATED", 4 << 20)
    inner = _jar({"filler.bin": os.urandom(3 << 20)}, zipfile.ZIP_STORED)  # incompressible: a low ratio
    outer = _jar({f"lib/copy-{i}.jar": inner for i in range(10)})
    with pytest.raises(zipread.ArchiveBomb, match="more than 4194304 bytes to inflate"):
        _extract(tmp_path, "/opt/bomb.ear", outer)


@pytest.mark.timeout(10)
def test_too_many_entries_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(zipread, "MAX_MEMBERS", 100)
    with pytest.raises(ExtractError, match="150 entries, more than the 100 limit"):
        _extract(tmp_path, "/opt/many.jar", _jar({f"c/{i}.class": b"" for i in range(150)}))


def test_traversing_member_names_only_name_locations_inside_the_archive(tmp_path):
    inner = (FIXTURES / "simple.jar").read_bytes()
    packages, _ = _extract(tmp_path, "/opt/app.jar", _jar({"../../etc/evil.jar": inner}))
    assert [p.locations for p in packages] == [("/opt/app.jar", "/opt/app.jar!/../../etc/evil.jar")]
    assert not (tmp_path / "etc").exists()


def test_debian_s_jars_on_this_host_are_read_and_owned_by_their_packages(tmp_path):
    """Needs the apt packages libcommons-lang3-java and libslf4j-java."""
    scope = PathScope("test", ("/usr/share/java",))
    collector = Collector(LiveFS("/"), [JavaArchiveExtractor(), DpkgFileListExtractor()], scope=scope)
    inventory = collector.collect(Target("directory", ["/"]))
    found = {p.name: p for p in inventory.packages}
    for name, debian in (
        ("org.apache.commons:commons-lang3", "libcommons-lang3-java"),
        ("org.slf4j:slf4j-api", "libslf4j-java"),
    ):
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", debian], capture_output=True, text=True, check=True
        ).stdout
        assert found[name].version == version.split("-", 1)[0]
        assert found[name].owner == debian
    assert shutil.which("dpkg-query")


def test_an_archive_with_a_launcher_script_before_it_is_read(tmp_path):
    """Spring Boot's "fully executable" jars start with a shell script: every offset is shifted."""
    launcher = b"#!/bin/bash\n# launch script\n" + b"#" * 5000 + b"\nexit 0\n"
    packages, _ = _extract(tmp_path, "/opt/app/app.jar", launcher + (FIXTURES / "complex.jar").read_bytes())
    assert [p.name for p in packages] == [
        "com.some.package:package-name",
        "com.some.anotherpackage:another-package-name",
    ]


@pytest.mark.timeout(10)
def test_a_truncated_or_damaged_archive_is_a_clear_error(tmp_path):
    jar = (FIXTURES / "simple.jar").read_bytes()
    with pytest.raises(ExtractError, match="no end of central directory record"):
        _extract(tmp_path, "/opt/cut.jar", jar[: len(jar) // 2])
    directory = jar.find(b"PK\x01\x02")  # the header of pom.properties, the first entry
    damaged = jar[:directory] + b"XX\x01\x02" + jar[directory + 4 :]
    with pytest.raises(ExtractError, match="a damaged central directory"):
        _extract(tmp_path, "/opt/damaged.jar", damaged)
