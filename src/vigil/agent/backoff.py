"""Exponential backoff with jitter, for the retries of an unreachable or failing server."""

from __future__ import annotations

import random as _random
from collections.abc import Callable


class Backoff:
    """Delays that double from `base` up to `cap`, each drawn between half its ceiling (at least `base`)
    and its ceiling, so that a fleet of agents cut off together do not come back together. `reset()` after
    a success."""

    def __init__(
        self, base: float = 1.0, cap: float = 300.0, random: Callable[[], float] = _random.random
    ) -> None:
        if not 0 < base <= cap:
            raise ValueError("backoff: 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.random = random
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt, after one more failure."""
        ceiling = min(self.cap, self.base * 2.0 ** min(self.failures, 64))
        self.failures += 1
        low = max(self.base, ceiling / 2)
        return low + self.random() * (ceiling - low)

    def reset(self) -> None:
        self.failures = 0
