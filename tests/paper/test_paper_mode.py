"""``--paper``: the live engine on a real public feed (the simulator's), a paper account."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from galfriday.api import Engine
from galfriday.errors import ConfigError, OrderRejected
from galfriday.live.engine import EngineConfig
from galfriday.live.marketdata import MarketDataConfig
from galfriday.paper.command import (
    add_backtest_arguments,
    backtest_command,
    open_paper_engine,
    paper_config,
)
from galfriday.paper.venue import PaperConfig
from galfriday.settings import Settings
from galfriday.sim.server import SimConfig, open_simulator
from tests.replay.session import Session

D = Decimal


@asynccontextmanager
async def paper_engine(db: Path, paper: PaperConfig | None = None) -> AsyncIterator[Engine]:
    async with open_simulator(SimConfig(rate=200)) as sim:
        assert sim.urls is not None
        config = EngineConfig(
            ws_public=sim.urls.ws_public,
            ws_private=sim.urls.ws_private,
            rest=sim.urls.rest,
            database=db,
            marketdata=MarketDataConfig(symbols=("BTC/USD", "ETH/USD")),
        )
        async with open_paper_engine(Settings(engine=config, database=db), paper) as engine:
            yield engine


async def test_paper_engine_has_no_private_connection(tmp_path: Path) -> None:
    async with paper_engine(tmp_path / "p.db") as engine:
        assert (engine.internal.private, engine.trading) == (None, True)


async def test_paper_engine_starts_with_the_configured_balances(tmp_path: Path) -> None:
    paper = PaperConfig(balances={"USD": D(2500), "BTC": D("0.1")})
    async with paper_engine(tmp_path / "p.db", paper) as engine:
        assert engine.balances() == {"USD": D(2500), "BTC": D("0.1")}


async def test_paper_market_buy_fills_against_the_live_book(tmp_path: Path) -> None:
    async with paper_engine(tmp_path / "p.db") as engine:
        order_id = await engine.place("BTC/USD", "buy", D("0.001"), order_type="market")
        with trio.fail_after(10):
            order = await engine.wait_for(order_id)
        assert (order.status.value, engine.positions()["BTC/USD"]) == ("filled", D("0.001"))


async def test_paper_post_only_crossing_is_rejected_like_kraken(tmp_path: Path) -> None:
    async with paper_engine(tmp_path / "p.db") as engine:
        ask = engine.book("BTC/USD").best_ask
        assert ask is not None
        with pytest.raises(OrderRejected, match="Post only"):
            await engine.place("BTC/USD", "buy", D("0.001"), ask.price, post_only=True)


async def test_paper_resting_order_is_cancelled(tmp_path: Path) -> None:
    async with paper_engine(tmp_path / "p.db") as engine:
        bid = engine.book("BTC/USD").best_bid
        assert bid is not None
        order_id = await engine.place("BTC/USD", "buy", D("0.001"), bid.price - 100)
        await engine.cancel(order_id)
        order = engine.order(order_id)
        assert order is not None and order.status.value == "canceled"


def test_paper_config_reads_balances_and_fees_as_decimals() -> None:
    config = paper_config({"balances": {"USD": "500"}, "maker_fee": "0.001"})
    assert (config.balances, config.maker_fee) == ({"USD": D(500)}, D("0.001"))


def test_paper_config_names_an_unknown_field() -> None:
    with pytest.raises(ConfigError, match=r"paper\.fees"):
        paper_config({"fees": "0.1"})


def test_paper_config_refuses_a_fee_of_one_or_more() -> None:
    with pytest.raises(ConfigError, match=r"paper\.taker_fee"):
        paper_config({"taker_fee": "1.5"})


def test_backtest_command_prints_the_report_as_json(session: Session, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_backtest_arguments(parser)
    args = parser.parse_args(
        [*map(str, session.captures), "--strategy", "tests.paper.test_backtest:buy_then_sell",
         "--param", "qty=0.001", "--db", str(tmp_path / "b.db"), "--json"]
    )  # fmt: skip
    out = io.StringIO()
    assert backtest_command(args, out) == 0
    assert json.loads(out.getvalue())["orders"] == 3


def test_backtest_command_names_a_strategy_that_cannot_load(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_backtest_arguments(parser)
    args = parser.parse_args(["x.gfcap", "--strategy", "no.such.module:run"])
    with pytest.raises(ConfigError, match="--strategy"):
        backtest_command(args, io.StringIO())
