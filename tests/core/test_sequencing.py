from __future__ import annotations

import gc
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galfriday.core.sequencing import MessageCache, SequenceTracker, Verdict


def _verdicts(tracker: SequenceTracker, numbers: list[int]) -> list[Verdict]:
    return [tracker.observe(n).verdict for n in numbers]


def test_in_order_stream_is_accepted() -> None:
    assert _verdicts(SequenceTracker(), [8, 9, 10]) == [
        Verdict.FIRST,
        Verdict.IN_ORDER,
        Verdict.IN_ORDER,
    ]


def test_gap_reports_the_missing_range_once() -> None:
    tracker = SequenceTracker()
    tracker.observe(1)
    result = tracker.observe(5)
    assert result.verdict is Verdict.GAP and result.missing == (2, 4)
    assert tracker.observe(6).verdict is Verdict.IN_ORDER
    assert tracker.gaps == 1


def test_late_message_fills_its_gap_once_then_is_a_duplicate() -> None:
    tracker = SequenceTracker()
    _verdicts(tracker, [1, 3])
    assert tracker.observe(2).verdict is Verdict.LATE
    assert tracker.observe(2).verdict is Verdict.DUPLICATE
    assert tracker.missing == 0


def test_duplicate_and_old_numbers_are_rejected() -> None:
    tracker = SequenceTracker()
    assert _verdicts(tracker, [1, 2, 2, 1]) == [
        Verdict.FIRST,
        Verdict.IN_ORDER,
        Verdict.DUPLICATE,
        Verdict.DUPLICATE,
    ]
    assert tracker.duplicates == 2


def test_reset_on_snapshot_accepts_a_restarted_numbering() -> None:
    tracker = SequenceTracker()
    _verdicts(tracker, [40, 41])
    tracker.reset()
    assert tracker.observe(1).verdict is Verdict.FIRST
    assert tracker.expected == 2


def test_missing_numbers_are_bounded() -> None:
    tracker = SequenceTracker(max_missing=100)
    tracker.observe(0)
    result = tracker.observe(1_000_000_000)
    assert result.missing == (1, 999_999_999)
    assert tracker.missing == 100
    assert tracker.observe(5).verdict is Verdict.DUPLICATE  # forgotten: too late to fill


@pytest.mark.slow
@settings(max_examples=300)
@given(
    st.integers(0, 1000),
    st.lists(st.sampled_from(["keep", "drop", "dup", "swap"]), min_size=1, max_size=80),
)
def test_reorder_duplicate_and_drop_are_all_accounted_for(start: int, plan: list[str]) -> None:
    sent = list(range(start, start + len(plan)))
    stream: list[int] = []
    for number, action in zip(sent, plan, strict=True):
        if action == "drop":
            continue
        stream.append(number)
        if action == "dup":
            stream.append(number)
        if action == "swap" and len(stream) >= 2:
            stream[-1], stream[-2] = stream[-2], stream[-1]
    tracker = SequenceTracker()
    accepted: list[int] = []
    reported: list[int] = []
    for number in stream:
        result = tracker.observe(number)
        if result.verdict.accepted:
            accepted.append(number)
        if result.missing:
            reported.extend(range(result.missing[0], result.missing[1] + 1))
    # No number passes twice; every reported number is reported once.
    assert len(accepted) == len(set(accepted))
    assert len(reported) == len(set(reported))
    if not stream:
        return
    first = stream[0]
    delivered = set(stream)
    # Every number after the first that never arrived was reported missing exactly once.
    never = {n for n in sent if n > first and n <= max(stream) and n not in delivered}
    assert never <= set(reported)
    # Every delivered number at or after the first was accepted once.
    assert {n for n in delivered if n >= first} == set(accepted)


def test_cache_detects_a_repeat_within_the_ttl() -> None:
    cache = MessageCache(ttl=60.0, max_size=10)
    assert cache.seen("E1", now=0.0) is False
    assert cache.seen("E1", now=59.0) is True


def test_cache_forgets_after_the_ttl_in_frame_time() -> None:
    cache = MessageCache(ttl=60.0, max_size=10)
    cache.seen("E1", now=0.0)
    assert cache.seen("E1", now=61.0) is False


def test_cache_size_is_hard_bounded_oldest_first() -> None:
    cache = MessageCache(ttl=1e9, max_size=3)
    for i in range(5):
        cache.seen(i, now=float(i))
    assert len(cache) == 3 and 0 not in cache and 4 in cache


class _Key:
    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        return self.n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and other.n == self.n


def test_evicted_keys_really_leave_memory() -> None:
    cache = MessageCache(ttl=10.0, max_size=2)
    first, second = _Key(1), _Key(2)
    refs = [weakref.ref(first), weakref.ref(second)]
    cache.seen(first, now=0.0)
    cache.seen(second, now=0.0)
    del first, second
    cache.seen(_Key(3), now=1.0)  # evicts key 1 by size
    cache.seen(_Key(4), now=20.0)  # expires key 2 (and 3) by time
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_cache_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError):
        MessageCache(ttl=0, max_size=1)
