"""The agent's two kinds of inventory, and the collection configuration the server's heartbeat gives.

"os" is the inventory association's: the OS packages alone, read from the package databases without a
walk. "full" is deep inspection's: the OS packages and the language packages under Inspector's default
paths and the custom ones, within Inspector's limits. One process: the agent must stay light.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.agent import protocol
from vigil.agent.state import StoredInventory

DEFAULT_OS_EVERY = 30 * 60
DEFAULT_FULL_EVERY = 6 * 3600
MIN_OS_EVERY = 60  # a floor against a broken answer; the server enforces its own minimums
MIN_FULL_EVERY = 30 * 60  # deep inspection is never more frequent (DESIGN §3.2)
MAX_LANGUAGE_PACKAGES = 5000
COLLECTION_SECONDS = 15 * 60

log = logging.getLogger("vigil.agent")


class Interrupted(Exception):
    """The agent is stopping: the collection was abandoned."""


@dataclass(frozen=True, slots=True)
class CollectionConfig:
    """What to collect and how often (seconds); None: that kind is not collected."""

    os_every: int | None = DEFAULT_OS_EVERY
    full_every: int | None = DEFAULT_FULL_EVERY
    paths: tuple[str, ...] = ()

    def every(self, kind: str) -> int | None:
        return self.os_every if kind == protocol.OS_KIND else self.full_every

    @classmethod
    def from_heartbeat(cls, collect: Any) -> CollectionConfig:
        """The heartbeat's `collect` member (ValueError when it is not one)."""
        if not isinstance(collect, dict):
            raise ValueError("collect: not an object")
        os_every = _every(collect.get("os"), "os", MIN_OS_EVERY)
        full = collect.get("full")
        full_every = _every(full, "full", MIN_FULL_EVERY)
        paths: tuple[str, ...] = ()
        if isinstance(full, dict):
            given = full.get("paths") or []
            if not isinstance(given, list) or not all(isinstance(p, str) for p in given):
                raise ValueError("collect.full.paths: not a list of paths")
            paths = tuple(given)
        return cls(os_every, full_every, paths)


def _every(entry: Any, name: str, floor: int) -> int | None:
    if entry is None:
        return None
    every = entry.get("every") if isinstance(entry, dict) else None
    if not isinstance(every, int | float) or isinstance(every, bool) or every <= 0:
        raise ValueError(f"collect.{name}.every: not a number of seconds")
    return max(floor, int(every))


class InventoryCollector:
    """Collects the inventory of one kind from `root` (`/` is this host)."""

    def __init__(self, root: str = "/") -> None:
        self.root = root

    def collect(
        self, kind: str, paths: Sequence[str] = (), should_stop: Callable[[], bool] = lambda: False
    ) -> StoredInventory:
        """FSError, ValueError when the root is unreadable; `Interrupted` when `should_stop()` turned true."""
        from vigil.inventory.collect import Limits
        from vigil.inventory.targets import take_inventory

        def progress(_files: int, _packages: int) -> None:
            if should_stop():
                raise Interrupted

        limits = Limits(
            max_language_packages=MAX_LANGUAGE_PACKAGES, collection_seconds=COLLECTION_SECONDS, workers=1
        )
        inventory = take_inventory(
            [self.root],
            os_only=kind == protocol.OS_KIND,
            scope="default",
            custom_paths=_usable(paths) if kind == protocol.FULL_KIND else (),
            limits=limits,
            progress=progress,
        )
        return StoredInventory(kind, inventory.content_hash, inventory.to_json())


def _usable(paths: Sequence[str]) -> tuple[str, ...]:
    """The custom paths a collection can take; the others are logged and left out."""
    from vigil.inventory.collect import MAX_CUSTOM_PATH_LENGTH, MAX_CUSTOM_PATHS

    usable = []
    for path in paths:
        if path.startswith("/") and len(path) <= MAX_CUSTOM_PATH_LENGTH:
            usable.append(path)
        else:
            log.warning("deep inspection: custom path %r left out (absolute, at most 256 characters)", path)
    if len(usable) > MAX_CUSTOM_PATHS:
        log.warning("deep inspection: only the first %d custom paths are scanned", MAX_CUSTOM_PATHS)
    return tuple(usable[:MAX_CUSTOM_PATHS])
