"""The collector: one walk at most, O(1) dispatch, errors kept, limits named, ownership marked."""

from __future__ import annotations

from typing import ClassVar

from tests.inventory.extracting import place

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, Limits, PathScope
from vigil.inventory.extractor import Wants
from vigil.inventory.model import Package, Target
from vigil.inventory.os.dpkg import DpkgExtractor
from vigil.inventory.os.dpkg_files import DpkgFileListExtractor

STATUS = "Package: python3-six\nStatus: install ok installed\nArchitecture: all\nVersion: 1.16.0-4\n"
OS_RELEASE = "ID=debian\nVERSION_ID=12\n"


class CountingFS(LiveFS):
    walks = 0

    def walk(self, *args, **kwargs):
        CountingFS.walks += 1
        return super().walk(*args, **kwargs)


class LinesExtractor:
    """A language extractor for tests: each line of a wanted file `name==version` is a package."""

    name: ClassVar[str] = "test/lines"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(names=frozenset({"pkgs.txt"}), suffixes=(".lines", ".dist-info/METADATA"))

    def extract(self, file, ctx):
        text = file.read_text()
        if "boom" in text:
            raise ValueError("malformed on purpose")
        return [
            Package(n, v, "pypi", "PYTHONPKG", f"pkg:pypi/{n}@{v}", self.name, locations=(file.path,))
            for n, v in (line.split("==") for line in text.split())
        ]


class ElfExtractor:
    name: ClassVar[str] = "test/elf"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(executables=True)

    def extract(self, file, ctx):
        with file.open() as f:
            magic = f.read(4)
        return (
            []
            if magic != b"\x7fELF"
            else [
                Package(
                    "bin", "1", "golang", "GOBINARY", "pkg:golang/bin@1", self.name, locations=(file.path,)
                )
            ]
        )


def _collect(fs, extractors, scope=None, limits=Limits()):
    return Collector(fs, extractors, scope=scope or PathScope.all(), limits=limits).collect(
        Target("directory", ["/"])
    )


def test_os_inventory_reads_exact_paths_without_walking(tmp_path):
    place(tmp_path, "/etc/os-release", OS_RELEASE)
    place(tmp_path, "/var/lib/dpkg/status", STATUS)
    CountingFS.walks = 0
    inventory = _collect(CountingFS(str(tmp_path)), [DpkgExtractor()])
    assert CountingFS.walks == 0 and inventory.stats.walked is False
    assert [p.name for p in inventory.packages] == ["python3-six"]
    assert inventory.extractors[0].files_read == ("/var/lib/dpkg/status",)


def test_one_walk_dispatches_names_suffixes_and_executables(tmp_path):
    place(tmp_path, "/etc/os-release", OS_RELEASE)
    place(tmp_path, "/srv/app/pkgs.txt", "a==1 b==2")
    place(tmp_path, "/srv/app/more.LINES", "c==3")
    place(tmp_path, "/usr/lib/python3/x-1.0.dist-info/METADATA", "x==1.0")
    place(tmp_path, "/usr/lib/python3/METADATA", "not==wanted")  # the suffix needs the .dist-info dir
    elf = place(tmp_path, "/usr/bin/tool", b"\x7fELF" + bytes(60)) / "usr/bin/tool"
    elf.chmod(0o755)
    script = place(tmp_path, "/usr/bin/script", b"#!/bin/sh\n") / "usr/bin/script"
    script.chmod(0o755)
    place(tmp_path, "/usr/bin/data", b"\x7fELF")  # not executable: never opened
    CountingFS.walks = 0
    inventory = _collect(CountingFS(str(tmp_path)), [LinesExtractor(), ElfExtractor()])
    assert CountingFS.walks == 1
    assert sorted(p.name for p in inventory.packages) == ["a", "b", "bin", "c", "x"]
    elf_run = next(r for r in inventory.extractors if r.name == "test/elf")
    assert sorted(elf_run.files_read) == ["/usr/bin/script", "/usr/bin/tool"]


def test_a_bad_file_is_reported_and_the_walk_goes_on(tmp_path):
    place(tmp_path, "/etc/os-release", OS_RELEASE)
    place(tmp_path, "/a/pkgs.txt", "boom")
    place(tmp_path, "/b/pkgs.txt", "ok==1")
    inventory = _collect(LiveFS(str(tmp_path)), [LinesExtractor()])
    assert [p.name for p in inventory.packages] == ["ok"]
    (error,) = inventory.extractors[0].errors
    assert error.path == "/a/pkgs.txt" and "malformed on purpose" in error.error


def test_default_scope_walks_only_the_default_and_custom_paths(tmp_path):
    place(tmp_path, "/usr/lib/app/pkgs.txt", "in==1")
    place(tmp_path, "/usr/local/lib64/pkgs.txt", "in64==1")
    place(tmp_path, "/opt/app/pkgs.txt", "custom==1")
    place(tmp_path, "/srv/pkgs.txt", "out==1")
    place(tmp_path, "/var/lib/docker/overlay2/x/pkgs.txt", "container==1")
    scope = PathScope.default(["/opt/app", "/var/lib/docker"])
    inventory = _collect(LiveFS(str(tmp_path)), [LinesExtractor()], scope)
    assert sorted(p.name for p in inventory.packages) == ["custom", "in", "in64"]


def test_container_runtime_directories_are_never_walked_even_in_scope_all(tmp_path):
    place(tmp_path, "/var/lib/containerd/x/pkgs.txt", "container==1")
    place(tmp_path, "/var/lib/containers/x/pkgs.txt", "podman==1")
    place(tmp_path, "/home/u/pkgs.txt", "home==1")
    inventory = _collect(LiveFS(str(tmp_path)), [LinesExtractor()])
    assert [p.name for p in inventory.packages] == ["home"]


def test_language_package_limit_keeps_what_was_collected_and_says_so(tmp_path):
    for i in range(5):
        place(tmp_path, f"/d{i}/pkgs.txt", f"p{i}a==1 p{i}b==1")
    inventory = _collect(LiveFS(str(tmp_path)), [LinesExtractor()], limits=Limits(max_language_packages=5))
    assert len(inventory.packages) == 5
    assert [limit.limit for limit in inventory.limits_hit] == ["package_count"]


def test_collection_time_limit_stops_the_walk_and_keeps_results(tmp_path):
    for i in range(1200):
        place(tmp_path, f"/d/{i}.txt", "")
    inventory = _collect(LiveFS(str(tmp_path)), [LinesExtractor()], limits=Limits(collection_seconds=0))
    assert [limit.limit for limit in inventory.limits_hit] == ["collection_time"]
    assert inventory.stats.files_seen < 1200


def test_language_packages_installed_by_an_os_package_are_marked_with_it(tmp_path):
    """On a merged-/usr Debian, dpkg lists /lib/python3/… while the walk finds /usr/lib/python3/…."""
    place(tmp_path, "/etc/os-release", OS_RELEASE)
    place(tmp_path, "/var/lib/dpkg/status", STATUS)
    place(
        tmp_path,
        "/var/lib/dpkg/info/python3-six.list",
        "/.\n/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA\n",
    )
    place(tmp_path, "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", "six==1.16.0")
    place(tmp_path, "/opt/venv/lib/six-1.16.0.dist-info/METADATA", "six==1.16.0")
    (tmp_path / "lib").symlink_to("usr/lib")
    inventory = _collect(LiveFS(str(tmp_path)), [DpkgExtractor(), DpkgFileListExtractor(), LinesExtractor()])
    six = sorted((p for p in inventory.packages if p.name == "six"), key=lambda p: p.owner or "")
    assert [(p.owner, p.locations) for p in six] == [
        (None, ("/opt/venv/lib/six-1.16.0.dist-info/METADATA",)),
        ("python3-six", ("/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",)),
    ]


def test_the_same_package_in_two_places_is_one_entry_with_both_locations(tmp_path):
    place(tmp_path, "/a/pkgs.txt", "same==1")
    place(tmp_path, "/b/pkgs.txt", "same==1")
    inventory = _collect(LiveFS(str(tmp_path)), [LinesExtractor()])
    (same,) = inventory.packages
    assert same.locations == ("/a/pkgs.txt", "/b/pkgs.txt")


def test_an_exact_path_reached_through_a_symlink_is_read_once(tmp_path):
    place(tmp_path, "/etc/os-release", OS_RELEASE)
    place(tmp_path, "/usr/lib/sysimage/dpkg/status", STATUS)
    (tmp_path / "var/lib").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg").symlink_to("../../usr/lib/sysimage/dpkg")
    inventory = _collect(LiveFS(str(tmp_path)), [DpkgExtractor()])
    assert inventory.extractors[0].files_read == ("/usr/lib/sysimage/dpkg/status",)
    assert inventory.packages[0].locations == ("/usr/lib/sysimage/dpkg/status",)
