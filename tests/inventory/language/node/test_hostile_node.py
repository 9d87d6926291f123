"""Hostile npm files: path traversal in lock file keys, huge and deeply nested JSON, damaged manifests."""

import json
import os
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor
from tests.inventory.language.node.trees import collect, found

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.node import NodeInstalledExtractor, NpmLockfileExtractor
from vigil.inventory.language.node.package_lock import InstalledTree
from vigil.inventory.model import Target

LOCK = "/srv/app/package-lock.json"
MANIFEST = "/srv/app/node_modules/x/package.json"


class RecordingFS(LiveFS):
    """A LiveFS that remembers every path it was asked about."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.asked: list[str] = []

    def stat(self, path):
        self.asked.append(path)
        return super().stat(path)

    def resolve(self, path):
        self.asked.append(path)
        return super().resolve(path)

    def open(self, path):
        self.asked.append(path)
        return super().open(path)


def _installed(root: Path, path: str, name: str, version: str = "1.0.0") -> None:
    place(root, f"{path}/package.json", json.dumps({"name": name, "version": version}))


def _collect_lock(root: Path, fs: LiveFS | None = None):
    fs = fs or LiveFS(str(root))
    collector = Collector(fs, [NpmLockfileExtractor()], scope=PathScope("test", ("/srv",)))
    return collector.collect(Target("directory", [str(root)]))


@pytest.mark.timeout(10)
def test_lock_file_keys_never_reach_outside_the_lock_file_s_directory(tmp_path):
    _installed(tmp_path, "/srv/other/node_modules/evil", "evil")
    _installed(tmp_path, "/srv/app/node_modules/good", "good")
    keys = [
        "../other/node_modules/evil",
        "node_modules/../../other/node_modules/evil",
        "/srv/other/node_modules/evil",
        "node_modules/./good",
        "node_modules//good",
        "node_modules\\..\\..\\other\\node_modules\\evil",
        "node_modules/good\x00",
    ]
    lock = {"lockfileVersion": 3, "packages": {"": {}, "node_modules/good": {"version": "1.0.0"}}}
    lock["packages"].update({key: {"name": "evil", "version": "6.6.6"} for key in keys})
    place(tmp_path, LOCK, json.dumps(lock))
    fs = RecordingFS(str(tmp_path))
    inventory = _collect_lock(tmp_path, fs)
    assert found(inventory) == [("good", "1.0.0")]
    errors = inventory.extractors[0].errors
    assert len(errors) == len(keys)
    assert all("not a relative path inside the project" in e.error for e in errors)
    assert [p for p in fs.asked if "other" in p] == []  # not even looked up


@pytest.mark.timeout(10)
def test_v1_folder_names_never_reach_outside_the_lock_file_s_directory(tmp_path):
    _installed(tmp_path, "/srv/other", "evil")
    _installed(tmp_path, "/srv/app/node_modules/good", "good")
    lock = {
        "lockfileVersion": 1,
        "dependencies": {
            "../../other": {"version": "6.6.6"},
            "@x/../../../other": {"version": "6.6.6"},
            "..": {"version": "6.6.6"},
            "good": {"version": "1.0.0", "dependencies": {"../../../other": {"version": "6.6.6"}}},
        },
    }
    place(tmp_path, LOCK, json.dumps(lock))
    inventory = _collect_lock(tmp_path)
    assert found(inventory) == [("good", "1.0.0")]
    assert len(inventory.extractors[0].errors) == 4


def test_the_installed_tree_refuses_a_path_outside_its_directory(tmp_path):
    _installed(tmp_path, "/srv/other", "evil")
    tree = InstalledTree(LiveFS(str(tmp_path)), "/srv/app")
    assert tree.manifest("../other") is None
    assert tree.manifest("node_modules/../../other") is None


@pytest.mark.timeout(10)
def test_a_symlink_loop_in_node_modules_is_an_absent_package(tmp_path):
    place(
        tmp_path,
        LOCK,
        json.dumps({"lockfileVersion": 3, "packages": {"node_modules/a": {"version": "1.0.0"}}}),
    )
    (tmp_path / "srv/app/node_modules").mkdir()
    os.symlink("a", tmp_path / "srv/app/node_modules/a")
    inventory = _collect_lock(tmp_path)
    assert inventory.packages == () and inventory.extractors[0].errors == ()


@pytest.mark.timeout(10)
def test_a_lock_file_over_the_size_limit_is_an_error_for_that_file(tmp_path):
    path = tmp_path / LOCK.lstrip("/")
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        f.write(b'{"lockfileVersion": 3, "packages": {' + b" " * (33 << 20) + b"}}")
    inventory = _collect_lock(tmp_path)
    (error,) = inventory.extractors[0].errors
    assert error.path == LOCK and "limit" in error.error
    assert inventory.stats.bytes_read <= (32 << 20) + 1


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[" * 200_000, "not JSON"),
        (b'{"lockfileVersion": 3, "packages": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001, "not JSON"),
        (b"null", "not a JSON object"),
        (b'{"name": "proj", "version": "1.0.0"}', "no lockfileVersion"),
        (b'{"lockfileVersion": 3, "packages": []}', "`packages` is not an object"),
        (b'{"lockfileVersion": 1, "dependencies": "x"}', "`dependencies` is not an object"),
        (b"\xff\xfe\x00{", "not JSON"),
    ],
)
def test_a_malformed_lock_file_is_an_error_naming_the_problem(tmp_path, content, problem):
    root = place(tmp_path, LOCK, content)
    with pytest.raises(ExtractError, match=problem) as raised:
        run_extractor(NpmLockfileExtractor(), root, LOCK)
    assert LOCK in str(raised.value)


@pytest.mark.timeout(10)
def test_v1_dependencies_nested_too_deeply_are_read_down_to_the_bound(tmp_path):
    level: dict = {}
    top = level
    for _ in range(100):
        nested: dict = {}
        level["d"] = {"version": "1.0.0", "dependencies": nested}
        level = nested
    place(tmp_path, LOCK, json.dumps({"lockfileVersion": 1, "dependencies": top}))
    _installed(tmp_path, "/srv/app/" + "/".join(["node_modules/d"] * 3), "d", "1.0.0")
    packages, ctx = run_extractor(NpmLockfileExtractor(), tmp_path, LOCK)
    assert [(p.name, p.version) for p in packages] == [("d", "1.0.0")]
    assert [message for _, message in ctx.errors] == [
        f"dependency {'/'.join(['node_modules/d'] * 64)!r}: nested over 64 levels deep; not read"
    ]


@pytest.mark.timeout(10)
def test_a_huge_lock_file_without_node_modules_costs_a_single_lookup(tmp_path):
    lock = {
        "lockfileVersion": 3,
        "packages": {f"node_modules/p{i}": {"version": "1.0.0"} for i in range(200_000)},
    }
    place(tmp_path, LOCK, json.dumps(lock))
    fs = RecordingFS(str(tmp_path))
    inventory = _collect_lock(tmp_path, fs)
    assert inventory.packages == ()
    assert [p for p in fs.asked if p.startswith("/srv/app/node_modules")] == ["/srv/app/node_modules"]


def test_entries_that_are_not_objects_or_not_package_names_are_errors_and_the_rest_is_kept(tmp_path):
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "node_modules/x": 5,
            "node_modules/bad": {"name": "Bad Name", "version": "1.0.0"},
            "node_modules/ok": {"version": "1.0.0"},
            "node_modules/odd": {"version": "1 .0"},
        },
    }
    place(tmp_path, LOCK, json.dumps(lock))
    _installed(tmp_path, "/srv/app/node_modules/ok", "ok")
    _installed(tmp_path, "/srv/app/node_modules/odd", "odd")
    packages, ctx = run_extractor(NpmLockfileExtractor(), tmp_path, LOCK)
    assert [(p.name, p.version) for p in packages] == [("ok", "1.0.0")]
    assert [message for _, message in ctx.errors] == [
        "entry 'node_modules/x': not an object; skipped",
        "entry 'node_modules/bad': 'Bad Name' is not an npm package name; skipped",
        "entry 'node_modules/odd': version '1 .0' is not a version; skipped",
    ]


def test_invalid_utf8_in_a_lock_file_costs_only_the_damaged_text(tmp_path):
    content = b'{"lockfileVersion": 3, "packages": {"node_modules/ok": {"version": "1.0.0", "license": "\xff\xfe"}}}'
    place(tmp_path, LOCK, content)
    _installed(tmp_path, "/srv/app/node_modules/ok", "ok")
    packages, ctx = run_extractor(NpmLockfileExtractor(), tmp_path, LOCK)
    assert [(p.name, p.version) for p in packages] == [("ok", "1.0.0")] and ctx.errors == []


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[" * 200_000, "not JSON"),
        (b"[]", "not a JSON object"),
        (b"{", "not JSON"),
        (b'{"name": 123, "version": "1.0.0"}', "name '123' is not an npm package name"),
        (b'{"name": "../../etc", "version": "1.0.0"}', "is not an npm package name"),
        (b'{"name": "x", "version": {"major": 1}}', "is not a version"),
        (b'{"name": "x", "version": "1.0.0 \\n evil"}', "is not a version"),
    ],
)
def test_a_malformed_installed_package_json_is_an_error_naming_the_problem(tmp_path, content, problem):
    root = place(tmp_path, MANIFEST, content)
    with pytest.raises(ExtractError, match=problem) as raised:
        run_extractor(NodeInstalledExtractor(), root, MANIFEST)
    assert MANIFEST in str(raised.value)


@pytest.mark.timeout(10)
def test_an_installed_package_json_over_the_size_limit_is_an_error_for_that_file(tmp_path):
    place(tmp_path, MANIFEST, b'{"name": "x", "version": "1.0.0", "readme": "' + b"x" * (5 << 20) + b'"}')
    inventory = collect(tmp_path, ["/srv"], [NodeInstalledExtractor()])
    (error,) = inventory.extractors[0].errors
    assert error.path == MANIFEST and "limit" in error.error


def test_invalid_utf8_and_a_byte_order_mark_in_an_installed_package_json_are_read(tmp_path):
    place(tmp_path, MANIFEST, b'\xef\xbb\xbf{"name": "x", "version": "1.0.0", "description": "\xff"}')
    packages, _ = run_extractor(NodeInstalledExtractor(), tmp_path, MANIFEST)
    assert [(p.name, p.version) for p in packages] == [("x", "1.0.0")]


def test_a_package_json_outside_a_package_slot_is_not_even_read(tmp_path):
    place(tmp_path, "/srv/app/node_modules/x/dist/esm/package.json", b"[" * 100_000)
    place(tmp_path, "/srv/app/package.json", b"not json")
    inventory = collect(tmp_path, ["/srv"], [NodeInstalledExtractor()])
    assert inventory.extractors[0].files_read == () and inventory.stats.bytes_read == 0
