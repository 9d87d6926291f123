"""Time, injected: every rule of the fleet service that depends on time (stale inventories, 7-day reopening,
purges, schedules) reads it from a `Clock`, so tests move time instead of sleeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]  # aware UTC datetimes


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


__all__ = ["Clock", "system_clock"]
