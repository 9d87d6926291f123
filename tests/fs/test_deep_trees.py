"""A tree deeper than a path can be long: the walk reports what it cannot reach, and stays fast and small.

Linux refuses paths longer than 4,096 bytes (PATH_MAX), so a host walk cannot examine entries below that; an
image has no such limit, and a crafted one 20,000 directories deep took a walk 21 s and 1.4 GB before walks
stopped at the same length. Either way the entries not read go to `on_error`, as unreadable directories do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import images as im

from vigil.fs import MAX_PATH, FileSystem, FSError, LiveFS, PathTooLong, open_image

DEPTH = 2_100  # "/d" per level: the bottom is past 4,096 characters


def _host_chain(root: Path, depth: int) -> None:
    """`root/d/d/…/d/end`, `depth` directories deep, made relative to an open directory at each level (a
    path from the top would be too long for the kernel)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
        os.close(os.open("end", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def _walk(fs: FileSystem) -> tuple[list[str], list[tuple[str, FSError]]]:
    errors: list[tuple[str, FSError]] = []
    paths = [info.path for info in fs.walk("/", on_error=lambda path, exc: errors.append((path, exc)))]
    return paths, errors


@pytest.fixture
def deep_host_tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "root"
    root.mkdir()
    try:
        _host_chain(root, DEPTH)
        yield root
    finally:
        im.run("rm", "-rf", root)  # pytest's own clean-up recurses per level and would fail on it later


@pytest.mark.timeout(60)
def test_a_live_walk_reports_the_entries_below_the_path_length_limit(deep_host_tree: Path) -> None:
    paths, errors = _walk(LiveFS(str(deep_host_tree)))
    assert paths and max(len(p) for p in paths) <= MAX_PATH
    assert len(errors) == 1  # the first entry past the limit: nothing below it is looked at
    (path, error), deepest = errors[0], max(paths, key=len)
    assert path == deepest + "/d" and f"{path}:" in str(error)
    assert "File name too long" in str(error) or isinstance(error, PathTooLong)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("depth", [DEPTH, 20_000])
def test_an_image_walk_stops_at_the_path_length_limit_and_reports_it(tmp_path: Path, depth: int) -> None:
    bottom = im.deep_directories(tmp_path / "deep.ext4", depth)
    with open_image(tmp_path / "deep.ext4", timeout=30) as fs:
        paths, errors = _walk(fs)
        assert "/etc/os-release" in paths
        assert max(len(p) for p in paths) <= MAX_PATH
        assert [(p, type(e)) for p, e in errors] == [(bottom[: MAX_PATH + 2], PathTooLong)]
        assert "path longer than 4096 characters" in str(errors[0][1])
