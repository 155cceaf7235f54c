"""The strategies in examples/ run against the simulator as a user would run them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

import galfriday
from examples.market_maker import MarketMaker
from examples.spread_logger import SpreadLogger
from examples.twap import twap
from galfriday.strategy import StrategyRunner
from tests.api.waiting import until


def _settings(tmp_path: Path) -> galfriday.Settings:
    return galfriday.load_config(database=tmp_path / "g.db", capture=False, seed=3)


async def test_the_spread_logger_follows_every_pair_and_places_nothing(tmp_path: Path) -> None:
    async with galfriday.open_engine(_settings(tmp_path)) as engine, trio.open_nursery() as n:
        runner = StrategyRunner(engine, SpreadLogger, {"every": 10})
        await n.start(runner.run)
        logger = runner.instance
        assert isinstance(logger, SpreadLogger)
        await until(engine, lambda: len(logger.spreads) == len(engine.symbols), 15)
        await runner.stop()
        assert engine.orders() == []
    for low, high, last in logger.spreads.values():
        assert Decimal(0) < low <= last <= high


async def test_the_market_maker_quotes_both_sides_and_cancels_when_stopped(
    tmp_path: Path,
) -> None:
    params = {"symbol": "ETH/USD", "qty": "0.01", "half_spread_bps": "20"}
    async with galfriday.open_engine(_settings(tmp_path)) as engine, trio.open_nursery() as n:
        runner = StrategyRunner(engine, MarketMaker, params)
        await n.start(runner.run)
        await until(engine, lambda: len(engine.placed()) == 2, 15)
        quotes = {order.side: order for order in engine.placed()}
        mid = engine.book("ETH/USD").mid
        assert mid is not None
        assert quotes["buy"].limit_price < mid < quotes["sell"].limit_price  # type: ignore[operator]
        assert {order.order_qty for order in quotes.values()} == {Decimal("0.01")}
        await runner.stop()
        assert engine.placed() == []


async def test_the_twap_executor_buys_the_whole_quantity_in_slices(tmp_path: Path) -> None:
    params = {"symbol": "BTC/USD", "side": "buy", "qty": "0.003", "slices": 3, "minutes": 0.005}
    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        before = engine.positions()["BTC/USD"]
        with trio.fail_after(30):
            await StrategyRunner(engine, twap, params).run()
        orders = {fill.order_id for fill in engine.fills("BTC/USD")}
        assert len(orders) == 3
        assert sum(fill.qty for fill in engine.fills("BTC/USD")) == Decimal("0.003")
        await until(engine, lambda: engine.positions()["BTC/USD"] == before + Decimal("0.003"), 15)
