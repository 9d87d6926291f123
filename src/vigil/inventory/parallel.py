"""Walking a live tree with several processes, for exactly the inventory one process would collect.

The collecting process starts walking alone; once the tree proves bigger than `fork_after` entries it starts
worker processes, reads the exact paths while they walk, and whenever a walker is idle the busy ones give
away the directories their walk would list last (work stealing: whole subtrees move, in few messages).
CPython runs one thread at a time and a walk is mostly Python work between short system calls: processes.

Each walked part comes back as a `Unit` keyed by where one walk of the whole tree would have met it: a
part's own entries first, then the parts given away from it, the latest gift first (it sat higher on the
walk's stack). The collector applies the units in key order, so each root is still walked "once".
"""

from __future__ import annotations

import ctypes
import heapq
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext, ForkContext, ForkServerContext
from multiprocessing.process import BaseProcess

from vigil.fs.live import WalkSplit
from vigil.inventory.dispatch import Key, Unit, Walker

GRACE_SECONDS = 5.0  # after the deadline, how long busy workers may take to hand in what they found
_SERVICE_EVERY = 64  # looks between two reads of the workers' pipes when no message was announced
_PROGRESS_EVERY = 512

Give = Callable[[list[tuple[Key, str]]], None]


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0))


@dataclass
class _Shared:
    """What walkers read between entries without a message: a few integers in shared memory."""

    hungry: ctypes.c_int  # a walker is idle and nothing waits to be walked: busy walkers give work away
    stop: ctypes.c_int  # the deadline passed, or enough was collected: walkers hand in what they have
    mail: ctypes.c_int  # a worker sent a message: the collecting process should look
    seen: ctypes.Array[ctypes.c_longlong]  # per worker: walk entries so far (for progress)
    room: ctypes.Array[ctypes.c_longlong]  # per worker: language packages its part may still add
    read: ctypes.Array[ctypes.c_longlong]  # per worker: bytes read so far

    @classmethod
    def create(cls, ctx: BaseContext, workers: int) -> _Shared:
        def flag() -> ctypes.c_int:
            return ctx.RawValue(ctypes.c_int, 0)

        def counters() -> ctypes.Array[ctypes.c_longlong]:
            return ctx.RawArray(ctypes.c_longlong, workers)

        return cls(flag(), flag(), flag(), counters(), counters(), counters())


@dataclass
class _Part:
    """A part being walked, and what it gave away."""

    key: Key
    split: WalkSplit = field(default_factory=WalkSplit)
    gifts: int = 0

    def give_away(self, give: Give) -> None:
        """The bottom half of the walk's pending stack, to be walked elsewhere."""
        if self.split.pending() >= 2:
            self.gifts += 1
            taken = self.split.take(self.split.pending() // 2)
            give([((*self.key, -self.gifts, j), path) for j, path in enumerate(taken)])


def walk_part(
    walker: Walker,
    part: _Part,
    top: str,
    *,
    give: Give,
    hungry: Callable[[], bool],
    go_on: Callable[[int, int], bool],
) -> Unit:
    """Walk one part; while some walker is idle, give work away."""

    def check(seen: int, packages: int) -> bool:
        if not go_on(seen, packages):
            return False
        if hungry():
            part.give_away(give)
        return True

    return walker.walk(part.key, top, check, part.split)


def _work(walker: Walker, conn: Connection, shared: _Shared, slot: int, deadline: float) -> None:
    """A worker process: walk the parts it is handed until told to end (None) or its parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the collecting process's to handle
    parent = os.getppid()
    walked = 0
    inherited = walker.fs.bytes_read()  # what the collecting process had read when it forked this one

    def send(message: tuple[str, object]) -> None:
        conn.send(message)
        shared.mail.value = 1

    def go_on(seen: int, packages: int) -> bool:
        shared.seen[slot] = walked + seen
        shared.read[slot] = walker.fs.bytes_read() - inherited
        return (
            not shared.stop.value
            and packages < shared.room[slot]
            and time.monotonic() < deadline
            and os.getppid() == parent
        )

    try:
        while (task := conn.recv()) is not None:
            key, top = task
            unit = walk_part(
                walker, _Part(key), top, give=lambda parts: send(("gift", parts)),
                hungry=lambda: bool(shared.hungry.value), go_on=go_on,
            )  # fmt: skip
            walked += unit.files_seen
            shared.read[slot] = walker.fs.bytes_read() - inherited
            send(("unit", unit))
    except (EOFError, OSError):
        return  # the collecting process is gone: nobody to hand anything to
    except BaseException:
        try:
            send(("failed", traceback.format_exc()))
        except OSError:
            pass


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    task: Key | None = None


@dataclass
class ParallelWalk:
    """The collecting process's side: it walks too, hands parts out, and keeps every part's `Unit`.

    `room(units)` says how many language packages may still be kept after the exact paths and these first
    units in walk order: the part that comes next stops there, and at 0 nothing after them is walked.
    """

    walker: Walker
    roots: Sequence[str]
    workers: int
    fork_after: int
    deadline: float
    room: Callable[[Sequence[Unit]], int]
    progress: Callable[[int, int], None] | None = None
    units: dict[Key, Unit] = field(default_factory=dict)
    timed_out: bool = False
    lost: str | None = None  # why a worker was lost: the caller walks again alone
    bytes_elsewhere: int = 0  # read by the workers (parts left unfinished at a stop included)
    _other_work: Callable[[Callable[[], None]], None] | None = None
    _pending: list[tuple[Key, str]] = field(default_factory=list)
    _pool: list[_Worker] = field(default_factory=list)
    _shared: _Shared | None = None
    _part: _Part | None = None  # the part this process is walking
    _my_room: int = 0
    _idle: bool = False
    _quiet: int = 0  # looks at the workers that found no message announced
    _walked: int = 0  # entries this process walked in finished parts
    _stop: bool = False
    _entered: dict[int, set[tuple[int, int]]] = field(default_factory=lambda: defaultdict(set))
    _entered_count: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def run(self, other_work: Callable[[Callable[[], None]], None]) -> None:
        """Walk every root. `other_work(service)` (reading the exact paths) is done as soon as workers walk,
        or at the end on a small tree; it calls `service` between files, so that no worker waits on it."""
        self._other_work = other_work
        self._pending = [((r,), root) for r, root in enumerate(self.roots)]
        self._my_room = self.walker.max_language_packages
        try:
            while not self._stopped():
                if self._pending:
                    key, top = heapq.heappop(self._pending)
                    self._walk_here(key, top)
                elif self._other_work is not None:
                    self._do_other_work()
                elif self._busy():
                    self._set_idle(True)
                    self._service(timeout=0.2)
                    self._set_idle(False)
                else:
                    break
            if self.timed_out:
                until = time.monotonic() + GRACE_SECONDS
                while self._busy() and time.monotonic() < until:  # busy workers stop at their next entry
                    self._service(timeout=until - time.monotonic())
        finally:
            self.close()

    def _do_other_work(self) -> None:
        work, self._other_work = self._other_work, None
        if work is not None:
            work(self._service_and_give)
            self._update_rooms()

    # -- this process's own walking -------------------------------------------------------------------
    def _walk_here(self, key: Key, top: str) -> None:
        base = self._walked

        def go_on(seen: int, packages: int) -> bool:
            if self._pool:
                self._service()
            elif base + seen >= self.fork_after:
                self._start_pool()
                self._do_other_work()
            if self.progress is not None and seen % _PROGRESS_EVERY == 0:
                self._report(base + seen)
            return not self._stopped() and packages < self._my_room

        self._part = _Part(key)
        self._my_room = self.walker.max_language_packages
        self._update_rooms()
        unit = walk_part(self.walker, self._part, top, give=self._give, hungry=self._hungry, go_on=go_on)
        self._part = None
        self._walked += unit.files_seen
        self._keep(unit)
        self._update_rooms()

    def _service_and_give(self) -> None:
        self._service()
        if self._part is not None and self._hungry():
            self._part.give_away(self._give)

    def _hungry(self) -> bool:
        return not self._pending and (self._idle or any(w.task is None for w in self._pool))

    def _busy(self) -> bool:
        return any(w.task is not None for w in self._pool)

    def _set_idle(self, idle: bool) -> None:
        self._idle = idle
        if self._shared is not None:
            self._shared.hungry.value = int(self._hungry())

    def _give(self, parts: list[tuple[Key, str]]) -> None:
        for part in parts:
            heapq.heappush(self._pending, part)
        self._assign()

    def _keep(self, unit: Unit) -> None:
        self.units[unit.key] = unit
        self._entered[unit.key[0]] |= unit.entered
        self._entered_count[unit.key[0]] += len(unit.entered)

    # -- the workers --------------------------------------------------------------------------------
    def _start_pool(self) -> None:
        # fork is fast and pickles nothing, but forking a process that runs other threads can leave the
        # child blocked on a lock one of them held (a progress display, a server's threads): then a fork
        # server, a fresh single-threaded process, forks the workers
        if threading.active_count() == 1:
            ctx: ForkContext | ForkServerContext = multiprocessing.get_context("fork")
        else:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(sorted({type(e).__module__ for e in self.walker.extractors}))
        children = self.workers - 1
        self._shared = _Shared.create(ctx, children)
        try:
            for slot in range(children):
                here, there = ctx.Pipe()
                process = ctx.Process(
                    target=_work,
                    args=(self.walker, there, self._shared, slot, self.deadline),
                    daemon=True,
                    name=f"vigil-walk-{slot}",
                )
                self._pool.append(_Worker(process, here))
                process.start()
                there.close()
        except OSError as exc:
            self._lose(f"a collection worker could not start: {exc}")
            return
        self._assign()

    def _assign(self) -> None:
        """Hand waiting parts to idle workers, in walk order; tell walkers whether anyone is left idle."""
        for slot, worker in enumerate(self._pool):
            if worker.task is None and self._pending:
                key, top = heapq.heappop(self._pending)
                assert self._shared is not None
                self._shared.room[slot] = self.walker.max_language_packages
                worker.conn.send((key, top))
                worker.task = key
        if self._shared is not None:
            self._shared.hungry.value = int(self._hungry())
        self._update_rooms()

    def _service(self, timeout: float = 0.0) -> None:
        """Read what the workers sent (gifts, finished parts); a worker gone without a word is lost.

        Without a wait, cheap unless a worker announced a message (or every `_SERVICE_EVERY` calls, to
        notice a worker that ended silently)."""
        if self._shared is None or self.lost is not None:
            return None
        if not timeout and not self._shared.mail.value:
            self._quiet += 1
            if self._quiet % _SERVICE_EVERY:
                return None
        self._shared.mail.value = 0
        ready = wait([w.conn for w in self._pool] + [w.process.sentinel for w in self._pool], max(timeout, 0))
        for worker in self._pool:
            while worker.conn in ready and worker.conn.poll():
                try:
                    kind, payload = worker.conn.recv()
                except (EOFError, OSError):
                    return self._lose(self._ended(worker))
                if kind == "gift":
                    self._give(payload)
                elif kind == "unit":
                    worker.task = None
                    self._keep(payload)
                    self._assign()
                else:
                    raise RuntimeError(f"a collection worker failed:\n{payload}")
            if worker.process.sentinel in ready and not worker.conn.poll():
                return self._lose(self._ended(worker))
        if timeout and self.progress is not None:
            self._report(self._walked)
        return None

    def _ended(self, worker: _Worker) -> str:
        worker.process.join(1)
        return f"a collection worker (pid {worker.process.pid}) ended with code {worker.process.exitcode}"

    def _lose(self, why: str) -> None:
        """A part may be missing: stop, and let the caller walk again alone."""
        self.lost = why
        self._halt()

    def _report(self, walked: int) -> None:
        assert self.progress is not None
        others = sum(self._shared.seen) if self._shared is not None else 0
        self.progress(walked + others, sum(u.language_packages for u in self.units.values()))

    # -- when to stop ---------------------------------------------------------------------------------
    def _update_rooms(self) -> None:
        """Give the first part still walking the room the units before it leave; none left: stop."""
        if self._other_work is not None or self._stop or self._reached_twice():
            return  # the exact paths' share is not known yet, or the replay walks a root again
        waiting: list[tuple[Key, int | None]] = [(key, None) for key, _ in self._pending]
        waiting += [(w.task, slot) for slot, w in enumerate(self._pool) if w.task is not None]
        if self._part is not None:
            waiting.append((self._part.key, -1))
        first = min(waiting, default=None)
        prefix = [unit for key, unit in sorted(self.units.items()) if first is None or key < first[0]]
        room = self.room(prefix)
        if room <= 0:
            self._halt()
        elif first is not None and first[1] == -1:
            self._my_room = room
        elif first is not None and first[1] is not None and self._shared is not None:
            self._shared.room[first[1]] = room

    def _reached_twice(self) -> bool:
        """A directory two parts of one root both entered (a bind mount): no early stop, the replay walks
        that root again alone."""
        return any(len(self._entered[r]) < count for r, count in self._entered_count.items())

    def _stopped(self) -> bool:
        if not self._stop and time.monotonic() >= self.deadline:
            self.timed_out = True
            self._halt()
        return self._stop

    def _halt(self) -> None:
        self._stop = True
        self._pending.clear()
        if self._shared is not None:
            self._shared.stop.value = 1

    def close(self) -> None:
        """End every worker: by a word when idle, by a signal otherwise; none is left behind."""
        if self._shared is not None:
            self.bytes_elsewhere = sum(self._shared.read)
        for worker in self._pool:
            try:
                if worker.task is None:
                    worker.conn.send(None)
            except OSError:
                pass
        for worker in self._pool:
            if worker.process.pid is not None:  # started
                worker.process.join(0.5 if worker.task is None else 0)
                if worker.process.is_alive():
                    worker.process.terminate()
                    worker.process.join(1)
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join()
            worker.conn.close()
        self._pool.clear()
