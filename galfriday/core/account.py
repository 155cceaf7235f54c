"""The account, the decisions: orders, fills and balances from the private stream (a state
machine).

:class:`AccountMachine` takes the private connection's frames (:meth:`~AccountMachine.receive`)
and the steps of its shell: a subscription sent (:meth:`~AccountMachine.subscribing`), the
socket gone (:meth:`~AccountMachine.disconnected`), a recovery begun and ended, REST answers
(:meth:`~AccountMachine.apply_orders`, :meth:`~AccountMachine.apply_trades`,
:meth:`~AccountMachine.learn_ledger`), an order placed over REST (:meth:`~AccountMachine.placed`).
It emits events to its :class:`~galfriday.core.frames.Sink` and tells the shell what to do
(:class:`Todo`: recover, query orders, resubscribe). It decides; the shell sends and waits.

Rules:

- Each channel's top-level ``sequence`` goes through a
  :class:`~galfriday.core.sequencing.SequenceTracker`: a duplicate is dropped unless it brings
  news (a new fill, a status further along: a late frame of an earlier subscription may carry
  a repeated number); a gap is emitted and answered with a recovery (resubscribe with fresh
  snapshots, then a REST backfill from shortly before the gap).
- A snapshot is authoritative: an open order it leaves out closed while nobody listened and is
  queried over REST at once; its trades are history (a known one changes nothing).
- The stream is :attr:`live` once both channels' fresh snapshots arrived on an open socket.
- A subscribe refused for its token is reported (:attr:`Todo.resubscribe`); the shell gets a
  fresh token and sends it again.
- An open order without news for ``stale_after`` seconds is stale (:meth:`stale`); an order
  the exchange does not know is noted (:attr:`unknown_orders`) and not queried again.
- Balances: spot and earn apart (:class:`~galfriday.core.portfolio.Portfolio`); every balance
  held is emitted with the positions it makes.

Time comes in with the frames and the steps. Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from galfriday.core.frames import Frame, Sink
from galfriday.core.health import ConnectionMetrics
from galfriday.core.orders import OrderTracker
from galfriday.core.portfolio import Portfolio
from galfriday.core.sequencing import SequenceTracker, Verdict
from galfriday.errors import MalformedFrame
from galfriday.events import (
    BalanceRecorded,
    GapDetected,
    LedgerEntryLearnt,
    OrderAnomaly,
    RecoveryFinished,
    ResyncStarted,
)
from galfriday.kraken import wire
from galfriday.kraken.answers import RestLedgerEntry, RestOrder, RestTrade, UnknownPair
from galfriday.kraken.convert import ledger_record, order_report, trade_report
from galfriday.kraken.symbols import SymbolMap

__all__ = ["CHANNELS", "AccountConfig", "AccountMachine", "Todo", "token_refused"]

CHANNELS: Final = ("executions", "balances")


@dataclass(frozen=True)
class AccountConfig:
    stale_after: float = 60.0
    stale_check_every: float = 10.0
    snap_trades: bool = True
    snapshot_wait: float = 10.0  # a recovery waits this long for fresh snapshots, then backfills
    symbols: tuple[str, ...] = ()  # pairs whose positions (base holdings) are audited
    resubscribe_attempts: int = 3  # refused subscribes (new token each) before a reconnect


@dataclass
class Todo:
    """What one frame asks of the shell."""

    recover: str | None = None  # the reason of a recovery to run
    query: list[str] = field(default_factory=list)  # orders to ask REST about now
    resubscribe: list[str] = field(default_factory=list)  # channels refused for their token
    refusals: list[str] = field(default_factory=list)  # other refused subscribes, to log
    reply: wire.Response | None = None  # an answer to a request the shell is waiting for


class AccountMachine:
    """The private stream's state and decisions (see the module docstring).

    Args:
        config: the stream's settings.
        metrics: the private connection's metrics.
        sink: where events go.
        symbols: REST and WebSocket names (for REST answers).
    """

    def __init__(
        self,
        config: AccountConfig,
        metrics: ConnectionMetrics,
        sink: Sink,
        symbols: SymbolMap | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.sink = sink
        self.symbols = symbols or SymbolMap()
        self.orders = OrderTracker()
        self.portfolio = Portfolio()
        self.sequences = {channel: SequenceTracker() for channel in CHANNELS}
        self.decoder = wire.FrameDecoder()
        self.gaps = self.duplicates = self.unexplained_moves = self.recoveries = 0
        self.malformed = self.failed_frames = self.skipped_trades = 0
        self.by_type: dict[type, int] = {}
        self.unknown_orders: set[str] = set()  # open orders the exchange does not know
        self.recovering = False
        self.connected = False
        self.live = False  # subscribed, with fresh snapshots of both channels
        self.snapshotted = False  # the first time both snapshots came (start-up waits on it)
        self.requests: set[int] = set()  # req_ids the shell waits for a reply to
        self._awaited: set[str] = set()  # channels whose snapshot the subscription awaits
        self._subscribes: dict[int, str] = {}  # req_id of a subscribe -> its channel
        self._last_news: dict[str, float] = {}
        self._last_wall: float | None = None  # the last sequenced frame's receive time
        self._gap_since: float | None = None  # ...before the gap the next recovery fills
        self._watchers: list[set[str]] = []

    # --- steps from the shell ------------------------------------------------------------------

    def subscribing(self, subscribes: Mapping[int, str]) -> None:
        """The shell sends these subscribes (req_id -> channel): their sequences start over,
        their snapshots are awaited, a refusal of them will be reported."""
        self.connected = True
        self.live = False
        self._subscribes.update(subscribes)
        for channel in subscribes.values():
            self.sequences[channel].reset()
            self._awaited.add(channel)

    def disconnected(self) -> None:
        """The socket is gone: not live until the next connection's snapshots."""
        self.connected = self.live = False
        self._subscribes.clear()
        self._awaited.clear()
        self.requests.clear()

    @property
    def fresh(self) -> bool:
        """No snapshot awaited any more (a recovery waits for this before its backfill)."""
        return not self._awaited

    def recovery_started(self, reason: str, wall: float) -> float | None:
        """A recovery begins; returns the time the backfill must read from (None: all)."""
        since, self._gap_since = self._gap_since, None
        self.recovering = True
        self.recoveries += 1
        self.sink.emit(
            ResyncStarted(
                stream="private",
                symbol=None,
                reason=reason,
                attempt=self.recoveries,
                received_at=wall,
            )
        )
        return since

    def recovery_finished(self, reason: str, complete: bool, wall: float) -> None:
        self.recovering = False
        self.sink.emit(
            RecoveryFinished(stream="private", reason=reason, complete=complete, received_at=wall)
        )

    def placed(self, report: wire.ExecutionReport, wall: float, mono: float) -> None:
        """An order placed over REST enters the tracker at once (its stream may be down)."""
        self.apply_report(report, wall)
        if report.order_id:
            self._last_news[report.order_id] = mono

    def apply_orders(self, orders: Mapping[str, RestOrder], unknown: set[str], wall: float) -> None:
        """REST order states (``QueryOrders``); ``unknown``: ids the exchange does not know."""
        for order_id, order in orders.items():
            self.apply_report(order_report(order_id, order, self.symbols), wall)
        for order_id in sorted(unknown - self.unknown_orders):
            self._anomaly(
                "order_unknown_to_exchange", order_id, "QueryOrders: EOrder:Invalid order", wall
            )
        self.unknown_orders |= unknown

    def apply_trades(self, trades: Mapping[str, RestTrade], wall: float) -> None:
        """REST trades, oldest first, as history: a known fill changes nothing; a trade of a
        pair the names do not know (delisted) is skipped and counted."""
        for exec_id, trade in sorted(trades.items(), key=lambda kv: kv[1].time):
            try:
                report = trade_report(exec_id, trade, self.symbols)
            except UnknownPair as exc:
                self.skipped_trades += 1
                self._anomaly("trade_of_unknown_pair", trade.ordertxid, str(exc), wall)
                continue
            self.apply_report(report, wall, history=True)

    def learn_ledger(self, entries: Mapping[str, RestLedgerEntry], wall: float) -> None:
        """REST ledger entries the stream never delivered, kept for the record: those its
        balances already hold. A newer one is still on its way (Kraken does not order its
        executions and balances channels); the stream applies it, or a reconciliation finds
        it missed."""
        for ledger_id, entry in sorted(entries.items(), key=lambda kv: kv[1].time):
            if self.portfolio.knows_ledger(ledger_id):
                continue
            record = ledger_record(ledger_id, entry, self.symbols)
            if not self.portfolio.reflects(record.asset, record.time):
                continue
            self.sink.emit(
                LedgerEntryLearnt(
                    ledger_id=ledger_id,
                    ref_id=record.ref_id,
                    asset=record.asset,
                    ledger_type=record.ledger_type,
                    amount=record.amount,
                    fee=record.fee,
                    balance=record.balance,
                    received_at=wall,
                )
            )
            self.portfolio.mark_ledger_seen(ledger_id, wall)

    def backfill_incomplete(self, detail: str, wall: float) -> None:
        self._anomaly("backfill_not_covered", None, detail, wall)

    def stale(self, now: float) -> list[str]:
        """Open orders without news for ``stale_after`` seconds (not those the exchange does
        not know)."""
        limit = self.config.stale_after
        return [
            o.order_id
            for o in self.orders.open_orders()
            if now - self._last_news.get(o.order_id, now) >= limit
            and o.order_id not in self.unknown_orders
        ]

    def queried(self, order_ids: list[str], now: float, *, failed: bool) -> None:
        """A stale-order query was made at ``now``; a failed one is due again at the next
        check, not ``stale_after`` later."""
        at = now - self.config.stale_after if failed else now
        for order_id in order_ids:
            self._last_news[order_id] = at

    def record_balance(self, asset: str, balance: Decimal, wall: float) -> None:
        """Set ``asset``'s spot balance (from the stream, or a correction) and emit it."""
        for watcher in self._watchers:
            watcher.add(asset)
        self.portfolio.balances[asset] = balance
        symbols = tuple(s for s in self.config.symbols if s.split("/", 1)[0] == asset)
        self.sink.emit(
            BalanceRecorded(
                asset=asset,
                balance=balance,
                earn=self.portfolio.earn.get(asset, Decimal(0)),
                symbols=symbols,
                received_at=wall,
            )
        )

    @contextmanager
    def watching(self) -> Iterator[set[str]]:
        """A set that collects, while the block runs, every order id and asset the stream
        changes (reconciliation defers those: the exchange's answers may predate them)."""
        moved: set[str] = set()
        self._watchers.append(moved)
        try:
            yield moved
        finally:
            self._watchers.remove(moved)

    # --- frames --------------------------------------------------------------------------------

    def receive(self, frame: Frame) -> Todo:
        """Apply one frame; what it asks of the shell."""
        todo = Todo()
        try:
            message = self.decoder.decode(frame.raw)
        except MalformedFrame as exc:
            self.malformed += 1
            self.sink.emit(frame.refused(exc.path, exc.reason, exc.raw))
            return todo
        kind = type(message)
        self.by_type[kind] = self.by_type.get(kind, 0) + 1
        if isinstance(message, wire.ExecutionsMessage | wire.BalancesMessage):
            self._sequenced(message, frame, todo)
        elif isinstance(message, wire.Response):
            self._response(message, todo)
        return todo

    def _response(self, message: wire.Response, todo: Todo) -> None:
        req_id = message.req_id
        if req_id is not None and req_id in self.requests:
            todo.reply = message
        elif req_id is not None and req_id in self._subscribes:
            channel = self._subscribes.pop(req_id)
            if not message.ok and _token_refused(message.error or ""):
                todo.resubscribe.append(channel)
            elif not message.ok:
                todo.refusals.append(f"subscribe {channel}: {message.error}")

    def _sequenced(
        self, message: wire.ExecutionsMessage | wire.BalancesMessage, frame: Frame, todo: Todo
    ) -> None:
        executions = isinstance(message, wire.ExecutionsMessage)
        channel = "executions" if executions else "balances"
        tracker, wall = self.sequences[channel], frame.received_wall
        snapshot = message.type == "snapshot"
        if snapshot:
            tracker.reset()
            self._snapshot_arrived(channel)
        if message.sequence is not None:
            verdict = tracker.observe(message.sequence)
            if verdict.verdict is Verdict.DUPLICATE:
                self.duplicates += 1
                if isinstance(message, wire.ExecutionsMessage):
                    for report in message.data:  # a repeated number may still bring news
                        if self.orders.would_change(report):
                            self.apply_report(report, wall)
                return
            if verdict.verdict is Verdict.GAP and verdict.missing is not None:
                first, last = verdict.missing
                self.gaps += 1
                self.sink.emit(
                    GapDetected(stream=channel, first=first, last=last, received_at=wall)
                )
                todo.recover = f"{channel} sequence gap {first}..{last}"
                if self._gap_since is None:  # the stream was whole up to the previous frame
                    self._gap_since = self._last_wall or wall
        self._last_wall = wall
        self.metrics.channel_update(channel, "", frame.received_mono)
        if isinstance(message, wire.ExecutionsMessage):
            for report in message.data:
                self.apply_report(report, wall, history=snapshot)
                if report.order_id:
                    self._last_news[report.order_id] = frame.received_mono
            if snapshot:  # open orders it leaves out closed while nobody listened
                listed = {r.order_id for r in message.data if r.exec_type != "trade"}
                todo.query = [
                    o.order_id for o in self.orders.open_orders() if o.order_id not in listed
                ]
        else:
            self._balances(message, wall)

    def _snapshot_arrived(self, channel: str) -> None:
        if channel in self._awaited:
            self._awaited.discard(channel)
            if not self._awaited:
                self.snapshotted = True
                self.live = self.connected

    def apply_report(
        self, report: wire.ExecutionReport, wall: float, *, history: bool = False
    ) -> None:
        """One execution report (from the stream, a snapshot, or REST) into the tracker."""
        for watcher in self._watchers:
            watcher.add(report.order_id or "")
        for event in self.orders.apply(report, wall, history=history):
            self.sink.emit(event)

    def _balances(self, message: wire.BalancesMessage, wall: float) -> None:
        portfolio = self.portfolio
        if message.type == "snapshot":
            changes = portfolio.apply_snapshot(message.data, wall)
        else:
            changes = [c for e in message.data if (c := portfolio.apply_ledger(e, wall))]
        for change in changes:
            self.sink.emit(change)
            if change.unexplained is not None:
                self.unexplained_moves += 1
            self.record_balance(change.asset, change.balance, wall)

    def _anomaly(self, kind: str, order_id: str | None, detail: str, wall: float) -> None:
        self.sink.emit(OrderAnomaly(kind=kind, order_id=order_id, detail=detail, received_at=wall))


def token_refused(error: str) -> bool:
    """Kraken refused the token (it invalidated it, or it was no longer guaranteed)."""
    text = error.lower()
    return "invalid token" in text or "invalid session" in text


_token_refused = token_refused
