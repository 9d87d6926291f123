"""A live tree walked by several processes gives exactly the inventory one process gives.

The trees: every fixture of the inventory tests (real package databases, manifests, jars, binaries, broken
files among them) placed in one Debian root whose dpkg file lists own some of them, the filesystem contract
tree, and hundreds of generated packages of several ecosystems; walked with and without the language limit.
"""

from __future__ import annotations

import json
import lzma
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
from multiprocessing import forkserver, resource_tracker
from pathlib import Path
from typing import ClassVar

import pytest
from tests.inventory.extracting import place
from tests.support.rootfs import build_contract_tree

from vigil.fs import LiveFS
from vigil.inventory import parallel
from vigil.inventory.collect import Collector, Limits, PathScope
from vigil.inventory.extractor import Wants
from vigil.inventory.model import Inventory, Package, Target
from vigil.inventory.registry import extractors

TESTS = Path(__file__).parent
DIST_PACKAGES = "/usr/lib/python3/dist-packages"
STATUS = """\
Package: python3-six
Status: install ok installed
Architecture: all
Version: 1.16.0-4

Package: node-semver
Status: install ok installed
Architecture: all
Version: 7.3.5+~7.3.8-2
"""


def _fixture_tree(root: Path) -> Path:
    """A Debian root holding every inventory fixture, some of them owned by dpkg, and many packages."""
    place(root, "/etc/os-release", "ID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n")
    place(root, "/var/lib/dpkg/status", STATUS)
    python = TESTS / "language/python/fixtures"
    shutil.copytree(python / "debian/dist-packages", root / DIST_PACKAGES.lstrip("/"))
    place(root, "/var/lib/dpkg/info/python3-six.list", (python / "debian/python3-six.list").read_bytes())
    for fixtures in sorted(TESTS.rglob("fixtures")):
        shutil.copytree(fixtures, root / "srv/fixtures" / fixtures.relative_to(TESTS).parent, symlinks=True)
    gobinary = TESTS / "language/golang/fixtures/binary_with_module_replacement-linux-amd64.xz"
    binary = place(root, "/usr/local/bin/replaced", lzma.decompress(gobinary.read_bytes())) / "usr/local/bin"
    (binary / "replaced").chmod(0o755)
    build_contract_tree(root / "srv/contract")
    (root / "srv/again").mkdir(parents=True)  # where one test bind-mounts /opt/apps again
    place(
        root, "/srv/rust-app/Cargo.lock", (TESTS / "language/rust/fixtures/trivy/cargo_v3.lock").read_bytes()
    )
    for app in range(40):  # many packages of several ecosystems, in many directories
        base = f"/opt/apps/app{app:02d}"
        for i in range(3):
            place(root, f"{base}/venv/lib/python3.11/site-packages/p{app}_{i}-1.{i}.dist-info/METADATA",
                  f"Metadata-Version: 2.1\nName: p{app}-{i}\nVersion: 1.{i}\n")  # fmt: skip
            place(root, f"{base}/node_modules/n{app}-{i}/package.json",
                  json.dumps({"name": f"n{app}-{i}", "version": f"2.{i}.0"}))  # fmt: skip
        place(root, f"{base}/Gemfile.lock", f"GEM\n  specs:\n    g{app} (0.{app})\n\nPLATFORMS\n  ruby\n")
        place(root, f"{base}/broken-{app}.dist-info/METADATA", "Metadata-Version: 2.1\n")  # an error each
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fixture_tree(tmp_path_factory.mktemp("parallel"))


class _Spy(parallel.ParallelWalk):
    """Records the keys of the parts each parallel walk came back with."""

    keys: ClassVar[list[tuple[int, ...]]] = []

    def run(self, other_work):
        try:
            super().run(other_work)
        finally:
            _Spy.keys.extend(self.units)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> type[_Spy]:
    _Spy.keys = []
    monkeypatch.setattr(parallel, "ParallelWalk", _Spy)
    return _Spy


def _collect(
    root: Path, workers: int, *, limit: int = 5000, seconds: float = 900, exts=None, **kw
) -> Inventory:
    collector = Collector(
        LiveFS(str(root)),
        extractors() if exts is None else exts,
        scope=PathScope.all(),
        limits=Limits(max_language_packages=limit, collection_seconds=seconds, workers=workers),
        fork_after=0,
        **kw,
    )
    return collector.collect(Target("directory", (str(root),)))


def _content(inventory: Inventory) -> dict:
    """Everything but when and how fast: the files seen and whether there was a walk are kept."""
    document = inventory.to_json()
    del document["collected_at"], document["stats"]["duration_s"], document["stats"]["bytes_read"]
    return document


def _no_children_left() -> None:
    """No worker left: no child of this process but multiprocessing's fork server and resource tracker
    (started once, by the test that needs a fork server), and no child of the fork server."""
    assert multiprocessing.active_children() == []
    server = forkserver._forkserver._forkserver_pid
    helpers = {str(server), str(resource_tracker._resource_tracker._pid)}
    for parent in (os.getpid(), server):
        if parent is not None:
            children = set(Path(f"/proc/{parent}/task/{parent}/children").read_text().split())
            assert children - helpers == set()


@pytest.mark.parametrize("limit", [5000, 150, 7], ids=["under-the-limit", "limit-in-the-walk", "limit-early"])
def test_a_tree_walked_by_three_processes_gives_the_inventory_one_process_gives(tree, spy, limit):
    alone = _collect(tree, 1, limit=limit)
    assert spy.keys == []  # one process walks alone
    shared = _collect(tree, 3, limit=limit)
    assert _content(shared) == _content(alone)
    assert any(len(key) > 1 for key in spy.keys)  # parts were given away
    if limit > 7:  # how many before an early limit stops the walk depends on the workers' timing
        assert len(spy.keys) > 3
    _no_children_left()


def test_the_fixture_tree_exercises_what_the_comparison_claims(tree):
    inventory = _collect(tree, 2)
    ecosystems = {p.type for p in inventory.packages}
    assert {"deb", "pypi", "npm", "maven", "golang", "cargo", "gem", "composer", "nuget"} <= ecosystems
    assert sum(len(run.errors) for run in inventory.extractors) > 40  # broken files, each reported
    assert {p.name: p.owner for p in inventory.packages if p.name == "six"} == {"six": "python3-six"}
    assert inventory.stats.files_seen > 1000 and inventory.limits_hit == ()


def test_the_kept_packages_under_the_limit_are_the_ones_one_process_keeps(tree):
    shared = _collect(tree, 2, limit=150)
    assert [limit.limit for limit in shared.limits_hit] == ["package_count"]
    assert shared.stats.files_seen < _collect(tree, 2).stats.files_seen  # the walk stopped at the limit
    assert [p.purl for p in shared.packages] == [p.purl for p in _collect(tree, 1, limit=150).packages]


def test_the_time_limit_stops_every_worker_and_keeps_what_was_found(tree):
    inventory = _collect(tree, 2, seconds=0)
    assert [limit.limit for limit in inventory.limits_hit] == ["collection_time"]
    assert inventory.os is not None and inventory.packages  # the exact paths are read anyway
    _no_children_left()


class _KillsItsWorker:
    """Ends any worker process that reads a `pkgs.txt` (as the OOM killer would); the collecting one reads."""

    name: ClassVar[str] = "test/killer"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(names=frozenset({"pkgs.txt"}))
    collecting = os.getpid()

    def extract(self, file, ctx):
        if os.getpid() != self.collecting:
            os.kill(os.getpid(), signal.SIGKILL)
        return [
            Package(
                "killed", "1", "pypi", "PYTHONPKG", "pkg:pypi/killed@1", self.name, locations=(file.path,)
            )
        ]


def test_a_killed_worker_makes_the_walk_run_again_in_one_process(tmp_path):
    for i in range(300):
        place(tmp_path, f"/srv/d{i:03d}/pkgs.txt", "")
    inventory = _collect(tmp_path, 2, exts=[_KillsItsWorker()])
    (problem,) = inventory.target.problems
    assert "a collection worker" in problem and "ended with code -9" in problem
    assert problem.endswith("the walk was done again in one process")
    (package,) = inventory.packages
    assert package.locations == tuple(f"/srv/d{i:03d}/pkgs.txt" for i in range(300))
    assert inventory.stats.files_seen == 601
    _no_children_left()


def test_progress_counts_what_every_process_has_seen(tree):
    reported: list[tuple[int, int]] = []
    inventory = _collect(tree, 2, progress=lambda files, packages: reported.append((files, packages)))
    assert reported and all(0 < files <= inventory.stats.files_seen for files, _ in reported)
    assert [files for files, _ in reported] == sorted(files for files, _ in reported)


def test_an_interrupted_collection_leaves_no_worker_behind(tree):
    calls = 0

    def progress(files: int, packages: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _collect(tree, 2, progress=progress)
    _no_children_left()


def test_workers_are_started_by_a_fork_server_when_other_threads_run(tree, spy):
    """Forking a process that runs other threads (a progress display) could leave a child blocked on a
    lock one of them held: a fork server forks the workers instead, for the same inventory."""
    done = threading.Event()
    waiter = threading.Thread(target=done.wait)
    waiter.start()
    try:
        shared = _collect(tree, 2)
    finally:
        done.set()
        waiter.join()
    assert forkserver._forkserver._forkserver_pid is not None
    assert any(len(key) > 1 for key in spy.keys)
    assert _content(shared) == _content(_collect(tree, 1))
    _no_children_left()


BIND_MOUNTED = """
import json, subprocess, sys
from pathlib import Path
from tests.inventory.test_parallel import _collect, _content
root = Path(sys.argv[1])
subprocess.run(["mount", "--bind", str(root / "opt/apps"), str(root / "srv/again")], check=True)
alone, shared = _collect(root, 1), _collect(root, 2)
print(json.dumps({"same": _content(alone) == _content(shared), "problems": alone.target.problems}))
"""


def test_a_directory_reached_twice_through_a_bind_mount_gives_the_same_inventory(tree):
    """One walk enters a directory once and reports the second way in as a loop; shared out, the parts
    that met it twice are walked again by one process (in a mount namespace of its own, where permitted)."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("no mount namespaces here")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", BIND_MOUNTED, str(tree)],
        capture_output=True, text=True, check=True, env=env, cwd=TESTS.parents[1],
    )  # fmt: skip
    outcome = json.loads(result.stdout)
    assert outcome["same"] is True
    assert any("directory loop" in problem for problem in outcome["problems"])
