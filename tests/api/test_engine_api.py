"""The public API as a bot uses it: ``import galfriday``, open the engine, read, trade."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import trio

import galfriday
from galfriday import OrderStatus


def _settings(tmp_path: Path, **overrides: object) -> galfriday.Settings:
    return galfriday.load_config(
        database=tmp_path / "g.db",
        capture=False,
        seed=7,
        **overrides,  # type: ignore[arg-type]
    )


async def test_the_embedded_engine_shows_verified_books_and_the_paper_account(
    tmp_path: Path,
) -> None:
    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        assert engine.symbols == ("BTC/USD", "ETH/USD", "XRP/USD", "DOGE/USD")
        book = engine.book("BTC/USD", depth=5)
        assert book.verified and len(book.bids) == 5 and len(book.asks) == 5
        assert isinstance(book.best_bid.price, Decimal)  # type: ignore[union-attr]
        assert book.best_bid.price < book.best_ask.price  # type: ignore[union-attr]
        assert book.mid is not None and book.spread is not None and book.spread > 0
        assert engine.balances()["USD"] > 0
        assert engine.positions()["BTC/USD"] == engine.balances()["BTC"]
        assert set(engine.health()) == set() or all(engine.health().values())
        assert engine.trading
        with pytest.raises(galfriday.InvalidRequest, match="not followed"):
            engine.book("SOL/USD")
        rules = engine.instrument("BTC/USD")
        assert (rules.base, rules.quote) == ("BTC", "USD")
        tick = rules.price_increment
        assert rules.round_price(Decimal(100) + tick / 3) == Decimal(100).quantize(tick)
        assert rules.round_price(Decimal(100) + tick / 3, up=True) == Decimal(100) + tick


async def test_an_order_is_placed_waited_for_and_cancelled(tmp_path: Path) -> None:
    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        bid = engine.book("BTC/USD").best_bid
        assert bid is not None
        price = bid.price - 500  # rests well below the market
        order_id = await engine.place("BTC/USD", "buy", Decimal("0.001"), price, post_only=True)
        with trio.fail_after(10):
            order = await engine.wait_for(order_id, OrderStatus.NEW)
        assert order.status is OrderStatus.NEW and order.limit_price == price
        assert [o.order_id for o in engine.orders("BTC/USD")] == [order_id]
        assert engine.orders("ETH/USD") == []
        await engine.cancel(order_id)
        with trio.fail_after(10):
            order = await engine.wait_for(order_id)
        assert order.status is OrderStatus.CANCELED
        assert engine.orders() == [] and engine.order(order_id) == order


async def test_a_market_order_fills_and_its_fill_is_kept_and_streamed(tmp_path: Path) -> None:
    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        async with engine.subscribe(galfriday.FillEvent, symbols=["BTC/USD"]) as fills:
            order_id = await engine.place("BTC/USD", "buy", Decimal("0.001"), order_type="market")
            with trio.fail_after(10):
                fill = await fills.receive()
        assert isinstance(fill, galfriday.FillEvent) and fill.order_id == order_id
        with trio.fail_after(10):
            assert (await engine.wait_for(order_id)).status is OrderStatus.FILLED
        kept = engine.fills("BTC/USD")  # one fill per level the order took
        assert kept[0] == fill and {f.order_id for f in kept} == {order_id}
        assert sum(f.qty for f in kept) == Decimal("0.001") and engine.fills("ETH/USD") == []


async def test_a_subscription_by_symbol_passes_only_that_pairs_events(tmp_path: Path) -> None:
    async with (
        galfriday.open_engine(_settings(tmp_path)) as engine,
        engine.subscribe(galfriday.BookUpdate, symbols={"ETH/USD"}) as books,
    ):
        seen = set()
        with trio.fail_after(10):
            while len(seen) < 1 or books.delivered < 20:
                event = await books.receive()
                assert isinstance(event, galfriday.BookUpdate)
                seen.add(event.symbol)
        assert seen == {"ETH/USD"}


async def test_cancel_all_cancels_every_open_order_of_a_pair(tmp_path: Path) -> None:
    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        placed = []
        for symbol in ("BTC/USD", "BTC/USD", "ETH/USD"):
            bid = engine.book(symbol).best_bid
            assert bid is not None
            price = engine.instrument(symbol).round_price(bid.price * Decimal("0.9"))
            placed.append(await engine.place(symbol, "buy", Decimal("0.01"), price))
        with trio.fail_after(10):
            for order_id in placed:
                await engine.wait_for(order_id, OrderStatus.NEW)
            assert await engine.cancel_all("BTC/USD") == 2
            for order_id in placed[:2]:
                assert (await engine.wait_for(order_id)).status is OrderStatus.CANCELED
        assert [o.order_id for o in engine.orders()] == [placed[2]]


async def test_a_read_only_engine_refuses_orders_and_sends_nothing(tmp_path: Path) -> None:
    async with galfriday.open_engine(_settings(tmp_path, mode="read-only")) as engine:
        assert not engine.trading and engine.balances()
        with pytest.raises(galfriday.TradingHalted, match="read-only"):
            await engine.place("BTC/USD", "buy", Decimal("0.001"), order_type="market")
        assert engine.orders(open_only=False) == []


async def test_a_market_data_engine_has_books_and_no_account(tmp_path: Path) -> None:
    async with galfriday.open_engine(_settings(tmp_path, mode="market-data")) as engine:
        assert engine.book("BTC/USD").verified
        assert engine.balances() == {} and engine.orders() == [] and not engine.trading
        with pytest.raises(galfriday.TradingHalted, match="no credentials"):
            await engine.cancel("OABC")


async def test_pnl_counts_the_runs_fills_by_average_cost(tmp_path: Path) -> None:
    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        assert engine.pnl() == {}
        for side in ("buy", "buy", "sell"):
            order_id = await engine.place("BTC/USD", side, Decimal("0.001"), order_type="market")
            with trio.fail_after(10):
                await engine.wait_for(order_id)
        with trio.fail_after(10):
            async with engine.subscribe(galfriday.PnlUpdate) as updates:
                while engine.pnl()["BTC/USD"].position != Decimal("0.001"):
                    await updates.receive()
        pnl = engine.pnl()["BTC/USD"]
        fills = engine.fills("BTC/USD")
        bought = [f for f in fills if f.side == "buy"]
        cost = sum(f.qty * f.price for f in bought) / sum(f.qty for f in bought)
        assert pnl.average_cost == cost  # a sale does not move the average cost
        assert pnl.fees == sum(amount for f in fills for asset, amount in f.fees if asset == "USD")
        assert pnl.mark is not None and pnl.unrealised == pnl.position * (pnl.mark - cost)
