"""The extractor against an rpmdb.sqlite that rpm itself wrote (see `built_root` in conftest)."""

from tests.inventory.extracting import run_extractor

from vigil.inventory.os.rpm.extractor import RpmExtractor

DB = "/var/lib/rpm/rpmdb.sqlite"


def test_reads_exactly_the_installed_packages_and_skips_the_imported_key(built_root, el9):
    packages, ctx = run_extractor(RpmExtractor(), built_root, DB, el9)
    assert ctx.errors == []
    assert sorted((p.name, p.epoch, p.version, p.release, p.arch) for p in packages) == [
        ("vigil-demo", 2, "1.2~rc1", "3.el9", "x86_64"),
        ("vigil-demo-libs", 2, "1.2~rc1", "3.el9", "x86_64"),
        ("vigil-docs", None, "0.9", "1", "noarch"),
    ]


def test_source_rpm_and_purl_of_a_subpackage(built_root, el9):
    packages, _ = run_extractor(RpmExtractor(), built_root, DB, el9)
    libs = next(p for p in packages if p.name == "vigil-demo-libs")
    assert (libs.source_name, libs.source_version) == ("vigil-demo", "1.2~rc1-3.el9")
    assert libs.purl == (
        "pkg:rpm/almalinux/vigil-demo-libs@1.2~rc1-3.el9"
        "?arch=x86_64&distro=almalinux-9.4&epoch=2&upstream=vigil-demo"
    )
    assert (libs.type, libs.package_manager, libs.extractor, libs.locations) == ("rpm", "OS", "os/rpm", (DB,))


def test_every_package_owns_its_files(built_root):
    _, ctx = run_extractor(RpmExtractor(), built_root, DB)
    assert ctx.owned == {
        "/usr/lib/vigil-demo": "vigil-demo",
        "/usr/lib/vigil-demo/demo.txt": "vigil-demo",
        "/usr/lib64/libvigil.so.1": "vigil-demo-libs",
        "/usr/share/doc/vigil-docs/README": "vigil-docs",
    }
