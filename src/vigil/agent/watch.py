"""Noticing a change of the package databases, so that an install is reported within a minute.

inotify (through libc, with ctypes) watches the databases' *directories*: dpkg replaces its status file by
renaming a new one over it, which a watch on the file itself would not survive. Where inotify is missing
or refuses, a poll compares each database's (mtime, size, inode) every few seconds. Either way the agent's
main loop waits here, in `select`, with a timeout: no busy loop, and a signal handler `wake()`s it.

A package install writes its database many times; `Debounce` turns a burst into one collection.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import select
import struct
import time
from collections.abc import Callable, Iterable
from typing import Protocol

log = logging.getLogger("vigil.agent")

# the package databases the OS extractors read, relative to the root
PACKAGE_DATABASES = (
    "var/lib/dpkg/status",
    "var/lib/rpm/rpmdb.sqlite",
    "var/lib/rpm/rpmdb.sqlite-wal",
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite-wal",
    "usr/lib/sysimage/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
    "lib/apk/db/installed",
)

POLL_SECONDS = 5.0
RESCAN_SECONDS = 60.0  # how often directories that do not exist (yet) are looked for again

# <sys/inotify.h>
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
)  # fmt: skip
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name


class Watcher(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True as soon as a package database changed."""
        ...

    def wake(self) -> None:
        """Make the current or next `wait` return now (safe in a signal handler)."""
        ...

    def close(self) -> None: ...


class Waker:
    """A sleep that `wake()` cuts short: a self-pipe, selected on together with what is waited for."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wake(self) -> None:
        try:
            os.write(self.write_fd, b"!")
        except OSError:  # the pipe is full: a wake is already pending
            pass

    def wait(self, fds: Iterable[int], timeout: float) -> list[int]:
        """The fds (of `fds` and this waker's) readable within `timeout` seconds; drains the waker."""
        ready, _, _ = select.select([self.read_fd, *fds], [], [], max(0.0, timeout))
        if self.read_fd in ready:
            try:
                while os.read(self.read_fd, 64):
                    pass
            except BlockingIOError:
                pass
        return ready

    def sleep(self, seconds: float) -> bool:
        """Sleep; True when woken."""
        return self.read_fd in self.wait((), seconds)

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


def _files(root: str, databases: Iterable[str]) -> tuple[str, ...]:
    return tuple(os.path.join(root, relative) for relative in databases)


class PollWatcher:
    """Compares each database's (mtime, size, inode) every `interval` seconds."""

    def __init__(
        self,
        root: str,
        databases: Iterable[str] = PACKAGE_DATABASES,
        *,
        interval: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.files = _files(root, databases)
        self.interval = interval
        self.clock = clock
        self._waker = Waker()
        self._sleep = sleep or self._waker.sleep
        self._seen = self._snapshot()
        self._next_poll = clock() + interval

    def wait(self, timeout: float) -> bool:
        deadline = self.clock() + timeout
        while True:
            now = self.clock()
            if now >= self._next_poll:
                self._next_poll = now + self.interval
                current = self._snapshot()
                if current != self._seen:
                    self._seen = current
                    return True
            if now >= deadline:
                return False
            if self._sleep(min(deadline, self._next_poll) - now):
                return False

    def wake(self) -> None:
        self._waker.wake()

    def close(self) -> None:
        self._waker.close()

    def _snapshot(self) -> tuple[tuple[int, int, int] | None, ...]:
        return tuple(_signature(path) for path in self.files)


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class InotifyWatcher:
    """inotify on the directories of the package databases (OSError when inotify cannot be used)."""

    def __init__(
        self,
        root: str,
        databases: Iterable[str] = PACKAGE_DATABASES,
        *,
        rescan_every: float = RESCAN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        files = _files(root, databases)
        self.names: dict[str, frozenset[str]] = {}  # directory -> the database names in it
        for path in files:
            directory, name = os.path.split(path)
            self.names[directory] = self.names.get(directory, frozenset()) | {name}
        self.rescan_every = rescan_every
        self.clock = clock
        libc = ctypes.CDLL(None, use_errno=True)
        self._add_watch = libc.inotify_add_watch
        self._add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
        self._rm_watch = libc.inotify_rm_watch
        self._rm_watch.argtypes = (ctypes.c_int, ctypes.c_int)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            number = ctypes.get_errno()
            raise OSError(number, f"inotify_init1: {os.strerror(number)}")
        self.fd: int = fd
        self._waker = Waker()
        self._watches: dict[int, str] = {}  # watch descriptor -> directory
        try:
            self._watch_missing()
        except OSError:
            self.close()
            raise
        self._next_rescan = clock() + rescan_every

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._watches.values())

    def wait(self, timeout: float) -> bool:
        deadline = self.clock() + timeout
        while True:
            now = self.clock()
            if now >= self._next_rescan:
                self._next_rescan = now + self.rescan_every
                if self._watch_missing():
                    return True
            if now >= deadline:
                return False
            ready = self._waker.wait([self.fd], min(deadline, self._next_rescan) - now)
            if self.fd in ready and self._read_events():
                return True
            if self._waker.read_fd in ready:
                return False

    def wake(self) -> None:
        self._waker.wake()

    def close(self) -> None:
        os.close(self.fd)
        self._waker.close()

    def _watch_missing(self) -> bool:
        """Watch the directories not watched yet; True when one that appeared holds a database."""
        appeared = False
        for directory in self.names.keys() - self._watches.values():
            wd = self._add_watch(self.fd, os.fsencode(directory), _MASK)
            if wd < 0:
                number = ctypes.get_errno()
                if number in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                    continue  # not there (yet): looked for again at the next rescan
                raise OSError(number, f"inotify_add_watch {directory}: {os.strerror(number)}")
            self._watches[wd] = directory
            appeared |= any(os.path.exists(os.path.join(directory, n)) for n in self.names[directory])
        return appeared

    def _read_events(self) -> bool:
        changed = False
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return changed
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                changed |= self._event(wd, mask, os.fsdecode(name))

    def _event(self, wd: int, mask: int, name: str) -> bool:
        if mask & IN_Q_OVERFLOW:
            return True  # events were lost: assume the worst, a collection is cheap
        directory = self._watches.get(wd)
        if directory is None:
            return False
        if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):  # the directory itself went away
            if not mask & IN_IGNORED:
                self._rm_watch(self.fd, wd)
            self._watches.pop(wd, None)
            self._next_rescan = self.clock()
            return True
        return name in self.names[directory]


def open_watcher(root: str, *, poll_interval: float = POLL_SECONDS) -> Watcher:
    """inotify where the kernel and libc offer it, else the poll."""
    try:
        return InotifyWatcher(root)
    except (OSError, AttributeError) as exc:  # AttributeError: a libc without inotify
        log.info("inotify unavailable (%s): polling the package databases every %g s", exc, poll_interval)
        return PollWatcher(root, interval=poll_interval)


class Debounce:
    """A burst of changes gives one action: `quiet` seconds after the last change, and at most `longest`
    seconds after the first, so that a long install is still reported within a minute."""

    def __init__(self, quiet: float = 2.0, longest: float = 20.0) -> None:
        self.quiet = quiet
        self.longest = longest
        self._first: float | None = None
        self._last: float | None = None

    def touch(self, now: float) -> None:
        """A change was seen at `now`."""
        if self._first is None:
            self._first = now
        self._last = now

    def due(self) -> float | None:
        """When to act on the changes seen (None: none seen)."""
        if self._first is None or self._last is None:
            return None
        return min(self._last + self.quiet, self._first + self.longest)

    def clear(self) -> None:
        self._first = self._last = None
