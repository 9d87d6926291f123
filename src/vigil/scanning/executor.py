"""Executors run the fleet's tasks (`vigil.scanning.tasks.TASKS`) by name with JSON-serialisable
arguments: in the caller's thread (`InlineExecutor`: tests, one-off commands) or in a pool of threads
(`ThreadExecutor`: the server). A task engine (Celery) fits the same `Executor` protocol later. The same
task with the same arguments is not run twice at once; a task that fails is logged and kept in `failures`,
never dropped silently."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.scanning.services import FleetServices
from vigil.scanning.tasks import TASKS

log = logging.getLogger("vigil.scanning")


class Executor(Protocol):
    def submit(self, task: str, /, **arguments: Any) -> bool:
        """Run `task` with these arguments; False when the same one is already queued or running."""
        ...

    def shutdown(self, *, wait: bool = True) -> None: ...


@dataclass(frozen=True, slots=True)
class Failure:
    task: str
    arguments: dict[str, Any]
    error: str


def task_key(task: str, arguments: dict[str, Any]) -> str:
    """The task and its arguments as one string: a task that is not registered, or arguments that would
    not cross a process boundary, are refused here rather than in another process."""
    if task not in TASKS:
        raise KeyError(f"no task {task!r} (known: {', '.join(sorted(TASKS))})")
    try:
        return task + json.dumps(arguments, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"task {task}: arguments must be JSON values: {exc}") from None


class _Runs:
    """What the executors share: running a task, keeping its result or its failure."""

    def __init__(self, services: FleetServices, keep: int) -> None:
        self.services = services
        self.failures: deque[Failure] = deque(maxlen=keep)
        self.results: deque[tuple[str, Any]] = deque(maxlen=keep)

    def run(self, task: str, arguments: dict[str, Any]) -> None:
        try:
            self.results.append((task, TASKS[task](self.services, **arguments)))
        except Exception as exc:
            log.exception("task %s(%s) failed", task, arguments)
            self.failures.append(Failure(task, arguments, f"{type(exc).__name__}: {exc}"))


class InlineExecutor(_Runs):
    """Runs each task at once, in the caller's thread."""

    def __init__(self, services: FleetServices, keep: int = 1000) -> None:
        super().__init__(services, keep)

    def submit(self, task: str, /, **arguments: Any) -> bool:
        task_key(task, arguments)
        self.run(task, arguments)
        return True

    def shutdown(self, *, wait: bool = True) -> None:
        """Nothing runs in the background."""


class ThreadExecutor(_Runs):
    """Runs tasks in a pool of `workers` threads."""

    def __init__(self, services: FleetServices, workers: int = 2, keep: int = 100) -> None:
        super().__init__(services, keep)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vigil-task")
        self._inflight: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, task: str, /, **arguments: Any) -> bool:
        key = task_key(task, arguments)
        with self._lock:
            if key in self._inflight:
                return False
            self._inflight.add(key)
        try:
            self._pool.submit(self._run, key, task, arguments)
        except RuntimeError:  # shut down
            with self._lock:
                self._inflight.discard(key)
            return False
        return True

    def _run(self, key: str, task: str, arguments: dict[str, Any]) -> None:
        try:
            self.run(task, arguments)
        finally:
            with self._lock:
                self._inflight.discard(key)

    def pending(self) -> int:
        with self._lock:
            return len(self._inflight)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking tasks; queued ones are dropped (their scans stay queued and end as interrupted at
        the next start), running ones finish (`wait`) or are left to end by themselves."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
