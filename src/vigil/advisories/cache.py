"""A bounded LRU map shared by threads, whose entries belong to one generation of the database.

A value is read from the database at some generation; when a writer commits, the reader moves to the next
generation and drops everything. A value read before that commit but stored after it would otherwise
outlive the change, so `put` keeps a value only when it was read at the map's current generation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class GenerationLru(Generic[K, V]):
    """At most `size` values, least recently used dropped first; all dropped when the generation moves."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        # no lock on the hot path: each OrderedDict call is atomic, and a key evicted in between is a miss
        value = self._items.get(key)
        if value is not None:
            try:
                self._items.move_to_end(key)
            except KeyError:
                return None
        return value

    def put(self, key: K, value: V, generation: int) -> None:
        """Keep `value`, read at `generation`, unless the database has moved on since."""
        with self._lock:
            if generation != self._generation:
                return
            self._items[key] = value
            if len(self._items) > self._size:
                self._items.popitem(last=False)

    def advance(self, generation: int) -> None:
        """The database is at `generation` now: every value read before is stale."""
        with self._lock:
            if generation != self._generation:
                self._generation = generation
                self._items.clear()
