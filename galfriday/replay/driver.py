"""The replay driver: a capture fed through the engine's own code, into a new audit database.

The replay builds a real :class:`~galfriday.live.engine.Engine` from the capture's header (its
market-data, private-stream and reconciliation settings) with two stand-ins at the boundary:
a :class:`ReplayTape` and, for REST, a :class:`ReplayTransport`. Then, record by record:

- a frame received goes to its processor (:meth:`MarketData.handle`,
  :meth:`PrivateStream.process`), synchronously, as the live loop did;
- an operation (a connect's subscriptions, a resync, a recovery, a stale-order query, a
  reconciliation run, a review decision, the ``AssetPairs`` load) starts the same method in a
  task. Whenever it sends a frame, calls REST or reads an input, it waits until the driver
  reaches the record of that I/O, gets the recorded answer, and runs on until its next I/O
  (``wait_all_tasks_blocked``) before the driver moves on. Every state change therefore
  happens at the same place in the sequence as it did live, and the audit rows come out the
  same;
- a connection state change becomes its ``connection_events`` row, as live.

Nothing reads a clock for what is recorded: processors take the frames' times, operations
their recorded start. Only the replay's own measurements (``duration_ms`` of a run, the
``rest_calls`` table) differ between two replays of one capture.

Options: ``speed`` paces records by their monotonic timestamps (1 = as recorded); ``start`` and
``end`` (wall clock) bound the window: records before ``start`` still build state, but write no
audit rows; ``symbols`` narrows the market data (the account is always replayed whole).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import msgspec
import trio
import trio.testing
from loguru import logger

from galfriday.capture.format import (
    End,
    Event,
    Header,
    HttpResponse,
    Input,
    Op,
    Record,
    State,
    WsIn,
    WsOut,
)
from galfriday.capture.tape import Tape, current_op
from galfriday.events import ConnectionState
from galfriday.live.connection import Frame, audit_state
from galfriday.live.engine import Engine, EngineConfig
from galfriday.live.marketdata import MarketDataConfig
from galfriday.live.private import PrivateConfig
from galfriday.reconcile.run import ReconcileConfig

__all__ = [
    "ReplayOptions",
    "ReplaySession",
    "ReplaySummary",
    "ReplayTape",
    "ReplayTransport",
    "Replayer",
    "engine_config",
]

IO = TypeVar("IO", WsOut, HttpResponse, Input)
YIELD_EVERY: Final = 2_000  # records between checkpoints (the audit writer needs the loop)
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
    ops: int = 0
    ops_unfinished: int = 0
    ops_failed: int = 0
    ops_unknown: int = 0
    unmatched_io: int = 0
    dropped: int = 0
    first_wall: float | None = None
    last_wall: float | None = None
    elapsed: float = 0.0  # seconds the replay took
    paced: float = 0.0  # with a speed: seconds between the first and last record of the window

    @property
    def frame_count(self) -> int:
        return sum(self.frames.values())


class ReplayTape(Tape):
    """Gives each operation the recorded answers to its I/O, in order."""

    def __init__(self, session: str) -> None:
        super().__init__(session)
        self._script: Op | None = None
        self._waiting: dict[int, deque[Record]] = {}
        self._lot = trio.lowlevel.ParkingLot()
        self._unrecorded = 0
        self.unmatched = 0

    def script(self, op: Op) -> None:
        """The next ``op()`` to open is this recorded one."""
        self._script = op
        self._waiting.setdefault(op.id, deque())

    def _begin(self, name: str, args: dict[str, Any]) -> Op:
        script, self._script = self._script, None
        if script is not None and script.name == name:
            return script
        self._unrecorded -= 1  # an operation this capture does not hold: its I/O finds nothing
        self.unmatched += 1
        return Op(self._unrecorded, name, 0.0, 0.0, args)

    def deliver(self, record: WsOut | HttpResponse | Input) -> bool:
        """Hand a recorded answer to its operation; False if no such operation is running."""
        assert record.op is not None
        queue = self._waiting.get(record.op)
        if queue is None:
            return False
        queue.append(record)
        self._lot.unpark_all()
        return True

    def finish(self, op_id: int) -> None:
        left = self._waiting.pop(op_id, None)
        self.unmatched += len(left or ())

    async def take(self, kind: type[IO]) -> IO | None:
        """The calling operation's next recorded ``kind``; None outside a recorded operation."""
        op = current_op()
        queue = self._waiting.get(op.id) if op is not None else None
        if queue is None:
            await trio.lowlevel.checkpoint()
            return None
        while True:
            for index, record in enumerate(queue):
                if isinstance(record, kind):
                    del queue[index]
                    self.unmatched += index  # the operation skipped I/O it made live
                    for _ in range(index):
                        queue.popleft()
                    return record
            await self._lot.park()

    async def read_input(self, name: str, fetch: Callable[[], Any]) -> Any:
        record = await self.take(Input)
        return record.value if record is not None else await fetch()

    def stamp(self) -> tuple[float, float]:
        return trio.current_time(), 0.0


class ReplaySession:
    """The connection an operation talks to during a replay: sends wait for their record."""

    def __init__(self, tape: ReplayTape) -> None:
        self._tape = tape
        self._req_id = 0

    def next_req_id(self) -> int:
        self._req_id += 1
        return self._req_id

    async def send(self, frame: bytes | str) -> None:
        await self._tape.take(WsOut)

    def set_state(self, state: ConnectionState, reason: str = "") -> None:
        """State changes come from the capture's own records."""


class ReplayTransport(httpx.AsyncBaseTransport):
    """REST for a replay: each request gets the response its operation got live."""

    def __init__(self, tape: ReplayTape) -> None:
        self._tape = tape

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        record = await self._tape.take(HttpResponse)
        if record is None:
            raise httpx.ConnectError("not in the capture", request=request)
        if record.error is not None:
            raise httpx.ConnectError(record.error, request=request)
        return httpx.Response(record.status, content=record.body.encode(), request=request)


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


class Replayer:
    """Feeds records to one engine. Use :meth:`run` inside trio."""

    def __init__(
        self,
        header: Header,
        options: ReplayOptions,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.header = header
        self.options = options
        self.progress = progress
        self.tape = ReplayTape(header.session)
        self.summary = ReplaySummary()
        self._config = engine_config(header, options)
        self._origin: tuple[float, float] | None = (
            None  # (record mono, trio time) when pacing began
        )

    async def run(self, blocks: Iterable[list[Record]]) -> ReplaySummary:
        """Replay every record of ``blocks``; returns the summary."""
        started = trio.current_time()
        engine = Engine(self._config, tape=self.tape, transport=ReplayTransport(self.tape))
        engine.audit_muted = self.options.start is not None
        sessions = {"public": ReplaySession(self.tape), "private": ReplaySession(self.tape)}
        try:
            async with engine.rest, trio.open_nursery() as nursery:
                await nursery.start(engine.audit.run)
                async with trio.open_nursery() as ops:
                    await self._feed(engine, sessions, blocks, ops)
                    self.summary.ops_unfinished = len(self.tape._waiting)
                    ops.cancel_scope.cancel()
                await engine.audit.flush()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(engine.store.close)
        self._summarise(engine)
        self.summary.elapsed = trio.current_time() - started
        return self.summary

    async def _feed(
        self,
        engine: Engine,
        sessions: dict[str, ReplaySession],
        blocks: Iterable[list[Record]],
        ops: trio.Nursery,
    ) -> None:
        summary, options = self.summary, self.options
        handlers: dict[str, Callable[[Frame], object]] = {"public": engine.marketdata.handle}
        if engine.account is not None:
            handlers["private"] = engine.account.process
        windowed = options.start is not None or options.end is not None or bool(options.speed)
        count = 0
        for block in blocks:
            for record in block:
                count += 1
                if type(record) is WsIn and not windowed:  # the common case, kept short
                    handler = handlers.get(record.conn)
                    if handler is not None:
                        handler(Frame(record.text, record.mono, record.wall, record.conn))
                    if summary.first_wall is None:
                        summary.first_wall = record.wall
                    summary.last_wall = record.wall
                    continue
                wall = getattr(record, "wall", None)
                if wall is not None and not isinstance(record, Header):
                    if options.end is not None and wall > options.end:
                        summary.records = count - 1
                        return
                    if engine.audit_muted and options.start is not None and wall >= options.start:
                        engine.audit_muted = False
                    if not engine.audit_muted:
                        if summary.first_wall is None:
                            summary.first_wall = wall
                        summary.last_wall = wall
                        if options.speed:
                            await self._pace(record.mono)
                if isinstance(record, WsIn):
                    handler = handlers.get(record.conn)
                    if handler is not None:
                        handler(Frame(record.text, record.mono, record.wall, record.conn))
                elif isinstance(record, Op):
                    self._start(record, engine, sessions, ops)
                    await trio.testing.wait_all_tasks_blocked()
                elif isinstance(record, WsOut | HttpResponse | Input):
                    if record.op is not None and self.tape.deliver(record):
                        await trio.testing.wait_all_tasks_blocked()
                elif isinstance(record, State):
                    summary.connection_changes += 1
                    audit_state(
                        engine.write, record.conn, record.old, record.new, record.reason, wall or 0
                    )
                elif isinstance(record, Event) and record.kind == "dropped":
                    summary.dropped += int(record.detail or 0)
                elif isinstance(record, End):
                    summary.dropped += record.dropped
            summary.records = count
            if self.progress is not None:
                self.progress(count)
            await trio.lowlevel.checkpoint()
            if engine.audit.queued - engine.audit.written > AUDIT_BACKLOG:
                await engine.audit.flush()

    async def _pace(self, mono: float) -> None:
        speed = self.options.speed
        assert speed
        if self._origin is None:
            self._origin = (mono, trio.current_time())
        first, began = self._origin
        due = began + (mono - first) / speed
        if due > trio.current_time():
            await trio.sleep_until(due)
        self.summary.paced = trio.current_time() - began

    def _start(
        self, op: Op, engine: Engine, sessions: dict[str, ReplaySession], ops: trio.Nursery
    ) -> None:
        marketdata, account, reconciler = engine.marketdata, engine.account, engine.reconciler
        args = op.args
        action: Callable[[], Any] | None = None
        if op.name == "connect":
            # Live, the connection opens this operation around its owner's hook.
            conn = str(args.get("conn"))
            hook = {"public": marketdata.on_connect}
            if account is not None:
                hook["private"] = account.on_connect
            if conn in hook:
                on_connect, session = hook[conn], sessions[conn]

                async def connect() -> None:
                    with self.tape.op("connect", conn=conn):
                        await on_connect(session)

                action = connect
        elif op.name == "prepare" and account is not None and args.get("conn") == "private":
            # Live, the connection opens this operation around its owner's preparation.
            prepare = account.prepare

            async def prepared() -> None:
                with self.tape.op("prepare", conn="private"):
                    await prepare()

            action = prepared
        elif op.name == "resubscribe" and account is not None:
            action = lambda: account.resubscribe(list(args["channels"]))  # noqa: E731
        elif op.name == "pairs":
            action = engine.load_pairs
        elif op.name == "resync":
            action = lambda: marketdata.resync(str(args["symbol"]), str(args["reason"]))  # noqa: E731
        elif op.name == "add_symbols":
            action = lambda: marketdata.add_symbols(args["symbols"])  # noqa: E731
        elif op.name == "remove_symbols":
            action = lambda: marketdata.remove_symbols(args["symbols"])  # noqa: E731
        elif op.name == "recover" and account is not None:
            action = lambda: account.recover(str(args["reason"]))  # noqa: E731
        elif op.name == "stale_orders" and account is not None:
            action = lambda: account.refresh_stale(list(args["order_ids"]))  # noqa: E731
        elif op.name == "placed" and account is not None:
            order = {k: v for k, v in args.items() if k != "order_id"}
            action = lambda: account.placed(str(args["order_id"]), **order)  # noqa: E731
        elif op.name == "reconcile" and reconciler is not None:
            action = lambda: reconciler.run_once(str(args["kind"]))  # noqa: E731
        elif op.name == "decision" and reconciler is not None:
            row = dict(args["row"])

            async def decide() -> None:
                reconciler.apply_decision(row)

            action = decide
        if action is None:
            self.summary.ops_unknown += 1
            logger.warning("replay: operation {} ({}) has no replay; skipped", op.name, op.id)
            return
        self.summary.ops += 1
        ops.start_soon(self._run_op, op, action)

    async def _run_op(self, op: Op, action: Callable[[], Any]) -> None:
        self.tape.script(op)
        try:
            await action()
        except Exception as exc:  # an op that failed live may fail again; the replay goes on
            self.summary.ops_failed += 1
            logger.info(
                "replay: operation {} {} ended with {}: {}", op.id, op.name, type(exc).__name__, exc
            )
        finally:
            self.tape.finish(op.id)

    def _summarise(self, engine: Engine) -> None:
        summary, marketdata, account = self.summary, engine.marketdata, engine.account
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
            machine = account.machine
            for kind, n in machine.by_type.items():
                summary.frames[f"private {_channel(kind)}"] = n
            if machine.malformed:
                summary.frames["private malformed"] = machine.malformed
            summary.gaps = machine.gaps
            summary.duplicates = machine.duplicates
            summary.resyncs += machine.recoveries
            summary.orders = len(list(account.orders.orders()))
            summary.open_orders = len(account.orders.open_orders())
            summary.fills = account.orders.fills
            summary.balances = dict(sorted(account.portfolio.balances.items()))
            for pair in engine.pairs:
                base = pair.split("/", 1)[0]
                if base in account.portfolio.balances:
                    summary.positions[pair] = account.portfolio.balances[base]
        reconciler = engine.reconciler
        if reconciler is not None:
            summary.reconciliations = reconciler.runs
            summary.reconciliation_failures = reconciler.failures
            last = reconciler.last
            if last is not None:
                summary.last_reconciliation = (
                    f"{len(last.discrepancies)} discrepancies, {len(last.corrections)} corrected,"
                    f" {len(last.review)} to review"
                )
        summary.unmatched_io = self.tape.unmatched
