"""``OrderGateway.amend`` against the embedded simulator: in place, refused, unanswered."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from galfriday.errors import InvalidRequest, OrderRejected, RequestUnanswered
from galfriday.events import OrderStatus, OrderUpdate, OrderView
from galfriday.live.engine import Engine, open_engine
from galfriday.live.gateway import OrderGateway
from galfriday.sim.embedded import engine_config_for, open_embedded
from galfriday.sim.exchange import Amended, AmendRequest
from galfriday.sim.server import Simulator

D = Decimal
SYMBOL = "BTC/USD"


@asynccontextmanager
async def _running(db: Path) -> AsyncIterator[tuple[Simulator, Engine, OrderGateway]]:
    async with (
        open_embedded(seed=7) as (sim, urls),
        open_engine(engine_config_for(urls, db)) as engine,
    ):
        assert engine.gateway is not None
        yield sim, engine, engine.gateway


def _far_bid(sim: Simulator) -> Decimal:
    """A bid far enough below the market that nothing fills it during a test."""
    book = sim.exchange.books[SYMBOL]
    return book.spec.price((book.best("bids") or 0) - 5_000)


async def _tracked(engine: Engine, order_id: str, done: Callable[[OrderView], bool]) -> OrderView:
    """The tracker's order once ``done`` says so (woken by each order update)."""
    assert engine.account is not None
    with trio.fail_after(30):
        async with engine.bus.subscribe(OrderUpdate, capacity=1_000) as updates:
            while True:
                order = engine.account.orders.get(order_id)
                if order is not None and done(order):
                    return order
                await updates.receive()


def _exec_types(db: Path, order_id: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        query = "SELECT exec_type FROM order_events WHERE order_id = ? ORDER BY id"
        return [r[0] for r in conn.execute(query, (order_id,))]


async def test_amend_changes_the_order_in_place_and_is_audited(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with _running(db) as (sim, engine, gateway):
        bid = _far_bid(sim)
        order_id = await gateway.place(SYMBOL, "buy", D("0.002"), bid)
        await gateway.amend(order_id, qty=D("0.003"), price=bid - D("1"))
        tracked = await _tracked(engine, order_id, lambda o: o.order_qty == D("0.003"))
        assert tracked.limit_price == bid - D("1") and tracked.status is OrderStatus.NEW
        on_exchange = sim.exchange.account.orders[order_id]
        assert (on_exchange.qty, on_exchange.limit_price) == (D("0.003"), bid - D("1"))
        await engine.audit.flush()
        assert "amended" in _exec_types(db, order_id)


async def test_price_only_amend_keeps_the_known_quantity(tmp_path: Path) -> None:
    async with _running(tmp_path / "a.db") as (sim, engine, gateway):
        bid = _far_bid(sim)
        order_id = await gateway.place(SYMBOL, "buy", D("0.002"), bid)
        await _tracked(engine, order_id, lambda o: o.order_qty == D("0.002"))
        await gateway.amend(order_id, price=bid - D("1"))
        on_exchange = sim.exchange.account.orders[order_id]
        assert (on_exchange.qty, on_exchange.limit_price) == (D("0.002"), bid - D("1"))


async def test_amend_without_qty_or_price_is_invalid(tmp_path: Path) -> None:
    async with _running(tmp_path / "a.db") as (sim, _, gateway):
        order_id = await gateway.place(SYMBOL, "buy", D("0.002"), _far_bid(sim))
        with pytest.raises(InvalidRequest):
            await gateway.amend(order_id)


async def test_amend_of_an_order_known_closed_is_invalid(tmp_path: Path) -> None:
    async with _running(tmp_path / "a.db") as (sim, engine, gateway):
        order_id = await gateway.place(SYMBOL, "buy", D("0.002"), _far_bid(sim))
        await gateway.cancel(order_id)
        await _tracked(engine, order_id, lambda o: o.status.final)
        with pytest.raises(InvalidRequest):
            await gateway.amend(order_id, qty=D("0.003"))


async def test_post_only_amend_that_would_take_is_rejected(tmp_path: Path) -> None:
    async with _running(tmp_path / "a.db") as (sim, _, gateway):
        bid = _far_bid(sim)
        order_id = await gateway.place(SYMBOL, "buy", D("0.002"), bid)
        ask = sim.exchange.books[SYMBOL].spec.price(sim.exchange.books[SYMBOL].best("asks") or 0)
        with pytest.raises(OrderRejected):
            await gateway.amend(order_id, price=ask + D("100"), qty=D("0.002"), post_only=True)
        assert sim.exchange.account.orders[order_id].limit_price == bid


async def test_amend_of_an_order_unknown_to_kraken_is_rejected(tmp_path: Path) -> None:
    async with _running(tmp_path / "a.db") as (_, _, gateway):
        with pytest.raises(OrderRejected):
            await gateway.amend("ONEVER-EXIST-EDXXXX", qty=D("0.002"))


def _count_amends(sim: Simulator, monkeypatch: pytest.MonkeyPatch, *, refuse: bool) -> list[int]:
    """Count the amends reaching the exchange; with ``refuse``, none takes effect."""
    calls: list[int] = []
    exchange = sim.exchange
    amend = exchange.amend_order

    def counted(request: AmendRequest, wall: float) -> Amended | str:
        calls.append(1)
        return "EOrder:Invalid order" if refuse else amend(request, wall)

    monkeypatch.setattr(exchange, "amend_order", counted)
    return calls


async def test_unanswered_amend_that_took_effect_is_found_over_rest(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _running(tmp_path / "a.db") as (sim, engine, gateway):
        bid = _far_bid(sim)
        order_id = await gateway.place(SYMBOL, "buy", D("0.002"), bid)
        calls = _count_amends(sim, monkeypatch, refuse=False)
        sim.stall("private", 30)  # executed; the reply and the report wait behind the stall
        await gateway.amend(order_id, qty=D("0.003"))
        assert calls == [1]
        assert engine.account is not None
        tracked = engine.account.orders.get(order_id)  # from REST: the stream is silent
        assert tracked is not None and tracked.order_qty == D("0.003")


async def test_unanswered_amend_without_effect_is_unanswered_and_not_sent_again(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _running(tmp_path / "a.db") as (sim, _, gateway):
        order_id = await gateway.place(SYMBOL, "buy", D("0.002"), _far_bid(sim))
        calls = _count_amends(sim, monkeypatch, refuse=True)
        sim.stall("private", 30)
        with pytest.raises(RequestUnanswered):
            await gateway.amend(order_id, qty=D("0.003"))
        assert calls == [1]
        assert sim.exchange.account.orders[order_id].qty == D("0.002")
