from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from galfriday.core.reconnect import BackoffPolicy, ReconnectPlanner


def _planner(**policy: float) -> ReconnectPlanner:
    return ReconnectPlanner(BackoffPolicy(**policy), random.Random(1))  # type: ignore[arg-type]


def test_first_reconnect_is_immediate_then_backoff_grows_to_the_cap() -> None:
    planner = _planner(base=0.5, cap=30)
    assert planner.delay(0.0) == 0.0
    ceilings = []
    for n in range(10):
        planner.record_lost(float(n))
        ceilings.append(max(planner.delay(float(n)) for _ in range(200)))
    assert ceilings[0] <= 1.0 and ceilings[3] <= 8.0
    assert 25 < ceilings[-1] <= 30


def test_jitter_is_full_between_zero_and_the_ceiling() -> None:
    planner = _planner(base=1, cap=100)
    for _ in range(4):
        planner.record_lost(0.0)
    delays = [planner.delay(0.0) for _ in range(2000)]
    assert min(delays) < 1 and 15 < max(delays) <= 16


def test_a_stable_connection_resets_the_backoff() -> None:
    planner = _planner(stable_after=60)
    for _ in range(5):
        planner.record_lost(0.0)
    planner.record_connected(100.0)
    planner.record_lost(161.0)
    assert planner.failures == 0 and planner.delay(161.0) == 0.0


def test_a_short_lived_connection_keeps_counting() -> None:
    planner = _planner(stable_after=60)
    planner.record_lost(0.0)
    planner.record_connected(1.0)
    planner.record_lost(2.0)
    assert planner.failures == 2


def test_maintenance_spaces_attempts_at_least_five_seconds() -> None:
    planner = _planner()
    planner.record_attempt(100.0)
    assert planner.delay(101.0, maintenance=True) >= 4.0
    assert planner.delay(101.0, maintenance=False) == 0.0


@settings(max_examples=50)
@given(st.lists(st.floats(0, 5), min_size=1, max_size=400), st.booleans())
def test_never_more_than_150_attempts_in_any_ten_minutes(
    pauses: list[float], maintenance: bool
) -> None:
    planner = _planner(base=0.0001, cap=0.001)
    now = 0.0
    attempts = []
    for pause in pauses:
        now += planner.delay(now, maintenance)
        planner.record_attempt(now)
        attempts.append(now)
        planner.record_lost(now)
        now += pause * 0.01
    for i, start in enumerate(attempts):
        in_window = [t for t in attempts[i:] if t < start + 600]
        assert len(in_window) <= 150
