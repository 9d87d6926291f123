"""Every language extractor over the same tree, read as a directory and from an ext4 disk image made with
mkfs: both give the same inventory, OS ownership included."""

import lzma
import shutil
from pathlib import Path

import pytest
from tests.support import images as im

from vigil.inventory.targets import take_inventory

LANGUAGE = Path(__file__).parent
DEBIAN_JAR = Path("/usr/share/java/commons-lang3.jar")  # apt: libcommons-lang3-java

OS_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
)
STATUS = """Package: libcommons-lang3-java
Status: install ok installed
Architecture: all
Version: 3.12.0-2+deb12u1

Package: python3-six
Status: install ok installed
Architecture: all
Version: 1.16.0-4
"""


def _put(root: Path, path: str, data: bytes, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(mode)


def _tree(root: Path) -> Path:
    _put(root, "/etc/os-release", OS_RELEASE.encode())
    _put(root, "/var/lib/dpkg/status", STATUS.encode())
    _put(root, "/var/lib/dpkg/info/libcommons-lang3-java.list", b"/usr/share/java/commons-lang3.jar\n")
    _put(
        root,
        "/var/lib/dpkg/info/python3-six.list",
        (LANGUAGE / "python/fixtures/debian/python3-six.list").read_bytes(),
    )
    _put(root, "/usr/share/java/commons-lang3.jar", DEBIAN_JAR.resolve().read_bytes())
    shutil.copytree(LANGUAGE / "python/fixtures/debian/dist-packages", root / "usr/lib/python3/dist-packages")
    shutil.copytree(
        LANGUAGE / "python/fixtures/venv/site-packages", root / "opt/app/venv/lib/python3.11/site-packages"
    )
    shutil.copytree(LANGUAGE / "node/fixtures/npm/project-v3", root / "srv/web", symlinks=True)
    shutil.copytree(LANGUAGE / "node/fixtures/nodejs-global", root / "usr/lib/node_modules", symlinks=True)
    _put(root, "/opt/app/lib/app.jar", (LANGUAGE / "java/fixtures/scalibr/complex.jar").read_bytes())
    _put(
        root,
        "/var/lib/gems/3.1.0/specifications/rack-2.2.22.gemspec",
        (LANGUAGE / "ruby/fixtures/debian/rack-2.2.22.gemspec").read_bytes(),
    )
    _put(root, "/srv/rails/Gemfile.lock", (LANGUAGE / "ruby/fixtures/scalibr/some-gems.lock").read_bytes())
    _put(
        root,
        "/var/www/shop/vendor/composer/installed.json",
        (LANGUAGE / "php/fixtures/composer/installed-v2.json").read_bytes(),
    )
    _put(root, "/opt/dotnet/Web.deps.json", (LANGUAGE / "dotnet/fixtures/trivy/Web.deps.json").read_bytes())
    _put(root, "/srv/tool/Cargo.lock", (LANGUAGE / "rust/fixtures/scalibr/many-packages.lock").read_bytes())
    go = lzma.decompress(
        (LANGUAGE / "golang/fixtures/binary_with_module_replacement-linux-amd64.xz").read_bytes()
    )
    _put(root, "/usr/local/bin/service", go, 0o755)
    return root


@pytest.fixture(scope="module")
def tree_and_image(tmp_path_factory):
    work = tmp_path_factory.mktemp("live-and-image")
    tree = _tree(work / "tree")
    image = im.make_ext(tree, work / "root.ext4", size=64 * im.MIB)
    return tree, image


def _packages(inventory):
    return [(p.purl, p.locations, p.owner, p.notes, p.package_manager) for p in inventory.packages]


def test_the_directory_and_the_disk_image_give_the_same_inventory_in_every_language(tree_and_image):
    tree, image = tree_and_image
    live = take_inventory([str(tree)], scope="all")
    from_image = take_inventory([str(image)])
    assert from_image.scope == "all"
    assert _packages(from_image) == _packages(live)
    assert [(run.name, run.errors) for run in from_image.extractors] == [
        (run.name, run.errors) for run in live.extractors
    ]
    managers = {p.package_manager for p in live.packages}
    assert managers >= {"OS", "PYTHONPKG", "NODEPKG", "JAR", "GOBINARY", "CARGO", "GEMSPEC", "BUNDLER",
                        "COMPOSER", "DOTNET_CORE"}  # fmt: skip
    owners = {p.name: p.owner for p in from_image.packages if p.package_manager != "OS"}
    assert owners["org.apache.commons:commons-lang3"] == "libcommons-lang3-java"
    assert owners["six"] == "python3-six"
    assert owners["com.some.package:package-name"] is None


def test_the_default_scope_reads_only_inspector_s_paths(tree_and_image):
    _, image = tree_and_image
    found = take_inventory([str(image)], scope="default", custom_paths=["/srv/web"])
    locations = {loc for p in found.packages if p.package_manager != "OS" for loc in p.locations}
    assert locations
    assert all(loc.startswith(("/usr/lib/", "/usr/local/lib/", "/srv/web/")) for loc in locations), locations
