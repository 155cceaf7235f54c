"""Backtests: a strategy run over captures with simulated fills, on the capture's time.

:func:`run_backtest` builds a :class:`~galfriday.paper.engine.PaperEngine` (the live engine,
paper account) from the first capture's header, with no socket and no task besides the audit
writer, and feeds it the captures' public frames and market steps (the fold ``galfriday
replay`` uses). The strategy (a class or an async function, :mod:`galfriday.strategy`) runs
against the public facade (:class:`galfriday.api.Engine`) as it would under ``galfriday run``;
when the captures end it is stopped as there (``on_stop``, its orders cancelled). A strategy
that raises fails the backtest (:class:`~galfriday.errors.StrategyFailed`).

Determinism: trio's clock must be a :class:`trio.testing.MockClock` (without autojump);
:func:`backtest_command` runs one. Before each record the driver advances it to the record's
captured time (stopping at every timer due before it, so a strategy's ``trio.sleep`` wakes at
its time) and after each frame waits until every task is blocked, so the strategy has reacted
before the next frame. Every time written to the database derives from the captures (virtual
time counts from the first record's wall clock, and the migrations' ``applied_at`` is that
moment), the paper ids carry the fixed tag ``PAPER``: the same captures, strategy and
parameters give identical databases.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec
import trio
import trio.testing

from galfriday.api import open_facade
from galfriday.capture.format import Applied, Header, Reader, Record, WsIn
from galfriday.core.frames import Frame
from galfriday.core.steps import (
    BookResync,
    PairsLoaded,
    PublicConnected,
    SymbolsAdded,
    SymbolsRemoved,
    decode_step,
)
from galfriday.errors import CaptureError, ConfigError
from galfriday.paper.engine import PaperEngine
from galfriday.paper.venue import PaperConfig
from galfriday.replay.driver import ReplayOptions, engine_config
from galfriday.settings import Settings
from galfriday.strategy import StrategyRunner

__all__ = ["BacktestReport", "read_captures", "run_backtest"]

MARKET_STEPS: Final = (PublicConnected, BookResync, SymbolsAdded, SymbolsRemoved, PairsLoaded)
RUN_TAG: Final = "PAPER"


class BacktestReport(msgspec.Struct, kw_only=True):
    """What a backtest did. Money in the quote currency (``quote``)."""

    database: str
    frames: int = 0
    first: str | None = None  # the first and last record's wall clock, ISO 8601
    last: str | None = None
    orders: int = 0
    fills: int = 0
    fees: Decimal = Decimal(0)
    quote: str = ""
    start_equity: Decimal | None = None
    end_equity: Decimal | None = None
    pnl: Decimal | None = None
    max_drawdown: Decimal = Decimal(0)
    max_position: dict[str, Decimal] = {}
    balances: dict[str, Decimal] = {}
    elapsed: float = 0.0  # real seconds the run took
    frames_per_s: float = 0.0


def read_captures(captures: list[Path]) -> tuple[Header, Iterator[Record]]:
    """The first capture's header and every record of the files, in the order given.

    Raises:
        ConfigError: a file that cannot be read.
        CaptureError: a file that is not an intact capture.
    """
    readers = []
    for path in captures:
        try:
            readers.append(Reader(str(path), path.read_bytes()))
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read it ({exc.strerror})") from None
    for reader in readers:
        reader.check()
    header = readers[0].header if readers else None
    if header is None:
        raise CaptureError("captures", 0, "no capture given")
    return header, (r for reader in readers for block in reader.blocks() for r in block)


class _Tally:
    """Equity, drawdown and positions, sampled after every frame."""

    def __init__(self, engine: PaperEngine, report: BacktestReport) -> None:
        self.engine, self.report = engine, report
        pairs = engine.marketdata.machine.symbols or engine.pairs
        report.quote = pairs[0].partition("/")[2] if pairs else "USD"
        self.peak: Decimal | None = None

    def sample(self) -> None:
        report, balances = self.report, self.engine.venue.balances
        equity = self.equity(balances)
        for symbol in self.engine.pairs:
            held = abs(balances.get(symbol.partition("/")[0], Decimal(0)))
            if held > report.max_position.get(symbol, Decimal(0)):
                report.max_position[symbol] = held
        if equity is None:
            return
        if report.start_equity is None:
            report.start_equity = equity
        report.end_equity = equity
        self.peak = equity if self.peak is None else max(self.peak, equity)
        report.max_drawdown = max(report.max_drawdown, self.peak - equity)

    def equity(self, balances: dict[str, Decimal]) -> Decimal | None:
        """Every balance valued at its pair's mid in the quote currency; None while a held
        asset has no two-sided book."""
        quote, books = self.report.quote, self.engine.marketdata.machine.books
        total = balances.get(quote, Decimal(0))
        for asset, amount in balances.items():
            if asset == quote or not amount:
                continue
            feed = books.get(f"{asset}/{quote}")
            bid, ask = (feed.book.best_bid, feed.book.best_ask) if feed else (None, None)
            if bid is None or ask is None or feed is None:
                return None
            total += amount * feed.book.price_of(bid[0] + ask[0]) / 2
        return total


async def run_backtest(
    captures: list[Path],
    strategy: object,
    params: Any,
    *,
    database: Path,
    settings: Settings | None = None,
    paper: PaperConfig | None = None,
) -> BacktestReport:
    """Run ``strategy`` (a class or an async function) with ``params`` over ``captures``
    into a new ``database``, under a :class:`trio.testing.MockClock` (module docstring).

    Raises:
        ConfigError: ``database`` exists already, or trio's clock is not a MockClock.
        CaptureError: a capture that is not one.
    """
    clock = trio.lowlevel.current_clock()
    if not isinstance(clock, trio.testing.MockClock):
        raise ConfigError("clock", "a backtest runs under trio.testing.MockClock")
    if await trio.Path(database).exists():
        raise ConfigError(str(database), "exists already; a backtest writes a new database")
    header, records = read_captures(captures)
    config = dataclasses.replace(
        engine_config(header, ReplayOptions(database=database)), trading=True
    )
    paper = paper or PaperConfig()
    if paper.run_tag is None:
        paper = msgspec.structs.replace(paper, run_tag=RUN_TAG)
    origin: list[float] = []  # the wall clock at virtual time 0, once the first record came

    def now() -> tuple[float, float]:
        mono = trio.current_time()
        return (origin[0] if origin else 0.0) + mono, mono

    engine = PaperEngine(config, paper, clock=now)
    report = BacktestReport(database=str(database))
    started = trio.current_time(), _real_seconds()
    settings = settings or Settings(engine=config, database=database)
    try:
        async with trio.open_nursery() as keepers:
            await keepers.start(engine.audit.run)
            async with (
                open_facade(engine, settings, clock=now, seed=0) as facade,
                trio.open_nursery() as strategies,
            ):
                runner = StrategyRunner(facade, strategy, params, on_error="exit")
                await _feed(engine, clock, records, origin, report, runner, strategies)
                clock.autojump_threshold = 0  # time runs on by itself for the stop's waits
                await runner.stop()
                strategies.cancel_scope.cancel()
            await _stamp_migrations(engine, origin[0] if origin else 0.0)
            await engine.audit.flush()
            keepers.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(engine.store.close)
    _summarise(engine, report)
    report.elapsed = _real_seconds() - started[1]
    report.frames_per_s = report.frames / report.elapsed if report.elapsed > 0 else 0.0
    return report


async def _feed(
    engine: PaperEngine,
    clock: trio.testing.MockClock,
    records: Iterator[Record],
    origin: list[float],
    report: BacktestReport,
    runner: StrategyRunner,
    strategies: trio.Nursery,
) -> None:
    """Every public frame and market step, each at its captured time; the strategy starts
    once the first book is there (at the account's snapshots)."""
    tally = _Tally(engine, report)
    machine, started = engine.marketdata.machine, False
    for record in records:
        if isinstance(record, WsIn) and record.conn == "public":
            if not origin:
                origin.append(record.wall - trio.current_time())
            await _advance(clock, record.wall - origin[0])
            mono = trio.current_time()
            engine.marketdata.receive(Frame(record.text, mono, record.wall, "public"))
            report.frames += 1
            report.first = report.first or _iso(record.wall)
            report.last = _iso(record.wall)
            if not started and machine.books:
                started = True
                engine.begin()
                await strategies.start(runner.run)
            await trio.testing.wait_all_tasks_blocked()
            tally.sample()
        elif isinstance(record, Applied) and origin:
            try:
                step = decode_step(record.data)
            except msgspec.DecodeError as exc:
                raise CaptureError("capture", 0, f"a step that does not decode ({exc})") from exc
            if isinstance(step, MARKET_STEPS):
                engine.state.apply(step)


async def _advance(clock: trio.testing.MockClock, target: float) -> None:
    """Move virtual time to ``target``, stopping at every timer due before it so the tasks
    it wakes run at their time."""
    while True:
        await trio.testing.wait_all_tasks_blocked()
        now = trio.current_time()
        if now >= target:
            return
        due = now + trio.lowlevel.current_statistics().seconds_to_next_deadline
        clock.jump(min(target, due) - now)


async def _stamp_migrations(engine: PaperEngine, wall: float) -> None:
    """The migrations' ``applied_at`` becomes the capture's first moment (not today)."""

    def stamp(store: Any) -> None:
        store.db.execute("UPDATE migrations SET applied_at = ?", [_iso(wall)])
        store.db.conn.commit()

    await engine.audit.read(stamp)


def _summarise(engine: PaperEngine, report: BacktestReport) -> None:
    account = engine.account
    if account is not None:
        report.orders = len(account.orders.orders())
        report.fills = account.orders.fills
        report.balances = dict(sorted(account.portfolio.balances.items()))
    report.fees = engine.venue.fees
    if report.start_equity is not None and report.end_equity is not None:
        report.pnl = report.end_equity - report.start_equity


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat().replace("+00:00", "Z")


def _real_seconds() -> float:
    """Real time elapsed (the report's speed figures), never virtual time."""
    return time.perf_counter()
