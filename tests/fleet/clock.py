"""The fleet tests' injected clock: it moves only when a test sets `clock.now`."""

from __future__ import annotations

import datetime as dt

START = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now
