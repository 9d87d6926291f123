"""Backoff: doubling from the base to the cap, jittered within [half the ceiling, the ceiling]."""

from __future__ import annotations

import pytest

from vigil.agent.backoff import Backoff


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999999])
def test_delays_double_within_their_jitter_bounds_up_to_the_cap(draw):
    backoff = Backoff(base=1.0, cap=300.0, random=lambda: draw)
    delays = [backoff.next_delay() for _ in range(15)]
    ceilings = [min(300.0, 2.0**n) for n in range(15)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert max(1.0, ceiling / 2) <= delay <= ceiling
    assert delays[-1] >= 150.0 and max(delays) <= 300.0


def test_the_jitter_spreads_agents_over_the_whole_interval():
    low = Backoff(random=lambda: 0.0)
    high = Backoff(random=lambda: 1.0)
    for _ in range(5):
        low_delay, high_delay = low.next_delay(), high.next_delay()
    assert (low_delay, high_delay) == (8.0, 16.0)


def test_a_success_starts_again_from_the_base():
    backoff = Backoff(random=lambda: 1.0)
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_a_thousand_failures_stay_at_the_cap():
    backoff = Backoff(random=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(1000)][-1] == 300.0
