"""``galfriday backtest`` and ``galfriday run --paper``: the paper account's entry points.

- :func:`paper_config` reads the ``[paper]`` table of the configuration file
  (``balances = {USD = "10000"}``, ``maker_fee``, ``taker_fee``); a bad value is a one-line
  :class:`~galfriday.errors.ConfigError`.
- :func:`open_paper_engine` runs the live engine in paper mode and yields the public facade.
- :func:`add_backtest_arguments` and :func:`backtest_command` are the ``backtest`` subcommand:
  a strategy named ``MODULE:FUNCTION`` (``async def f(engine, params)``), run over captures
  on virtual time into a new database; the report as text, or with ``--json`` as JSON.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import tomllib
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import msgspec
import trio
import trio.testing

from galfriday.api import Engine as Facade
from galfriday.errors import ConfigError
from galfriday.live.engine import Engine, open_engine
from galfriday.paper.backtest import BacktestReport, Strategy, run_backtest
from galfriday.paper.engine import PaperEngine
from galfriday.paper.venue import PaperConfig
from galfriday.settings import Settings

__all__ = [
    "add_backtest_arguments",
    "backtest_command",
    "open_paper_engine",
    "paper_config",
    "print_report",
]


def paper_config(table: Mapping[str, Any] | None) -> PaperConfig:
    """The ``[paper]`` table as a :class:`PaperConfig` (the defaults without one).

    Raises:
        ConfigError: a field that is unknown or not a number where one is needed.
    """
    if not table:
        return PaperConfig()
    known = {"balances", "maker_fee", "taker_fee"}
    for name in table:
        if name not in known:
            raise ConfigError(
                f"paper.{name}", f"unknown; the fields are {', '.join(sorted(known))}"
            )
    try:
        config = msgspec.convert(dict(table), PaperConfig, strict=False)
    except msgspec.ValidationError as exc:
        where = str(exc).rpartition("at `$.")[2].rstrip("`") or "paper"
        raise ConfigError(f"paper.{where}", f'{exc}; use decimal strings like "0.0025"') from None
    for name, fee in (("maker_fee", config.maker_fee), ("taker_fee", config.taker_fee)):
        if not 0 <= fee < 1:
            raise ConfigError(f"paper.{name}", "a fraction of the cost: 0.0025 is 0.25 %")
    return config


@asynccontextmanager
async def open_paper_engine(
    settings: Settings, paper: PaperConfig | None = None
) -> AsyncIterator[Facade]:
    """Run the live engine of ``settings`` trading a paper account: its public connection as
    configured, no private connection, no keys needed. Yields the public facade.

    Raises:
        ConfigError: ``settings`` has no engine (the embedded simulator's URLs are only known
            once it listens: open it, then pass settings with its engine).
    """
    config = settings.engine
    if config is None:
        raise ConfigError("--paper", "needs the public URLs: start the simulator first")
    engine = PaperEngine(config, paper or PaperConfig())
    engine.begin()  # the account's snapshots: the start-up does not wait for them
    async with AsyncExitStack() as stack:
        inner = await stack.enter_async_context(open_engine(config, engine=engine))
        yield await stack.enter_async_context(_facade(inner, settings))


@asynccontextmanager
async def _facade(inner: Engine, settings: Settings) -> AsyncIterator[Facade]:
    facade = Facade(inner, settings)
    async with trio.open_nursery() as nursery:
        await nursery.start(facade._follow)
        yield facade
        nursery.cancel_scope.cancel()


def add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``backtest`` subcommand's arguments."""
    parser.add_argument("captures", nargs="+", type=Path, metavar="CAPTURE",
                        help="capture files (.gfcap), in time order")  # fmt: skip
    parser.add_argument("--strategy", required=True, metavar="MODULE:FUNCTION",
                        help="async def FUNCTION(engine, params), e.g. mybot.grid:run")  # fmt: skip
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a strategy parameter (repeatable): params is a dict")  # fmt: skip
    parser.add_argument("--db", type=Path, default=None,
                        help="the run's new audit database (default: backtest.db beside the first"
                             " capture, numbered if taken)")  # fmt: skip
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML file whose [paper] table sets balances and fees")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def load_strategy(name: str) -> Strategy:
    """``MODULE:FUNCTION`` imported.

    Raises:
        ConfigError: no such module or function.
    """
    module_name, _, function = name.partition(":")
    if not module_name or not function:
        raise ConfigError("--strategy", f"{name!r}: write MODULE:FUNCTION, e.g. mybot.grid:run")
    try:
        found = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("--strategy", f"{name!r} cannot be loaded ({exc})") from None
    strategy: Strategy = found
    return strategy


def _params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError("--param", f"{pair!r}: write KEY=VALUE")
        params[key] = value
    return params


def _database(args: argparse.Namespace) -> Path:
    if args.db is not None:
        return Path(args.db)
    folder = Path(args.captures[0]).parent
    candidate, n = folder / "backtest.db", 1
    while candidate.exists():
        n += 1
        candidate = folder / f"backtest-{n}.db"
    return candidate


def _paper_table(path: Path | None) -> Mapping[str, Any] | None:
    if path is None:
        return None
    try:
        table = tomllib.loads(path.read_text()).get("paper")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("--config", f"{path} cannot be read ({exc})") from None
    if table is not None and not isinstance(table, dict):
        raise ConfigError("paper", "must be a table: [paper]")
    return table


def backtest_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``galfriday backtest``; returns the exit code (0 done, 2 bad input)."""
    strategy = load_strategy(args.strategy)
    run = functools.partial(
        run_backtest,
        list(args.captures),
        strategy,
        _params(args.param),
        database=_database(args),
        paper=paper_config(_paper_table(args.config)),
    )
    report = trio.run(run, clock=trio.testing.MockClock())
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
