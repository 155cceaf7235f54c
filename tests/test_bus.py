from __future__ import annotations

from decimal import Decimal

import pytest
import trio
import trio.testing

from galfriday.bus import Bus, SubscriberTooSlow
from galfriday.events import Alert, Severity, TradePrint


def _trade(n: int) -> TradePrint:
    return TradePrint(symbol="BTC/USD", side="buy", price=Decimal(1), qty=Decimal(1), trade_id=n)


def _alert() -> Alert:
    return Alert(severity=Severity.LOW, source="test", message="hi")


async def test_subscribers_get_only_the_types_they_asked_for() -> None:
    bus = Bus()
    trades, everything = bus.subscribe(TradePrint), bus.subscribe()
    bus.publish(_alert())
    bus.publish(_trade(1))
    assert trades.receive_nowait() == _trade(1) and len(trades) == 0
    assert [everything.receive_nowait(), everything.receive_nowait()] == [_alert(), _trade(1)]


async def test_publish_never_blocks_and_drop_oldest_counts_overruns() -> None:
    bus = Bus()
    sub = bus.subscribe(TradePrint, capacity=3)
    for n in range(10):
        bus.publish(_trade(n))
    assert sub.overruns == 7
    assert [sub.receive_nowait().trade_id for _ in range(3)] == [7, 8, 9]  # type: ignore[attr-defined]


async def test_disconnect_policy_closes_a_slow_subscriber_after_its_buffer() -> None:
    bus = Bus()
    sub = bus.subscribe(TradePrint, capacity=2, policy="disconnect")
    for n in range(3):
        bus.publish(_trade(n))
    assert bus.subscribers == 0
    assert [(await sub.receive()).trade_id for _ in range(2)] == [0, 1]  # type: ignore[attr-defined]
    with pytest.raises(SubscriberTooSlow):
        await sub.receive()


async def test_receive_waits_for_the_next_event(autojump_clock: trio.testing.MockClock) -> None:
    bus = Bus()
    sub = bus.subscribe()
    got: list[object] = []

    async def consume() -> None:
        async with sub:
            async for event in sub:
                got.append(event)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.sleep(1)
        bus.publish(_alert())
        await trio.sleep(1)
        sub.close()
    assert got == [_alert()]


async def test_leaving_the_context_unsubscribes() -> None:
    bus = Bus()
    async with bus.subscribe() as sub:
        assert bus.subscribers == 1
    assert bus.subscribers == 0 and sub.closed
    bus.publish(_alert())
    assert len(sub) == 0


def test_wanted_says_whether_anyone_would_receive_an_event_of_a_kind() -> None:
    bus = Bus()
    assert not bus.wanted(Alert)
    trades = bus.subscribe(TradePrint)
    assert bus.wanted(TradePrint) and not bus.wanted(Alert)
    everything = bus.subscribe()
    assert bus.wanted(Alert)
    everything.close()
    trades.close()
    assert not bus.wanted(TradePrint)


async def test_wanted_follows_subscribing_and_leaving() -> None:
    bus = Bus()
    assert not bus.wanted(TradePrint)  # asked once: the answer is kept...
    async with bus.subscribe(TradePrint):
        assert bus.wanted(TradePrint) and not bus.wanted(Alert)  # ...until someone subscribes
        async with bus.subscribe():
            assert bus.wanted(Alert)  # a subscriber to everything wants every type
        assert not bus.wanted(Alert)  # and until someone leaves
    assert not bus.wanted(TradePrint)
