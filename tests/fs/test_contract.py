"""One contract, every view: the live tree and each disk-image layout of it answer every call identically.

The oracle is the host's own view of the contract tree (os.lstat, os.readlink, the kernel's path
resolution for links that stay inside the tree), never another vigil view.
"""

from __future__ import annotations

import io
import os
import posixpath
from pathlib import Path

import pytest
from tests.fs.conftest import View, is_lost_found
from tests.support import rootfs

from vigil.fs import FileType, FSError, NotADirectory, NotFound, SymlinkLoop, read_bytes

pytestmark = pytest.mark.timeout(120)

BIG = "/files/big.bin"


def _walk_set(
    view: View, top: str = "/", skip: frozenset[str] = frozenset()
) -> set[tuple[str, FileType, int]]:
    return {(i.path, i.type, i.size) for i in view.fs.walk(top, skip=skip) if not is_lost_found(i.path)}


def test_walk_yields_the_same_paths_types_and_sizes_as_the_tree(view: View) -> None:
    expected = {(e.path, e.type, e.size) for e in view.expected().values()}
    assert _walk_set(view) == expected


def test_walk_never_follows_directory_symlinks(view: View) -> None:
    paths = {i.path: i for i in view.fs.walk("/")}
    assert paths["/links/dir"].type is FileType.SYMLINK
    assert paths["/links/climb-to-root"].type is FileType.SYMLINK
    assert not any(p.startswith(("/links/dir/", "/links/climb-to-root/")) for p in paths)


def test_walk_prunes_skipped_paths_and_starts_anywhere(view: View) -> None:
    pruned = _walk_set(view, skip=frozenset({"/many", "/var/lib"}))
    assert not any(p.startswith(("/many", "/var/lib")) for p, _, _ in pruned)
    assert ("/var/log", FileType.DIRECTORY, 0) in pruned
    assert {p for p, _, _ in _walk_set(view, "/dir")} == {
        "/dir/nested", "/dir/nested/deeper", "/dir/nested/deeper/file.txt", "/dir/nested/sibling.txt",
        "/dir/empty-dir",
    }  # fmt: skip
    # a symlinked top is followed, and the walk reports real paths
    assert _walk_set(view, "/links/dir") == _walk_set(view, "/dir/nested")


def test_list_dir_names_every_child_of_every_directory(view: View) -> None:
    expected = view.expected()
    directories = ["/"] + [p for p, e in expected.items() if e.type is FileType.DIRECTORY]
    for directory in directories:
        want = {posixpath.basename(p) for p in expected if posixpath.dirname(p) == directory}
        got = {i.name for i in view.fs.list_dir(directory) if not is_lost_found(i.path)}
        assert got == want, directory
        assert all(i.path == posixpath.join(directory, i.name) for i in view.fs.list_dir(directory))


def test_list_dir_follows_a_symlinked_directory_and_reports_real_paths(view: View) -> None:
    listed = {i.path for i in view.fs.list_dir("/links/dir")}
    assert listed == {"/dir/nested/deeper", "/dir/nested/sibling.txt"}


def test_stat_has_lstat_semantics_with_types_sizes_and_permissions(view: View) -> None:
    fs = view.fs
    for path, entry in view.expected().items():
        info = fs.stat(path)
        assert (info.path, info.type, info.size) == (path, entry.type, entry.size)
        assert info.mode & 0o7777 == entry.mode & 0o7777, path
    assert fs.stat("/").is_dir
    assert fs.stat("/usr/bin/tool").is_executable
    assert not fs.stat("/files/private").is_executable
    assert fs.stat("/files/private").mode & 0o777 == 0o600
    assert fs.stat("/files/fifo").type is FileType.OTHER
    assert fs.stat("/links/loop-a").is_symlink  # the last component is not followed
    # components before the last are followed, and the result names the real path
    assert fs.stat("/links/dir/deeper/file.txt").path == "/dir/nested/deeper/file.txt"


def test_every_regular_file_reads_back_byte_for_byte(view: View) -> None:
    for path, entry in view.expected().items():
        if entry.type is FileType.REGULAR and path != "/etc/fstab":  # fstab differs per layout, same size
            with view.fs.open(path) as f:
                assert f.read() == entry.host.read_bytes(), path


def test_a_large_file_supports_seek_tell_and_partial_reads(view: View) -> None:
    data = rootfs.big_file_bytes()
    size = len(data)
    with view.fs.open(BIG) as f:
        assert f.seekable()
        for offset in (0, 1, 511, 4095, 4096, 65537, 1 << 20, (1 << 20) + 3, size - 10, size):
            f.seek(offset)
            assert f.tell() == offset
            assert f.read(70001) == data[offset : offset + 70001], offset
        f.seek(-100, io.SEEK_END)
        assert f.read() == data[-100:]
        assert f.read(10) == b""  # at the end
        f.seek(1000)
        f.seek(500, io.SEEK_CUR)
        assert f.tell() == 1500
        assert f.read(3) == data[1500:1503]
        f.seek(size + 4096)
        assert f.read(10) == b""  # past the end
        f.seek(0)
        chunks = []
        while chunk := f.read(12345):
            chunks.append(chunk)
        assert b"".join(chunks) == data


def test_a_seek_before_the_start_of_a_file_is_an_os_error_that_moves_nothing(view: View) -> None:
    with view.fs.open(BIG) as f:
        f.seek(1000)
        with pytest.raises(OSError):
            f.seek(-1)
        with pytest.raises(OSError):
            f.seek(-1001, io.SEEK_CUR)
        assert f.tell() == 1000
        assert f.read(3) == rootfs.big_file_bytes()[1000:1003]


def test_two_open_files_read_independently(view: View) -> None:
    data = rootfs.big_file_bytes()
    with view.fs.open(BIG) as a, view.fs.open(BIG) as b:
        a.seek(2_000_000)
        assert b.read(5000) == data[:5000]
        assert a.read(5000) == data[2_000_000:2_005_000]
        assert b.read(5000) == data[5000:10000]


def test_holes_read_as_zeros(view: View) -> None:
    with view.fs.open("/files/sparse.bin") as f:
        assert f.read() == rootfs.sparse_file_bytes()
        f.seek(rootfs.SPARSE_HOLE - 2)
        assert f.read(6) == b"\0\0afte"


def test_hard_links_and_empty_files(view: View) -> None:
    with view.fs.open("/files/hard-a") as a, view.fs.open("/files/hard-b") as b:
        assert a.read() == b.read() == b"one inode, two names\n"
    with view.fs.open("/files/empty") as f:
        assert f.read() == b""
    assert view.fs.stat("/files/empty").size == 0


def test_unicode_names_list_stat_and_open(view: View) -> None:
    directory, name = posixpath.split("/" + rootfs.UNICODE_FILE)
    assert [i.name for i in view.fs.list_dir(directory)] == [name]
    assert view.fs.stat("/" + rootfs.UNICODE_FILE).size == len("unicode ✓\n".encode())
    with view.fs.open("/" + rootfs.UNICODE_FILE) as f:
        assert f.read().decode() == "unicode ✓\n"


def test_read_link_returns_every_target_verbatim(view: View) -> None:
    for path, entry in view.expected().items():
        if entry.type is FileType.SYMLINK:
            assert view.fs.read_link(path) == os.readlink(entry.host), path


@pytest.mark.parametrize(
    ("path", "real"),
    [
        ("/links/rel-file", "/dir/nested/deeper/file.txt"),
        ("/links/abs-file", "/dir/nested/deeper/file.txt"),
        ("/links/chain", "/dir/nested/deeper/file.txt"),
        ("/links/dir", "/dir/nested"),
        ("/links/rel-dir", "/dir"),
        ("/links/dir/deeper/file.txt", "/dir/nested/deeper/file.txt"),
        ("/links/long", "/dir/nested/deeper/file.txt"),
        ("/links/climb", "/etc/hostname"),  # `..` stops at the target's root
        ("/links/climb-to-root", "/"),
        ("/links/climb-to-root/links/climb-to-root/etc", "/etc"),
        ("/links/into-var", "/var/lib/app/data.txt"),
        ("/var/lib/app/conf", "/etc/hostname"),  # an absolute link from /var lands in the root volume
        ("/var/lib/app/up", "/etc/os-release"),  # `..` climbs out of the /var mount
        ("/links/dir/..", "/dir"),  # `..` after a symlink is physical, as in the kernel
        ("/links/dir/../nested/sibling.txt", "/dir/nested/sibling.txt"),
        ("/../../etc/hostname", "/etc/hostname"),
        ("etc/hostname", "/etc/hostname"),
        ("//etc///./hostname", "/etc/hostname"),
        ("/", "/"),
    ],
)
def test_resolve_follows_links_inside_the_target(view: View, path: str, real: str) -> None:
    assert view.fs.resolve(path) == real


def test_relative_links_resolve_as_the_kernel_resolves_them(view: View) -> None:
    tree = view.tree.resolve()
    probes = [p for p, e in view.expected().items() if e.type is FileType.SYMLINK]
    probes += ["/links/rel-dir/nested/../nested/sibling.txt", "/links/rel-dir/nested/deeper/../.."]
    checked = 0
    for path in probes:
        host = Path(os.path.realpath(str(tree) + path))
        if os.path.isabs(os.readlink(str(tree) + path) if os.path.islink(str(tree) + path) else ""):
            continue  # the kernel resolves absolute links against the host's root, not the target's
        if not host.exists() or not host.is_relative_to(tree):
            continue
        rel = str(host.relative_to(tree))
        assert view.fs.resolve(path) == ("/" if rel == "." else "/" + rel), path
        checked += 1
    assert checked >= 5


def test_files_read_through_links_are_the_files_they_resolve_to(view: View) -> None:
    for link in ("/links/rel-file", "/links/abs-file", "/links/chain", "/links/long", "/links/climb",
                 "/links/into-var", "/var/lib/app/conf", "/var/lib/app/up"):  # fmt: skip
        with view.fs.open(link) as via_link, view.fs.open(view.fs.resolve(link)) as direct:
            assert via_link.read() == direct.read(), link
    with view.fs.open("/links/climb") as f:
        assert f.read() == rootfs.HOSTNAME
    with view.fs.open("/var/lib/app/up") as f:
        assert f.read() == rootfs.OS_RELEASE


@pytest.mark.parametrize("path", ["/links/loop-a", "/links/loop-b", "/links/self", "/links/loop-a/child"])
def test_symlink_loops_raise_symlink_loop(view: View, path: str) -> None:
    with pytest.raises(SymlinkLoop, match="symbolic links"):
        view.fs.resolve(path)
    with pytest.raises(SymlinkLoop):
        view.fs.open(path)
    with pytest.raises(SymlinkLoop):
        list(view.fs.list_dir(path))


def test_missing_paths_and_wrong_types_raise_named_errors(view: View) -> None:
    fs = view.fs
    with pytest.raises(NotFound, match="/nope"):
        fs.stat("/nope")
    with pytest.raises(NotFound):
        fs.open("/links/dangling")
    with pytest.raises(NotFound):
        fs.resolve("/links/dangling")
    assert fs.stat("/links/dangling").is_symlink
    with pytest.raises(NotADirectory):
        fs.stat("/etc/hostname/child")
    with pytest.raises(NotADirectory):
        fs.open("/links/through-file")
    with pytest.raises(NotADirectory):
        list(fs.list_dir("/etc/hostname"))
    with pytest.raises(NotADirectory):
        list(fs.walk("/etc/hostname"))
    with pytest.raises(FSError, match="is a directory"):
        fs.open("/dir")
    with pytest.raises(FSError, match="not a regular file"):
        fs.open("/files/fifo")
    with pytest.raises(FSError, match="not a symbolic link"):
        fs.read_link("/etc/hostname")


@pytest.mark.parametrize(
    "path", ["/links/host-passwd", "/links/host-tree", "/etc/passwd", "/../../../etc/passwd"]
)
def test_nothing_resolves_to_the_host(view: View, path: str) -> None:
    assert Path("/etc/passwd").exists()  # the host has it; the target must not
    with pytest.raises(NotFound):
        view.fs.open(path)


def test_every_link_resolves_inside_the_view(view: View) -> None:
    for info in view.fs.walk("/"):
        if not info.is_symlink:
            continue
        try:
            real = view.fs.resolve(info.path)
        except FSError:
            continue  # dangling, loops, through a file: checked elsewhere
        target = view.fs.stat(real)  # the resolved path exists in the target itself
        assert real == "/" or not target.is_symlink, info.path


def test_reads_are_bounded_and_counted(view: View) -> None:
    with view.reopen() as fs:
        assert read_bytes(fs, "/etc/hostname", 100) == rootfs.HOSTNAME
        with pytest.raises(FSError, match="limit"):
            read_bytes(fs, BIG, 1000)
        before = fs.bytes_read()
        with fs.open(BIG) as f:
            f.read()
        assert fs.bytes_read() > before


def test_text_iteration_over_an_open_file(view: View) -> None:
    with view.fs.open("/etc/os-release") as f:
        assert list(f) == rootfs.OS_RELEASE.splitlines(keepends=True)
