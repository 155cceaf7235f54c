"""The REST call queue: priority classes, headroom, one signed call at a time (pure)."""

from __future__ import annotations

import pytest

from galfriday.kraken.ratelimit import TIERS, CallCounter, CallQueue, Priority, default_priority


def _queue(filled: float = 0.0) -> CallQueue:
    counter = CallCounter(TIERS["intermediate"])  # maximum 20, margin 2, decay 0.5/s
    counter.carry_over(filled, 0.0, 0.0)
    return CallQueue(counter)


def test_methods_fall_into_their_default_class() -> None:
    assert default_priority("AddOrder") is Priority.ORDER
    assert default_priority("CancelOrder") is Priority.ORDER
    assert default_priority("GetWebSocketsToken") is Priority.RECOVERY
    assert default_priority("TradesHistory") is Priority.BACKGROUND


def test_a_call_is_granted_at_once_when_the_counter_has_room() -> None:
    queue = _queue()
    ticket = queue.enqueue("Balance", Priority.BACKGROUND)
    assert queue.pump(0.0) is None
    assert ticket.granted
    assert queue.counter.value(0.0) == pytest.approx(1.0)


def test_only_one_signed_call_is_in_flight() -> None:
    queue = _queue()
    first = queue.enqueue("Balance", Priority.BACKGROUND)
    second = queue.enqueue("Balance", Priority.BACKGROUND)
    queue.pump(0.0)
    assert queue.pump(0.0) is None and not second.granted
    queue.done(first)
    queue.pump(0.0)
    assert second.granted


def test_the_token_goes_before_queued_background_calls() -> None:
    queue = _queue()
    background = [queue.enqueue("TradesHistory", Priority.BACKGROUND) for _ in range(5)]
    token = queue.enqueue("GetWebSocketsToken", Priority.RECOVERY)
    queue.pump(0.0)
    assert token.granted and not any(t.granted for t in background)


def test_background_calls_leave_headroom_for_the_token() -> None:
    queue = _queue(filled=14.5)  # background may fill to 20 - 2 - 3 = 15
    ledgers = queue.enqueue("Ledgers", Priority.BACKGROUND)  # costs 2: would reach 16.5
    assert queue.pump(0.0) == pytest.approx(3.0)  # (16.5 - 15) / 0.5
    token = queue.enqueue("GetWebSocketsToken", Priority.RECOVERY)
    assert queue.pump(0.0) is None
    assert token.granted and not ledgers.granted


def test_a_waiting_higher_class_is_never_overtaken_by_a_lower_one() -> None:
    queue = _queue(filled=17.5)  # the token needs 18.5 <= 18: waits 1 s
    token = queue.enqueue("GetWebSocketsToken", Priority.RECOVERY)
    assert queue.pump(0.0) == pytest.approx(1.0)
    cheap = queue.enqueue("Balance", Priority.BACKFILL)
    assert queue.pump(0.5) == pytest.approx(1.0)
    assert not cheap.granted
    queue.pump(1.0)
    assert token.granted and not cheap.granted


def test_orders_cost_nothing_and_pass_every_waiting_class() -> None:
    queue = _queue(filled=18.0)
    token = queue.enqueue("GetWebSocketsToken", Priority.RECOVERY)
    assert queue.pump(0.0) is not None
    order = queue.enqueue("AddOrder", Priority.ORDER)
    assert queue.pump(0.0) is None
    assert order.granted and not token.granted
    assert queue.counter.value(0.0) == pytest.approx(18.0)


def test_a_cost_is_counted_when_granted_not_when_queued() -> None:
    queue = _queue()
    for _ in range(10):
        queue.enqueue("TradesHistory", Priority.BACKGROUND)
    assert queue.counter.value(0.0) == pytest.approx(0.0)
    token = queue.enqueue("GetWebSocketsToken", Priority.RECOVERY)
    queue.pump(0.0)
    assert token.granted
    assert queue.counter.value(0.0) == pytest.approx(1.0)


def test_a_cancelled_call_leaves_the_queue_and_hands_its_turn_back() -> None:
    queue = _queue()
    first = queue.enqueue("Balance", Priority.BACKGROUND)
    second = queue.enqueue("Balance", Priority.BACKGROUND)
    third = queue.enqueue("Balance", Priority.BACKGROUND)
    queue.pump(0.0)
    queue.cancel(second)
    queue.cancel(first)  # granted, then cancelled: the turn is free again
    queue.pump(0.0)
    assert third.granted and queue.waiting() == 0


def test_an_unlimited_queue_grants_without_counting() -> None:
    queue = _queue(filled=30.0)
    queue.limited = False
    ticket = queue.enqueue("Ledgers", Priority.BACKGROUND)
    queue.pump(0.0)
    assert ticket.granted
