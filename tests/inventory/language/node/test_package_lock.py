"""npm lock files: osv-scalibr's test lock files parsed, and npm-made projects checked against the disk."""

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor
from tests.inventory.language.node.trees import FIXTURES, collect, copy_tree, found

from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.node import NpmLockfileExtractor
from vigil.inventory.language.node.lockfile import LockfileError, parse_lockfile
from vigil.inventory.language.node.manifest import parse_json
from vigil.inventory.language.node.package_lock import VERSION_FROM_DISK

SCALIBR = FIXTURES / "scalibr"
LOCAL = "installed from a local file or folder, not a registry"
SCALIBR_CASES = sorted(
    str(p.relative_to(SCALIBR)).removesuffix(".expected.json") for p in SCALIBR.rglob("*.expected.json")
)


def _commit(source: str) -> str:
    match = re.search(r"#([0-9a-f]{40})$", source)
    return match.group(1) if match else ""


@pytest.mark.parametrize("fixture", SCALIBR_CASES)
def test_scalibr_lock_files_parse_to_the_entries_its_tests_expect(fixture):
    case = json.loads((SCALIBR / f"{fixture}.expected.json").read_text())["cases"][0]
    data = (SCALIBR / fixture).read_bytes()
    if case["want_error"]:
        with pytest.raises((ExtractError, LockfileError)):
            parse_lockfile(parse_json(data, fixture))
        return
    entries, problems = parse_lockfile(parse_json(data, fixture))
    assert problems == []
    # scalibr lists a package once per name, version and git commit; the parser gives every install path
    distinct = {(e.name, e.version, _commit(e.source)) for e in entries}
    assert Counter((name, version) for name, version, _ in distinct) == Counter(
        (p["name"], p["version"]) for p in case["packages"]
    )


def test_the_parser_says_where_npm_installs_each_entry():
    data = parse_json((SCALIBR / "nested-dependencies.v1.json").read_bytes(), "v1")
    v1 = {(e.path, e.name, e.version) for e in parse_lockfile(data)[0]}
    data = parse_json((SCALIBR / "nested-dependencies.v2.json").read_bytes(), "v2")
    v2 = {(e.path, e.name, e.version) for e in parse_lockfile(data)[0]}
    assert (
        v1
        == v2
        == {
            ("node_modules/postcss", "postcss", "6.0.23"),
            ("node_modules/postcss-calc", "postcss-calc", "7.0.1"),
            ("node_modules/postcss-calc/node_modules/postcss", "postcss", "7.0.16"),
            ("node_modules/postcss-calc/node_modules/supports-color", "supports-color", "6.1.0"),
            ("node_modules/supports-color", "supports-color", "5.5.0"),
        }
    )


def test_a_lock_file_without_node_modules_reports_nothing(tmp_path):
    root = place(
        tmp_path, "/srv/app/package-lock.json", (SCALIBR / "nested-dependencies.v2.json").read_bytes()
    )
    packages, ctx = run_extractor(NpmLockfileExtractor(), root, "/srv/app/package-lock.json")
    assert packages == [] and ctx.errors == []


@pytest.mark.parametrize(
    ("project", "expected"),
    [
        (
            "npm/project-v3",  # node_modules/a is a link to the local folder pkgs/a: neither is reported
            [
                ("@isaacs/string-locale-compare", "1.1.0", (LOCAL,)),
                ("ms", "2.1.3", (LOCAL,)),
                ("semver", "7.8.5", (LOCAL,)),
                ("yallist", "4.0.0", (LOCAL,)),  # in pkgs/a/node_modules
                ("yallist", "5.0.0", (LOCAL,)),
            ],
        ),
        (
            "npm/project-v2",  # --install-links: pkgs/a copied to node_modules/a
            [
                ("@isaacs/string-locale-compare", "1.1.0", (LOCAL,)),
                ("a", "1.0.0", (LOCAL,)),
                ("ms", "2.1.3", (LOCAL,)),
                ("semver", "7.8.5", (LOCAL,)),
                ("yallist", "4.0.0", (LOCAL,)),  # in node_modules/a/node_modules
                ("yallist", "5.0.0", (LOCAL,)),
            ],
        ),
        (
            "npm/project-v1",  # `file:` specs instead of versions: the versions come from node_modules
            [
                ("@isaacs/string-locale-compare", "1.1.0", (LOCAL, VERSION_FROM_DISK)),
                ("a", "1.0.0", ()),
                ("ms", "2.1.3", (LOCAL, VERSION_FROM_DISK)),
                ("semver", "7.8.5", (LOCAL, VERSION_FROM_DISK)),
                ("yallist", "4.0.0", (LOCAL, VERSION_FROM_DISK)),
                ("yallist", "5.0.0", (LOCAL, VERSION_FROM_DISK)),
            ],
        ),
    ],
)
def test_an_npm_project_reports_the_installed_lock_file_entries(tmp_path, project, expected):
    copy_tree(project, tmp_path, "/srv/app")
    inventory = collect(tmp_path, ["/srv"], [NpmLockfileExtractor()])
    assert [(p.name, p.version, p.notes) for p in inventory.packages] == expected
    assert inventory.extractors[0].errors == ()
    for package in inventory.packages:
        assert (package.type, package.package_manager, package.extractor, package.locations) == (
            "npm",
            "NPM",
            "language/node/package-lock",
            ("/srv/app/package-lock.json",),
        )
    assert inventory.packages[0].purl == "pkg:npm/%40isaacs/string-locale-compare@1.1.0"


def test_a_package_removed_from_node_modules_is_no_longer_reported(tmp_path):
    copy_tree("npm/project-v3", tmp_path, "/srv/app")
    shutil.rmtree(tmp_path / "srv/app/node_modules/semver")
    shutil.rmtree(tmp_path / "srv/app/pkgs/a/node_modules")
    inventory = collect(tmp_path, ["/srv"], [NpmLockfileExtractor()])
    assert found(inventory) == [
        ("@isaacs/string-locale-compare", "1.1.0"),
        ("ms", "2.1.3"),
        ("yallist", "5.0.0"),
    ]


def _install(root: Path, lockdir: str, install_path: str, name: str, version: str) -> None:
    place(root, f"{lockdir}/{install_path}/package.json", json.dumps({"name": name, "version": version}))


def test_dev_and_optional_packages_count_exactly_when_installed(tmp_path):
    place(tmp_path, "/srv/app/package-lock.json", (SCALIBR / "optional-package.v1.json").read_bytes())
    _install(tmp_path, "/srv/app", "node_modules/supports-color", "supports-color", "5.5.0")
    inventory = collect(tmp_path, ["/srv"], [NpmLockfileExtractor()])
    assert found(inventory) == [("supports-color", "5.5.0")]  # not wrappy: optional, dev and absent


def test_git_packages_are_reported_with_their_commit(tmp_path):
    place(tmp_path, "/srv/app/package-lock.json", (SCALIBR / "commits.v1.json").read_bytes())
    _install(tmp_path, "/srv/app", "node_modules/is-number-2", "is-number", "2.0.0")
    _install(tmp_path, "/srv/app", "node_modules/ansi-styles", "ansi-styles", "1.0.0")
    inventory = collect(tmp_path, ["/srv"], [NpmLockfileExtractor()])
    assert [(p.name, p.version, p.notes) for p in inventory.packages] == [
        ("ansi-styles", "1.0.0", ()),
        (
            "is-number-2",  # v1 names the folder; the installed package.json gives the version
            "2.0.0",
            (
                "installed from git commit d5ac0584ee9ae7bd9288220a39780f155b9ad4c8, not a registry",
                VERSION_FROM_DISK,
            ),
        ),
    ]


def test_an_alias_is_reported_under_the_real_package_name(tmp_path):
    place(tmp_path, "/srv/app/package-lock.json", (SCALIBR / "alias.v2.json").read_bytes())
    _install(tmp_path, "/srv/app", "node_modules/string-width-cjs", "string-width", "4.2.0")
    inventory = collect(tmp_path, ["/srv"], [NpmLockfileExtractor()])
    assert [(p.name, p.purl) for p in inventory.packages] == [("string-width", "pkg:npm/string-width@4.2.0")]


def test_a_package_lock_next_to_a_shrinkwrap_is_ignored_as_npm_ignores_it(tmp_path):
    place(tmp_path, "/srv/app/npm-shrinkwrap.json", (SCALIBR / "both" / "npm-shrinkwrap.json").read_bytes())
    place(tmp_path, "/srv/app/package-lock.json", (SCALIBR / "nested-dependencies.v2.json").read_bytes())
    _install(tmp_path, "/srv/app", "node_modules/wrappy", "wrappy", "1.0.2")
    _install(tmp_path, "/srv/app", "node_modules/postcss", "postcss", "7.0.16")
    inventory = collect(tmp_path, ["/srv"], [NpmLockfileExtractor()])
    assert [(p.name, p.locations) for p in inventory.packages] == [
        ("wrappy", ("/srv/app/npm-shrinkwrap.json",))
    ]
