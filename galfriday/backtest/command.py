"""``galfriday backtest``: a strategy over captures, paper fills, a report.

The strategy is named as for ``galfriday run`` (``--strategy package.module:Name``, or
``[strategy] entry`` of ``--config``), its parameters from ``[strategy.params]`` and
``--param``; the paper account from ``[paper]``. It runs on virtual time into a new database
(``galfriday report --db`` reads it like any other); the report as text, or with ``--json``.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import TextIO

import msgspec
import trio
import trio.testing

from galfriday.backtest.run import BacktestReport, run_backtest
from galfriday.config import Config, PaperSection, load_config
from galfriday.errors import ConfigError, StrategyFailed, first_error
from galfriday.paper.venue import PaperConfig
from galfriday.settings import paper_config
from galfriday.strategy import load_strategy, parse_params

__all__ = ["backtest_command", "print_report"]


def _database(args: argparse.Namespace) -> Path:
    if args.db is not None:
        return Path(args.db)
    folder = Path(args.captures[0]).parent
    candidate, n = folder / "backtest.db", 1
    while candidate.exists():
        n += 1
        candidate = folder / f"backtest-{n}.db"
    return candidate


def _paper(path: Path | None) -> tuple[PaperConfig, Config | None]:
    """The paper account of ``--config``'s ``[paper]`` (the defaults without a file)."""
    if path is None:
        return paper_config(PaperSection()), None
    config = load_config(path)
    return paper_config(config.paper), config


def backtest_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``galfriday backtest``; returns the exit code (0 done, 2 bad input)."""
    paper, config = _paper(args.config)
    entry = args.strategy or (config.strategy.entry if config is not None else None)
    if entry is None:
        raise ConfigError("--strategy", "name the strategy (package.module:Name)")
    field = "--strategy" if args.strategy else "strategy.entry"
    strategy = load_strategy(entry, field)
    params = {**(config.strategy.params if config is not None else {}), **parse_params(args.param)}
    run = functools.partial(
        run_backtest, list(args.captures), strategy, params, database=_database(args), paper=paper
    )
    try:
        report = trio.run(run, clock=trio.testing.MockClock())
    except* StrategyFailed as group:
        raise first_error(group) from None
    print_report(report, out, as_json=args.json)
    return 0


def print_report(report: BacktestReport, out: TextIO, *, as_json: bool = False) -> None:
    """The report, for people or (``as_json``) for programs."""
    if as_json:
        out.write(msgspec.json.encode(report).decode() + "\n")
        return
    q = report.quote
    lines = [
        f"backtest  {report.first} .. {report.last}  ({report.frames:,} frames,"
        f" {report.elapsed:.1f} s, {report.frames_per_s:,.0f} frames/s)",
        f"orders    {report.orders}   fills {report.fills}   fees {report.fees} {q}",
        f"equity    {report.start_equity} -> {report.end_equity} {q}   P&L {report.pnl} {q}",
        f"drawdown  {report.max_drawdown} {q} (largest fall from a peak)",
        "position  "
        + (", ".join(f"{s} max {v}" for s, v in report.max_position.items()) or "none"),
        "balances  " + ", ".join(f"{a} {v}" for a, v in report.balances.items()),
        f"database  {report.database} (galfriday report --db {report.database})",
    ]
    out.write("\n".join(lines) + "\n")
