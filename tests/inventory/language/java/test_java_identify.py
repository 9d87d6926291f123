"""Which Maven artifact a Java archive is: osv-scalibr's test jars and manifests, and jars built here."""

import zipfile

import pytest
from tests.inventory.language.java.jars import FILE_NAME_NOTE, SCALIBR, extract, jar, pom

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.language.java import JavaArchiveExtractor
from vigil.inventory.model import Target


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("simple.jar", [("com.some.package:package-name", "1.2.3", ())]),
        # a pom.properties without groupId is ignored (as osv-scalibr does): the file name is left
        (
            "pom_missing_group_id-2.4.0.jar",
            [("pom_missing_group_id:pom_missing_group_id", "2.4.0", FILE_NAME_NOTE)],
        ),
        ("no_pom_properties-2.4.0.jar", [("no_pom_properties:no_pom_properties", "2.4.0", FILE_NAME_NOTE)]),
        # a dotted name is `group.artifact`
        (
            "org.eclipse.sisu.inject-0.3.5.jar",
            [("org.eclipse.sisu:org.eclipse.sisu.inject", "0.3.5", FILE_NAME_NOTE)],
        ),
        # its manifest names no valid artifact (Bundle-Name has spaces): the file name it is
        ("com.google.src.yolo-0.1.2.jar", [("com.google.src:com.google.src.yolo", "0.1.2", FILE_NAME_NOTE)]),
        ("no_pom_properties.jar", []),  # no metadata and no version in the name: nothing to report
    ],
)
def test_scalibr_jars_give_the_artifact_of_their_metadata_or_their_file_name(tmp_path, fixture, expected):
    path = f"/opt/app/lib/{fixture}"
    packages, _ = extract(tmp_path, path, (SCALIBR / fixture).read_bytes())
    assert [(p.name, p.version, p.notes) for p in packages] == expected
    assert all(p.package_manager == "JAR" and p.type == "maven" and p.locations == (path,) for p in packages)
    assert all(p.extractor == "language/java/archive" for p in packages)


def test_an_ignored_pom_properties_is_reported(tmp_path):
    _, ctx = extract(tmp_path, "/opt/x-2.4.0.jar", (SCALIBR / "pom_missing_group_id-2.4.0.jar").read_bytes())
    assert ctx.errors == [
        ("/opt/x-2.4.0.jar", "/opt/x-2.4.0.jar!/pom.properties: no groupId, artifactId or version; ignored")
    ]


def test_the_purl_is_maven_with_the_group_as_namespace(tmp_path):
    packages, _ = extract(tmp_path, "/opt/simple.jar", (SCALIBR / "simple.jar").read_bytes())
    assert [p.purl for p in packages] == ["pkg:maven/com.some.package/package-name@1.2.3"]


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        # Bundle-SymbolicName has spaces: the next valid group is Extension-Name; Name and titles are invalid
        ("invalid-ids", ("test.group:correct.name", "1.2.3")),
        # the Maven bundle plugin's artifact is the symbolic name's last word, and the rest its group:
        # com.google.guava:failureaccess as Maven Central has it (osv-scalibr keeps the whole symbolic name)
        ("manifest-symbolicname", ("com.google.guava:failureaccess", "1.0.1")),
        # Spring, built with Gradle, has no pom.properties and names no group (osv-scalibr's expectation)
        ("known-group-id", ("org.springframework:spring-web", "5.3.26")),
    ],
)
def test_a_manifest_names_the_artifact_when_there_is_no_pom_properties(tmp_path, manifest, expected):
    content = jar({"META-INF/MANIFEST.MF": (SCALIBR / manifest / "MANIFEST.MF").read_bytes()})
    packages, _ = extract(tmp_path, "/opt/app/lib/x.jar", content)
    assert [(p.name, p.version, p.notes) for p in packages] == [(*expected, ())]


def test_a_manifest_without_a_group_leaves_the_file_name(tmp_path):
    content = jar({"META-INF/MANIFEST.MF": (SCALIBR / "manifest-no-group-id/MANIFEST.MF").read_bytes()})
    packages, _ = extract(tmp_path, "/opt/app/lib/some-package-1.2.3.jar", content)
    assert [(p.name, p.version, p.notes) for p in packages] == [
        ("some-package:some-package", "1.2.3", FILE_NAME_NOTE)
    ]


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        # osv-scalibr's expectation: the group is the first dotted word of `org.elasticsearch#server;8.14.3`
        ("no_pom_properties-2.4.0.jar", "org.elasticsearch:no_pom_properties"),
        ("elasticsearch-8.14.3.jar", "org.elasticsearch:elasticsearch"),  # as Maven Central has it
    ],
)
def test_a_manifest_naming_only_a_group_gives_it_to_the_file_name(tmp_path, file_name, expected):
    """Implementation-Title `org.elasticsearch#server;8.14.3` is no artifact id: the manifest is incomplete."""
    manifest = (SCALIBR / "manifest-implementation-title/MANIFEST.MF").read_bytes()
    packages, _ = extract(tmp_path, f"/opt/es/lib/{file_name}", jar({"META-INF/MANIFEST.MF": manifest}))
    assert [(p.name, p.notes) for p in packages] == [(expected, FILE_NAME_NOTE)]
    assert "#" not in packages[0].purl and ";" not in packages[0].purl


def test_a_manifest_version_is_its_first_word_and_a_vendor_id_its_exact_group(tmp_path):
    """Apache Axis 1.4 says `1.4 1855 April 22 2006`; Implementation-Vendor-Id is maven-archiver's groupId."""
    manifest = (
        b"Manifest-Version: 1.0\r\nImplementation-Title: axis\r\n"
        b"Implementation-Version: 1.4 1855 April 22 2006\r\nImplementation-Vendor-Id: org.apache.axis\r\n\r\n"
    )
    packages, _ = extract(tmp_path, "/opt/lib/axis.jar", jar({"META-INF/MANIFEST.MF": manifest}))
    assert [(p.name, p.version) for p in packages] == [("org.apache.axis:axis", "1.4")]


def test_a_title_that_is_no_domain_names_no_group(tmp_path):
    """`Implementation-Title: Apache Axis` gives no group `apache` (osv-scalibr's first word would)."""
    manifest = b"Manifest-Version: 1.0\nImplementation-Title: Apache Axis\nImplementation-Version: 1.4\n"
    packages, _ = extract(tmp_path, "/opt/lib/axis-1.4.jar", jar({"META-INF/MANIFEST.MF": manifest}))
    assert [(p.name, p.version, p.notes) for p in packages] == [("axis:axis", "1.4", FILE_NAME_NOTE)]


def test_a_module_name_that_ends_in_the_artifact_gives_its_group(tmp_path):
    """xz's manifest (built with Ant) names only its Java module, org.tukaani.xz: the artifact is org.tukaani:xz."""
    manifest = b"Manifest-Version: 1.0\nAutomatic-Module-Name: org.tukaani.xz\nSealed: true\n"
    packages, _ = extract(tmp_path, "/opt/lib/xz-1.9.jar", jar({"META-INF/MANIFEST.MF": manifest}))
    assert [p.purl for p in packages] == ["pkg:maven/org.tukaani/xz@1.9"]


def test_a_jar_nested_in_a_spring_boot_jar_is_read_and_located_inside_it(tmp_path):
    packages, ctx = extract(tmp_path, "/opt/app/app.jar", (SCALIBR / "complex.jar").read_bytes())
    assert [(p.purl, p.locations) for p in packages] == [
        ("pkg:maven/com.some.package/package-name@1.2.3", ("/opt/app/app.jar",)),
        (
            "pkg:maven/com.some.anotherpackage/another-package-name@3.2.1",
            ("/opt/app/app.jar", "/opt/app/app.jar!/BOOT-INF/lib/inner.jar"),
        ),
    ]
    assert ctx.errors == []


def test_a_war_s_libraries_and_a_shaded_jar_s_artifacts_are_all_reported(tmp_path):
    shaded = jar({
        "META-INF/maven/org.example/app-core/pom.properties": pom("org.example", "app-core", "2.0"),
        "META-INF/maven/com.google.guava/guava/pom.properties": pom("com.google.guava", "guava", "31.1-jre"),
    })  # fmt: skip
    war = jar({"WEB-INF/lib/app-core-2.0.jar": shaded, "WEB-INF/web.xml": b"<web-app/>"})
    packages, _ = extract(tmp_path, "/srv/tomcat/webapps/shop.war", war)
    assert sorted((p.name, p.locations) for p in packages) == [
        ("com.google.guava:guava", ("/srv/tomcat/webapps/shop.war", "/srv/tomcat/webapps/shop.war!/WEB-INF/lib/app-core-2.0.jar")),
        ("org.example:app-core", ("/srv/tomcat/webapps/shop.war", "/srv/tomcat/webapps/shop.war!/WEB-INF/lib/app-core-2.0.jar")),
    ]  # fmt: skip


def test_an_ear_s_war_s_jars_are_located_through_each_level(tmp_path):
    library = jar({"META-INF/maven/org.yaml/snakeyaml/pom.properties": pom("org.yaml", "snakeyaml", "1.33")})
    war = jar({"WEB-INF/lib/snakeyaml-1.33.jar": library})
    ear = jar({"shop.war": war, "META-INF/application.xml": b"<application/>"})
    packages, ctx = extract(tmp_path, "/opt/jboss/deployments/shop.ear", ear)
    assert [(p.purl, p.locations) for p in packages] == [
        (
            "pkg:maven/org.yaml/snakeyaml@1.33",
            (
                "/opt/jboss/deployments/shop.ear",
                "/opt/jboss/deployments/shop.ear!/shop.war!/WEB-INF/lib/snakeyaml-1.33.jar",
            ),
        )
    ]
    assert ctx.errors == []


def test_a_nested_jar_without_metadata_is_named_by_its_own_file_name(tmp_path):
    app = jar({
        "META-INF/maven/com.example/app/pom.properties": pom("com.example", "app", "1.0"),
        "BOOT-INF/lib/legacy-lib-0.9.jar": jar({"legacy/Thing.class": b"\xca\xfe\xba\xbe"}),
    })  # fmt: skip
    packages, _ = extract(tmp_path, "/opt/app/app-1.0.jar", app)
    assert [(p.name, p.version, p.notes) for p in packages] == [
        ("com.example:app", "1.0", ()),
        ("legacy-lib:legacy-lib", "0.9", FILE_NAME_NOTE),
    ]


def test_the_archive_suffixes_reach_the_extractor_in_any_case(tmp_path):
    simple = (SCALIBR / "simple.jar").read_bytes()
    for name in ("a.jar", "b.WAR", "c.ear", "d.Par", "e.jar.txt", "f.zip"):
        (tmp_path / name).write_bytes(simple)
    collector = Collector(LiveFS(str(tmp_path)), [JavaArchiveExtractor()], scope=PathScope("test", ("/",)))
    inventory = collector.collect(Target("directory", [str(tmp_path)]))
    ((package,),) = [inventory.packages]
    assert package.locations == ("/a.jar", "/b.WAR", "/c.ear", "/d.Par")


def test_a_stored_archive_is_read_like_a_deflated_one(tmp_path):
    content = jar({"META-INF/maven/g/a/pom.properties": pom("g", "a", "1")}, zipfile.ZIP_STORED)
    packages, _ = extract(tmp_path, "/opt/a.jar", content)
    assert [p.purl for p in packages] == ["pkg:maven/g/a@1"]
