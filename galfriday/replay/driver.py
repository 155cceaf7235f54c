"""The replay driver: a capture's frames and steps applied to the engine's state, in order.

The engine's state (:class:`~galfriday.state.EngineState`: the market-data and account
machines, the names, reconciliation's counters) changes only by frames received and by steps
(:mod:`galfriday.core.steps`: a subscription sent, a socket lost, a resync, REST answers, a
reconciliation's answers, a person's decision). The live engine records both in the capture as
it applies them; the replay reads them back and applies them, one after the other, to a state
built from the capture's header, whose events go to a new audit database through the same
recorder as live. Nothing is re-run: no socket, no REST call, no task besides the audit writer,
no timing. The same capture gives the same rows every time, and the rows of the live session.

A connection state change (a record of its own) becomes its ``connection_events`` row, as live.

The replay's bus is its own and nobody subscribes to it, so which events are wanted never
changes during a replay: the machines ask a sink that keeps the recorder's first answer per
event type (asking the recorder each frame cost 12% of a book replay).

Options: ``speed`` paces records by their monotonic timestamps (1 = as recorded); ``start`` and
``end`` (wall clock) bound the window: records before ``start`` still build state, but write no
audit rows; ``symbols`` narrows the market data (the account is always replayed whole).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final

import msgspec
import trio

from galfriday.audit.store import AuditStore, AuditWriter
from galfriday.audit.tables import Row
from galfriday.bus import Bus
from galfriday.capture.format import Applied, End, Event, Header, Record, State, WsIn
from galfriday.core.account import AccountMachine
from galfriday.core.frames import Frame, Sink
from galfriday.core.health import ConnectionMetrics
from galfriday.core.marketdata import MarketDataConfig, MarketDataMachine
from galfriday.core.steps import decode_step
from galfriday.errors import CaptureError
from galfriday.events import ConnectionState, ConnectionStateChanged
from galfriday.events import Event as EngineEvent
from galfriday.kraken.symbols import SymbolMap
from galfriday.live.connection import overrun
from galfriday.live.engine import EngineConfig
from galfriday.live.private import PrivateConfig
from galfriday.live.recorder import Recorder
from galfriday.reconcile.run import ReconcileConfig
from galfriday.state import EngineState

__all__ = ["ReplayOptions", "ReplaySummary", "Replayer", "engine_config"]

AUDIT_BACKLOG: Final = 50_000  # queued audit rows before the driver waits for the writer


@dataclass(frozen=True)
class ReplayOptions:
    database: Path | str
    speed: float | None = None  # None: as fast as possible
    start: float | None = None  # wall clock, epoch seconds
    end: float | None = None
    symbols: tuple[str, ...] | None = None


@dataclass
class ReplaySummary:
    """What a replay did; :func:`~galfriday.replay.command.print_summary` prints it."""

    records: int = 0
    frames: dict[str, int] = field(default_factory=dict)  # "public book" -> count
    books: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    resyncs: int = 0
    gaps: int = 0
    trade_gaps: int = 0
    duplicates: int = 0
    orders: int = 0
    open_orders: int = 0
    fills: int = 0
    balances: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[str, Decimal] = field(default_factory=dict)
    reconciliations: int = 0
    reconciliation_failures: int = 0
    last_reconciliation: str = ""
    connection_changes: int = 0
    steps: int = 0  # steps applied (subscriptions, resyncs, REST answers, reconciliations...)
    dropped: int = 0
    first_wall: float | None = None
    last_wall: float | None = None
    elapsed: float = 0.0  # seconds the replay took
    paced: float = 0.0  # with a speed: seconds between the first and last record of the window

    @property
    def frame_count(self) -> int:
        return sum(self.frames.values())


def engine_config(header: Header, options: ReplayOptions) -> EngineConfig:
    """The engine a capture's header describes, pointed at nothing, writing ``database``."""
    summary = header.config
    try:
        market = msgspec.convert(summary["marketdata"], MarketDataConfig)
        private = msgspec.convert(summary.get("private_config") or {}, PrivateConfig)
        rec = summary.get("reconcile")
        reconcile = msgspec.convert(rec, ReconcileConfig) if rec is not None else None
    except (KeyError, msgspec.ValidationError) as exc:
        raise ValueError(f"the capture's header does not describe an engine ({exc})") from None
    pairs = private.symbols or market.symbols
    if options.symbols is not None:
        market = dataclasses.replace(market, symbols=options.symbols)
    keyed = bool(summary.get("private"))
    return EngineConfig(
        ws_public="ws://replay.invalid/public",
        ws_private="ws://replay.invalid/private",
        rest="http://replay.invalid",
        database=options.database,
        api_key="replay" if keyed else None,
        api_secret=b"replay" if keyed else None,
        trading=False,
        marketdata=dataclasses.replace(market, pace=0.0),
        private=dataclasses.replace(private, symbols=tuple(pairs)),
        reconcile=reconcile,
        rest_tier=str(summary.get("rest_tier", "intermediate")),
        rest_retry_base=0.0,
        rest_rate_limited=False,
    )


def _channel(kind: type) -> str:
    tag = getattr(getattr(kind, "__struct_config__", None), "tag", None)
    return (
        str(tag)
        if isinstance(tag, str)
        else ("responses" if kind.__name__ == "Response" else kind.__name__.lower())
    )


class _ReplaySink:
    """The recorder, with its answer to :meth:`wants` kept per event type (see the module
    docstring: valid only for a bus that nobody subscribes to)."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._wants: dict[type[EngineEvent], bool] = {}

    def emit(self, event: EngineEvent) -> None:
        self._recorder.emit(event)

    def wants(self, kind: type[EngineEvent]) -> bool:
        wanted = self._wants.get(kind)
        if wanted is None:
            wanted = self._wants[kind] = self._recorder.wants(kind)
        return wanted


class Replayer:
    """Applies one session's records to a fresh engine state. Use :meth:`run` inside trio."""

    def __init__(
        self,
        header: Header,
        options: ReplayOptions,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.header = header
        self.options = options
        self.progress = progress
        self.summary = ReplaySummary()
        self._config = engine_config(header, options)
        self._origin: tuple[float, float] | None = None  # (record mono, trio time) of pacing
        self._muted = options.start is not None  # no rows before --from

    async def run(self, blocks: Iterable[list[Record]]) -> ReplaySummary:
        """Replay every record of ``blocks``; returns the summary."""
        started = trio.current_time()
        store = AuditStore(self.options.database)
        writer = AuditWriter(store)

        def write(row: Row) -> None:
            if not self._muted:
                writer.write_row(row)

        recorder = Recorder(Bus(), write)
        state = self._state(recorder)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(writer.run)
                await self._feed(state, recorder, writer, blocks)
                await writer.flush()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(store.close)
        self._summarise(state)
        self.summary.elapsed = trio.current_time() - started
        return self.summary

    def _state(self, recorder: Recorder) -> EngineState:
        config = self._config
        sink: Sink = _ReplaySink(recorder)
        marketdata = MarketDataMachine(config.marketdata, ConnectionMetrics("public", 0.0), sink)
        names = SymbolMap()
        pairs = config.private.symbols or config.marketdata.symbols
        account = None
        if config.api_key is not None:
            account = AccountMachine(
                dataclasses.replace(config.private, symbols=pairs),
                ConnectionMetrics("private", 0.0),
                sink,
                names,
            )
        return EngineState(marketdata, account, names, pairs, config.reconcile, sink)

    async def _feed(
        self,
        state: EngineState,
        recorder: Recorder,
        writer: AuditWriter,
        blocks: Iterable[list[Record]],
    ) -> None:
        summary, options = self.summary, self.options
        receive: dict[str, Callable[[Frame], object]] = {
            "public": state.receive_public,
            "private": state.receive_private,
        }
        windowed = options.start is not None or options.end is not None or bool(options.speed)
        count = 0
        for block in blocks:
            for record in block:
                count += 1
                if type(record) is WsIn and not windowed:  # the common case, kept short
                    receive[record.conn](Frame(record.text, record.mono, record.wall, record.conn))
                    if summary.first_wall is None:
                        summary.first_wall = record.wall
                    summary.last_wall = record.wall
                    continue
                wall = getattr(record, "wall", None)
                if wall is not None and not isinstance(record, Header):
                    if options.end is not None and wall > options.end:
                        summary.records = count - 1
                        return
                    if self._muted and options.start is not None and wall >= options.start:
                        self._muted = False
                    if not self._muted:
                        if summary.first_wall is None:
                            summary.first_wall = wall
                        summary.last_wall = wall
                        if options.speed:
                            await self._pace(record.mono)
                self._apply(record, state, receive, recorder)
            summary.records = count
            if self.progress is not None:
                self.progress(count)
            await trio.lowlevel.checkpoint()  # the audit writer needs the loop
            if writer.queued - writer.written > AUDIT_BACKLOG:
                await writer.flush()

    def _apply(
        self,
        record: Record,
        state: EngineState,
        receive: dict[str, Callable[[Frame], object]],
        recorder: Recorder,
    ) -> None:
        summary = self.summary
        if isinstance(record, WsIn):
            receive[record.conn](Frame(record.text, record.mono, record.wall, record.conn))
        elif isinstance(record, Applied):
            try:
                step = decode_step(record.data)
            except msgspec.DecodeError as exc:
                raise CaptureError("capture", 0, f"a step that does not decode ({exc})") from exc
            summary.steps += 1
            state.apply(step)
        elif isinstance(record, State):
            summary.connection_changes += 1
            recorder.emit(
                ConnectionStateChanged(
                    connection=record.conn,
                    old=ConnectionState(record.old),
                    new=ConnectionState(record.new),
                    reason=record.reason,
                    received_at=record.wall,
                )
            )
        elif isinstance(record, Event) and record.kind == "overrun":
            recorder.emit(overrun(record.conn, record.wall))
        elif isinstance(record, Event) and record.kind == "dropped":
            summary.dropped += int(record.detail or 0)
        elif isinstance(record, End):
            summary.dropped += record.dropped

    async def _pace(self, mono: float) -> None:
        speed = self.options.speed or 1.0
        if self._origin is None:
            self._origin = (mono, trio.current_time())
        first, began = self._origin
        due = began + (mono - first) / speed
        if due > trio.current_time():
            await trio.sleep_until(due)
        self.summary.paced = trio.current_time() - began

    def _summarise(self, state: EngineState) -> None:
        summary, marketdata, account = self.summary, state.marketdata, state.account
        for kind, n in marketdata.stats.by_type.items():
            summary.frames[f"public {_channel(kind)}"] = n
        if marketdata.stats.malformed:
            summary.frames["public malformed"] = marketdata.stats.malformed
        for symbol, feed in sorted(marketdata.books.items()):
            summary.books[symbol] = (
                feed.total_verified,
                feed.total_mismatched,
                feed.total_unverified,
                feed.resyncs,
            )
            summary.resyncs += feed.resyncs
        summary.trade_gaps = sum(t.gaps for t in marketdata.trades.values())
        if account is not None:
            for kind, n in account.by_type.items():
                summary.frames[f"private {_channel(kind)}"] = n
            if account.malformed:
                summary.frames["private malformed"] = account.malformed
            summary.gaps = account.gaps
            summary.duplicates = account.duplicates
            summary.resyncs += account.recoveries
            summary.orders = len(account.orders.orders())
            summary.open_orders = len(account.orders.open_orders())
            summary.fills = account.orders.fills
            summary.balances = dict(sorted(account.portfolio.balances.items()))
            for pair in state.pairs:
                base = pair.split("/", 1)[0]
                if base in account.portfolio.balances:
                    summary.positions[pair] = account.portfolio.balances[base]
        summary.reconciliations = state.runs
        summary.reconciliation_failures = state.failures
        last = state.last
        if last is not None:
            summary.last_reconciliation = (
                f"{len(last.discrepancies)} discrepancies, {len(last.corrections)} corrected,"
                f" {len(last.review)} to review"
            )
