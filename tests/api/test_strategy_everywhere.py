"""One strategy package, outside galfriday, run unchanged by ``galfriday run --strategy``,
``galfriday run --paper`` and ``galfriday backtest``; and the examples over a capture."""

from __future__ import annotations

import functools
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from examples.market_maker import MarketMaker
from examples.spread_logger import SpreadLogger
from examples.twap import twap
from galfriday import cli
from galfriday.backtest.run import run_backtest
from galfriday.paper.venue import PaperConfig
from tests.replay.session import Session

STRATEGIES = Path(__file__).parents[1] / "data" / "strategies"
ENTRY = "sample_bot.strategy:RoundTrip"


@pytest.fixture
def sample_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(STRATEGIES))


def _orders(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select order_id, side, status from orders order by rowid")
        return [tuple(row) for row in rows]


@pytest.mark.slow
@pytest.mark.parametrize("paper", [False, True], ids=["simulator", "paper"])
def test_the_package_runs_under_galfriday_run(
    sample_bot: None, tmp_path: Path, paper: bool
) -> None:
    db = tmp_path / "run.db"
    argv = ["run", "--strategy", ENTRY, "--duration", "6", "--db", str(db), "--no-capture"]
    assert cli.main(argv + (["--paper"] if paper else [])) == 0
    orders = _orders(db)
    assert [(side, status) for _, side, status in orders] == [
        ("buy", "filled"),
        ("sell", "filled"),
    ]
    paper_ids = [order_id.split("-")[1] == "00000" for order_id, _, _ in orders]  # O<tag>-00000-n
    assert paper_ids == [paper, paper]


def test_the_package_runs_under_galfriday_backtest(
    sample_bot: None, session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "bt.db"
    argv = ["backtest", *map(str, session.captures), "--strategy", ENTRY, "--db", str(db)]
    assert cli.main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["orders"], report["fills"] >= 2) == (2, True)
    assert [(side, status) for _, side, status in _orders(db)] == [
        ("buy", "filled"),
        ("sell", "filled"),
    ]


def test_a_backtest_that_fails_is_one_line_and_exit_1(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", *map(str, session.captures), "--db", str(tmp_path / "x.db")]
    argv += ["--strategy", "tests.api.test_strategy_everywhere:broken"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "ZeroDivisionError" in err


async def broken(engine: Any, params: Any) -> None:
    raise ZeroDivisionError("the strategy's own bug")


def _backtest(session: Session, db: Path, strategy: object, params: dict[str, Any]) -> Any:
    paper = PaperConfig(balances={"USD": Decimal(100_000), "BTC": Decimal(1)})
    run = functools.partial(
        run_backtest, session.captures, strategy, params, database=db, paper=paper
    )
    return trio.run(run, clock=trio.testing.MockClock())


def test_the_examples_run_in_a_backtest(session: Session, tmp_path: Path) -> None:
    logger_report = _backtest(session, tmp_path / "s.db", SpreadLogger, {"every": 50})
    assert logger_report.orders == 0 and logger_report.frames > 0
    maker = _backtest(session, tmp_path / "m.db", MarketMaker, {"qty": "0.001"})
    assert maker.orders >= 2  # a bid and an ask at least
    twap_params = {"qty": "0.003", "slices": 3, "minutes": 0.01}
    twapped = _backtest(session, tmp_path / "t.db", twap, twap_params)
    assert twapped.orders == 3 and twapped.max_position["BTC/USD"] == Decimal("1.003")
