"""Noticing package database changes on a real tree: inotify on the directories, the stat poll, and the
debounce that makes one collection of an install's many writes."""

from __future__ import annotations

import os

import pytest
from tests.agent.conftest import add_package

from vigil.agent.watch import Debounce, InotifyWatcher, PollWatcher, open_watcher


class FakeTime:
    """A clock and a sleep that only moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.slept.append(seconds)
        self.now += seconds
        return False


def _rewrite_in_place(root):
    with open(root / "var/lib/dpkg/status", "a") as f:
        f.write("Package: in-place\nStatus: install ok installed\nVersion: 1\n\n")


@pytest.fixture
def inotify(rootfs):
    watcher = InotifyWatcher(str(rootfs))
    yield watcher
    watcher.close()


def test_inotify_watches_the_directories_that_exist(rootfs, inotify):
    assert inotify.watched == {str(rootfs / "var/lib/dpkg")}


def test_inotify_sees_dpkg_replacing_its_status_file_by_rename(rootfs, inotify):
    add_package(rootfs, "newpkg")
    assert inotify.wait(5.0)
    assert not inotify.wait(0.05)  # the events of that install were all taken
    add_package(rootfs, "another")  # the watch survived the rename: it is on the directory
    assert inotify.wait(5.0)


def test_inotify_sees_a_rewrite_in_place(rootfs, inotify):
    _rewrite_in_place(rootfs)
    assert inotify.wait(5.0)


def test_inotify_ignores_other_files_of_the_directory(rootfs, inotify):
    (rootfs / "var/lib/dpkg/lock-frontend").write_text("")
    (rootfs / "var/lib/dpkg/status-old").write_text("x")
    assert not inotify.wait(0.1)


def test_inotify_picks_up_a_database_directory_that_appears_later(rootfs):
    time = FakeTime()
    watcher = InotifyWatcher(str(rootfs), rescan_every=60.0, clock=time.clock)
    try:
        apk = rootfs / "lib/apk/db"
        apk.mkdir(parents=True)
        (apk / "installed").write_text("P:musl\nV:1.2.4-r2\n\n")
        time.now += 61.0
        assert watcher.wait(0.0)  # found at the rescan, with a database in it
        assert str(apk) in watcher.watched
        (apk / "installed").write_text("P:musl\nV:1.2.4-r3\n\n")
        assert watcher.wait(5.0)
    finally:
        watcher.close()


def test_a_wake_cuts_the_wait_short(rootfs, inotify):
    inotify.wake()
    assert not inotify.wait(30.0)  # returns at once, without a change


def test_the_poll_sees_a_rename_and_a_rewrite_in_place_on_its_next_round(rootfs):
    time = FakeTime()
    watcher = PollWatcher(str(rootfs), interval=5.0, clock=time.clock, sleep=time.sleep)
    try:
        assert not watcher.wait(12.0)
        assert time.slept == [5.0, 5.0, 2.0]  # no busy loop: it sleeps until the next round
        add_package(rootfs, "newpkg")
        assert watcher.wait(60.0)
        assert time.now == 1015.0  # the next round after the change
        _rewrite_in_place(rootfs)
        assert watcher.wait(60.0)
        assert not watcher.wait(30.0)
    finally:
        watcher.close()


def test_the_poll_sees_a_database_appear(rootfs):
    time = FakeTime()
    watcher = PollWatcher(str(rootfs), interval=5.0, clock=time.clock, sleep=time.sleep)
    try:
        (rootfs / "var/lib/rpm").mkdir(parents=True)
        (rootfs / "var/lib/rpm/rpmdb.sqlite").write_bytes(b"SQLite format 3\0")
        assert watcher.wait(10.0)
    finally:
        watcher.close()


def test_without_inotify_the_poll_is_used(rootfs, monkeypatch):
    def no_inotify(*_args, **_kwargs):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(InotifyWatcher, "__init__", no_inotify)
    watcher = open_watcher(str(rootfs))
    try:
        assert isinstance(watcher, PollWatcher)
    finally:
        watcher.close()


def test_an_install_s_many_writes_make_one_collection_after_the_quiet_period(rootfs, inotify):
    debounce = Debounce(quiet=2.0, longest=20.0)
    seen = []
    for t, write in [(100.0, add_package), (100.5, lambda r, _n: _rewrite_in_place(r)), (101.2, add_package)]:
        write(rootfs, f"pkg{t}")
        if inotify.wait(5.0):
            debounce.touch(t)
            seen.append(t)
    assert seen == [100.0, 100.5, 101.2]
    assert debounce.due() == 103.2  # once, 2 s after the last write
    debounce.clear()
    assert debounce.due() is None


def test_a_never_ending_burst_still_gives_a_collection_within_the_longest_wait():
    debounce = Debounce(quiet=2.0, longest=20.0)
    for t in range(60):
        debounce.touch(float(t))
    assert debounce.due() == 20.0


def test_a_watch_on_a_tree_without_any_database_costs_nothing(tmp_path):
    watcher = open_watcher(str(tmp_path))
    try:
        assert not watcher.wait(0.05)
    finally:
        watcher.close()
    assert os.listdir(tmp_path) == []
