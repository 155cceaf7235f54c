"""Strategies run by the engine: callbacks, functions, failures, rails, the kill switch."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
import trio.lowlevel

import galfriday
from galfriday import OrderStatus
from galfriday.core.rails import Rails
from galfriday.errors import ConfigError, StrategyFailed
from galfriday.strategy import Strategy, StrategyRunner, load_strategy
from tests.api.waiting import until


def _settings(tmp_path: Path, rails: Rails | None = None) -> galfriday.Settings:
    settings = galfriday.load_config(database=tmp_path / "g.db", capture=False, seed=7)
    if rails is None:
        return settings
    config = msgspec.structs.replace(settings.config, rails=rails)
    return dataclasses.replace(settings, config=config)


async def _resting_buy(engine: galfriday.Engine, symbol: str = "BTC/USD") -> str:
    bid = engine.book(symbol).best_bid
    assert bid is not None
    return await engine.place(symbol, "buy", Decimal("0.001"), bid.price - 500, post_only=True)


class Recorder(Strategy):
    """Places one market order on its first book, notes every callback, and checks that no two
    callbacks ever run at once."""

    symbols = ("BTC/USD",)

    def __init__(self, engine: galfriday.Engine, params: Any) -> None:
        super().__init__(engine, params)
        self.calls: list[str] = []
        self.busy = False
        self.overlapped = False
        self.order_id: str | None = None
        self.book_symbols: set[str] = set()

    async def _enter(self, name: str) -> None:
        self.overlapped |= self.busy
        self.busy = True
        self.calls.append(name)
        await trio.lowlevel.checkpoint()
        self.busy = False

    async def on_start(self) -> None:
        await self._enter("start")

    async def on_book(self, event: galfriday.BookUpdate) -> None:
        await self._enter("book")
        self.book_symbols.add(event.symbol)
        if self.order_id is None:
            self.order_id = "pending"
            self.order_id = await self.engine.place(
                "BTC/USD", "buy", Decimal(self.params["qty"]), order_type="market"
            )

    async def on_order(self, event: galfriday.OrderUpdate) -> None:
        await self._enter("order")

    def on_fill(self, event: galfriday.FillEvent) -> None:  # a plain function works too
        self.calls.append("fill")

    def on_stop(self) -> None:
        self.calls.append("stop")


async def test_a_class_strategy_gets_its_callbacks_one_at_a_time(tmp_path: Path) -> None:
    async with galfriday.open_engine(_settings(tmp_path)) as engine, trio.open_nursery() as n:
        runner = StrategyRunner(engine, Recorder, {"qty": "0.001"})
        await n.start(runner.run)
        await until(engine, lambda: "fill" in _calls(runner), 10)
        await runner.stop()
    calls = _calls(runner)
    assert calls[0] == "start" and calls[-1] == "stop"
    assert {"book", "order", "fill"} <= set(calls)
    strategy = _instance(runner)
    assert strategy.book_symbols == {"BTC/USD"} and not strategy.overlapped
    assert runner.failure is None


async def test_a_function_strategy_gets_the_engine_and_its_params(tmp_path: Path) -> None:
    seen: list[object] = []

    async def main(engine: galfriday.Engine, params: dict[str, Any]) -> None:
        seen.append((engine.symbols[0], params))

    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        await StrategyRunner(engine, main, {"spread": "0.1"}).run()
        assert engine.trading
    assert seen == [("BTC/USD", {"spread": "0.1"})]


async def test_a_strategy_that_raises_stops_trading_cancels_and_alerts(tmp_path: Path) -> None:
    async def main(engine: galfriday.Engine, params: dict[str, Any]) -> None:
        order_id = await _resting_buy(engine)
        await engine.wait_for(order_id, OrderStatus.NEW)
        raise ValueError("a bug in the bot")

    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        async with engine.subscribe(galfriday.Alert) as alerts:
            runner = StrategyRunner(engine, main)
            with trio.fail_after(15):
                await runner.run()
                alert = await alerts.receive()
        assert isinstance(alert, galfriday.Alert) and alert.severity is galfriday.Severity.CRITICAL
        assert "a bug in the bot" in alert.message
        assert engine.placed() == [] and engine.orders() == []  # cancelled
        with pytest.raises(galfriday.TradingHalted, match="a bug in the bot"):
            await _resting_buy(engine)
        assert engine.book("BTC/USD").verified  # the account view goes on


async def test_on_error_exit_raises_strategy_failed(tmp_path: Path) -> None:
    async def main(engine: galfriday.Engine, params: dict[str, Any]) -> None:
        raise KeyError("oops")

    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        with pytest.raises(StrategyFailed, match="KeyError"):
            await StrategyRunner(engine, main, on_error="exit").run()


async def test_stopping_cancels_the_strategys_resting_orders(tmp_path: Path) -> None:
    placed: list[str] = []

    async def main(engine: galfriday.Engine, params: dict[str, Any]) -> None:
        placed.append(await _resting_buy(engine))
        await trio.sleep_forever()

    async with galfriday.open_engine(_settings(tmp_path)) as engine, trio.open_nursery() as n:
        runner = StrategyRunner(engine, main)
        await n.start(runner.run)
        await until(engine, engine.placed, 10)
        await runner.stop()
        with trio.fail_after(10):
            order = await engine.wait_for(placed[0])
        assert order.status is OrderStatus.CANCELED


async def test_the_kill_switch_stops_trading_and_cancels(tmp_path: Path) -> None:
    async def main(engine: galfriday.Engine, params: dict[str, Any]) -> None:
        await _resting_buy(engine)
        await trio.sleep_forever()

    settings = _settings(tmp_path)
    kill = Path(settings.rails.kill_file or "")
    assert kill == tmp_path / "g.db.stop"
    async with galfriday.open_engine(settings) as engine:
        runner = StrategyRunner(engine, main)
        async with trio.open_nursery() as n:
            await n.start(runner.run)
            await until(engine, engine.placed, 10)
            kill.touch()  # noqa: ASYNC240 (a test's own file, not the engine's path)
            await until(engine, lambda: not engine.placed() and engine.stopped is not None, 10)
            await runner.stop()
        assert "kill switch" in (engine.stopped or "")
        with pytest.raises(galfriday.TradingHalted, match="kill switch"):
            await _resting_buy(engine)


async def test_a_rail_refuses_an_order_and_the_refusal_is_audited(tmp_path: Path) -> None:
    rails = Rails(max_order_qty={"*": Decimal("0.0005")}, max_open_orders=1)
    async with galfriday.open_engine(_settings(tmp_path, rails)) as engine:
        async with engine.subscribe(galfriday.OrderAnomaly) as anomalies:
            with pytest.raises(galfriday.RailRefused, match="max_order_qty"):
                await engine.place("BTC/USD", "buy", Decimal("0.001"), order_type="market")
            with trio.fail_after(5):
                anomaly = await anomalies.receive()
        assert isinstance(anomaly, galfriday.OrderAnomaly) and anomaly.kind == "rail_refused"
        assert "max_order_qty" in anomaly.detail
        assert engine.orders() == []
        assert engine.trading  # a refusal is not a stop


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("nomodule_here:Thing", "cannot import"),
        ("galfriday.strategy:Missing", "has no Missing"),
        ("galfriday.strategy:KILL_CHECK_EVERY", "neither a class nor an async function"),
        ("no-colon", "package.module:Name"),
    ],
)
def test_a_strategy_entry_that_cannot_load_is_a_config_error(entry: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_strategy(entry)


def _instance(runner: StrategyRunner) -> Recorder:
    strategy = runner.instance
    assert isinstance(strategy, Recorder)
    return strategy


def _calls(runner: StrategyRunner) -> list[str]:
    return _instance(runner).calls if runner.instance is not None else []
