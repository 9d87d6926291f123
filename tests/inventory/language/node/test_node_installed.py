"""Installed npm packages: npm's own installed tree, npm-made projects, Debian's node-* packages."""

import subprocess
from pathlib import Path

import pytest
from tests.inventory.language.node.trees import collect, copy_tree

from vigil.inventory.language.node import NodeInstalledExtractor
from vigil.inventory.language.node.installed import is_installed_manifest
from vigil.inventory.os.dpkg_files import DpkgFileListExtractor


@pytest.mark.parametrize(
    "path",
    [
        "/usr/lib/node_modules/npm/package.json",
        "/usr/lib/node_modules/npm/node_modules/@isaacs/fs-minipass/package.json",
        "/usr/lib/node_modules/npm/node_modules/tinyglobby/node_modules/picomatch/package.json",
        "/srv/app/pkgs/a/node_modules/yallist/package.json",  # a workspace's own node_modules
        "/srv/app/node_modules/.pnpm/ms@2.1.3/node_modules/ms/package.json",
        "/srv/app/node_modules/.pnpm/@types+ms@0.7.31/node_modules/@types/ms/package.json",
        "/usr/share/nodejs/semver/package.json",  # Debian's node-* packages
        "/usr/share/nodejs/@types/semver/package.json",
        "/usr/lib/nodejs/ws/package.json",
        "/usr/lib/x86_64-linux-gnu/nodejs/bufferutil/package.json",
    ],
)
def test_package_slots_are_installed_packages(path):
    assert is_installed_manifest(path)


@pytest.mark.parametrize(
    "path",
    [
        "/srv/app/package.json",  # the project itself
        "/srv/app/node_modules/package.json",
        "/usr/lib/node_modules/npm/node_modules/@isaacs/fs-minipass/dist/esm/package.json",  # module type
        "/srv/app/node_modules/a/test/fixtures/node_modules/b/package.json",  # a package's test fixture
        "/srv/app/node_modules/@scope/package.json",
        "/srv/app/node_modules/.cache/x/package.json",
        "/srv/app/node_modules/.pnpm/ms@2.1.3/package.json",
        "/usr/share/nodejs/semver/lib/package.json",
        "/usr/share/doc/nodejs/package.json",
        "/srv/app/node_modules/a/package.json.orig",
    ],
)
def test_other_package_json_files_are_not_installed_packages(path):
    assert not is_installed_manifest(path)


def test_npm_s_own_installed_tree_gives_each_package_once_and_not_module_type_files(tmp_path):
    copy_tree("nodejs-global", tmp_path, "/usr/lib/node_modules")
    inventory = collect(tmp_path, ["/usr/lib"], [NodeInstalledExtractor()])
    assert [(p.name, p.version, p.purl) for p in inventory.packages] == [
        ("@isaacs/fs-minipass", "4.0.1", "pkg:npm/%40isaacs/fs-minipass@4.0.1"),
        ("@sigstore/core", "3.2.1", "pkg:npm/%40sigstore/core@3.2.1"),
        ("fdir", "6.5.0", "pkg:npm/fdir@6.5.0"),
        ("minipass", "3.3.6", "pkg:npm/minipass@3.3.6"),
        ("minipass-pipeline", "1.2.4", "pkg:npm/minipass-pipeline@1.2.4"),
        ("npm", "11.19.1", "pkg:npm/npm@11.19.1"),
        ("picomatch", "4.0.4", "pkg:npm/picomatch@4.0.4"),
        ("semver", "7.8.5", "pkg:npm/semver@7.8.5"),
        ("tinyglobby", "0.2.17", "pkg:npm/tinyglobby@0.2.17"),
        ("yallist", "4.0.0", "pkg:npm/yallist@4.0.0"),
    ]
    (run,) = inventory.extractors
    assert run.errors == ()
    assert len(run.files_read) == 10  # the two dist/*/package.json files are not even read
    picomatch = next(p for p in inventory.packages if p.name == "picomatch")
    assert (picomatch.type, picomatch.package_manager, picomatch.extractor, picomatch.locations) == (
        "npm",
        "NODEPKG",
        "language/node/installed",
        ("/usr/lib/node_modules/npm/node_modules/tinyglobby/node_modules/picomatch/package.json",),
    )


def test_an_npm_project_gives_what_is_in_node_modules_and_in_a_workspace_s_node_modules(tmp_path):
    copy_tree("npm/project-v3", tmp_path, "/srv/app")
    inventory = collect(tmp_path, ["/srv"], [NodeInstalledExtractor()])
    # not `proj` (the project) nor `a` (a local folder, reached through the node_modules/a symlink)
    assert [(p.name, p.version, p.locations) for p in inventory.packages] == [
        (
            "@isaacs/string-locale-compare",
            "1.1.0",
            ("/srv/app/node_modules/@isaacs/string-locale-compare/package.json",),
        ),
        ("ms", "2.1.3", ("/srv/app/node_modules/ms/package.json",)),
        ("semver", "7.8.5", ("/srv/app/node_modules/semver/package.json",)),
        ("yallist", "4.0.0", ("/srv/app/pkgs/a/node_modules/yallist/package.json",)),
        ("yallist", "5.0.0", ("/srv/app/node_modules/yallist/package.json",)),
    ]


def test_debian_node_packages_are_found_and_marked_as_owned_by_their_debian_package(tmp_path):
    copy_tree("debian", tmp_path, "/")
    inventory = collect(tmp_path, ["/usr/share/nodejs"], [NodeInstalledExtractor(), DpkgFileListExtractor()])
    assert [(p.name, p.version, p.purl, p.owner) for p in inventory.packages] == [
        ("@types/semver", "7.3.9", "pkg:npm/%40types/semver@7.3.9", "node-semver"),
        ("semver", "7.3.5", "pkg:npm/semver@7.3.5", "node-semver"),
    ]


@pytest.mark.parametrize(
    "manifest",
    [
        b'{"name": "internal-tool", "version": "1.0.0", "private": true}',
        b'{"name": "no-version"}',
        b'{"version": "1.0.0"}',
        b'{"name": "", "version": ""}',
    ],
)
def test_private_versionless_and_nameless_packages_are_skipped_without_an_error(tmp_path, manifest):
    path = tmp_path / "srv/app/node_modules/x/package.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(manifest)
    inventory = collect(tmp_path, ["/srv"], [NodeInstalledExtractor()])
    assert inventory.packages == ()
    assert inventory.extractors[0].errors == ()


def test_capitals_in_an_old_package_name_are_kept_and_the_purl_is_lower_case(tmp_path):
    path = tmp_path / "srv/app/node_modules/JSONStream/package.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"name": "JSONStream", "version": "1.3.5"}')
    inventory = collect(tmp_path, ["/srv"], [NodeInstalledExtractor()])
    assert [(p.name, p.purl) for p in inventory.packages] == [("JSONStream", "pkg:npm/jsonstream@1.3.5")]


def test_every_node_package_debian_installed_on_this_host_is_read():
    """Needs the apt package node-semver (and its dependencies node-lru-cache and node-yallist)."""
    inventory = collect(Path("/"), ["/usr/share/nodejs"], [NodeInstalledExtractor(), DpkgFileListExtractor()])
    assert [run.errors for run in inventory.extractors] == [(), ()]
    debian_version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "node-semver"], capture_output=True, text=True, check=True
    ).stdout  # 7.3.5+~7.3.9-2: semver 7.3.5 with @types/semver 7.3.9 bundled
    semver = next(p for p in inventory.packages if p.name == "semver")
    assert semver.version == debian_version.split("+", 1)[0]
    assert semver.owner == "node-semver"
    assert all(p.owner for p in inventory.packages)  # everything there is a Debian package's
