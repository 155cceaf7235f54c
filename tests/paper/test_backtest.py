"""Backtests: a strategy over captures, simulated fills, deterministic databases."""

from __future__ import annotations

import functools
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from galfriday.api import Engine
from galfriday.backtest.run import BacktestReport, run_backtest
from galfriday.errors import ConfigError
from galfriday.paper.venue import PaperConfig
from tests.replay.session import Session

D = Decimal


async def buy_then_sell(engine: Engine, params: dict[str, Any]) -> None:
    """A market buy, a resting bid a little under the best, a sell two seconds later."""
    qty = D(params["qty"])
    await engine.place("BTC/USD", "buy", qty, order_type="market")
    book = engine.book("BTC/USD")
    assert book.best_bid is not None
    bid = book.best_bid.price - engine.instrument("BTC/USD").price_increment
    resting = await engine.place("BTC/USD", "buy", qty, bid)
    await trio.sleep(2)
    await engine.cancel(resting)
    await engine.place("BTC/USD", "sell", qty, order_type="market")


def backtest(captures: list[Path], db: Path, **kwargs: Any) -> BacktestReport:
    run = functools.partial(
        run_backtest, captures, buy_then_sell, {"qty": "0.001"}, database=db, **kwargs
    )
    return trio.run(run, clock=trio.testing.MockClock())


def dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def test_two_backtests_over_one_capture_give_identical_databases(
    session: Session, tmp_path: Path
) -> None:
    backtest(session.captures, tmp_path / "a.db")
    backtest(session.captures, tmp_path / "b.db")
    assert dump(tmp_path / "a.db") == dump(tmp_path / "b.db")


def test_backtest_reports_the_strategys_orders_fills_and_fees(
    session: Session, tmp_path: Path
) -> None:
    report = backtest(session.captures, tmp_path / "a.db")
    assert (report.orders, report.fills > 1, report.fees > 0) == (3, True, True)
    assert report.max_position["BTC/USD"] >= D("0.001")


def test_backtest_pnl_is_the_change_of_equity(session: Session, tmp_path: Path) -> None:
    report = backtest(session.captures, tmp_path / "a.db")
    assert report.start_equity is not None and report.end_equity is not None
    assert report.pnl == report.end_equity - report.start_equity


def test_backtest_balances_come_from_the_paper_config(session: Session, tmp_path: Path) -> None:
    paper = PaperConfig(balances={"USD": D(500)})
    report = backtest(session.captures, tmp_path / "a.db", paper=paper)
    assert report.start_equity == D(500)


def test_backtest_counts_frames_within_the_captures_time(session: Session, tmp_path: Path) -> None:
    report = backtest(session.captures, tmp_path / "a.db")
    decoded = msgspec.json.decode(msgspec.json.encode(report))
    assert report.frames > 0 and decoded["first"] <= decoded["last"]


def test_backtest_refuses_an_existing_database(session: Session, tmp_path: Path) -> None:
    (tmp_path / "a.db").touch()
    with pytest.raises(ConfigError, match="exists already"):
        backtest(session.captures, tmp_path / "a.db")


def test_backtest_refuses_to_run_on_the_real_clock(session: Session, tmp_path: Path) -> None:
    run = functools.partial(
        run_backtest, session.captures, buy_then_sell, {}, database=tmp_path / "a.db"
    )
    with pytest.raises(ConfigError, match="MockClock"):
        trio.run(run)
