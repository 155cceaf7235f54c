"""The private stream: orders, fills and balances, with gap recovery and REST fallback.

:class:`PrivateStream` is the private connection's preparation and subscription hook (a fresh
token from REST before every connect, then ``executions`` with open orders and the last fills,
and ``balances``) and the processor of its frames. Each channel's top-level ``sequence`` goes
through a :class:`~galfriday.core.sequencing.SequenceTracker`:

- a duplicate is dropped;
- a gap is published, audited, and recovered: both channels are subscribed again (their
  snapshots are authoritative) and REST fills the hole (``TradesHistory`` for fills,
  ``QueryOrders`` for order states, ``Ledgers`` for the ledger). Everything is deduplicated
  (fills by ``exec_id``, ledger by ``ledger_id``), so nothing is lost and nothing counts twice.

Tokens: a token is only guaranteed while a private subscription uses it, so every subscription
after the socket's first (a recovery's) gets a fresh one; a subscribe refused for its token
(``EAPI:Invalid token``, ``ESession:Invalid session``) gets a fresh token and is sent again,
up to ``resubscribe_attempts`` times, then the connection is rebuilt.

The backfill reads every page of REST's trade and ledger history since shortly before the gap
(:mod:`galfriday.kraken.history`), within the call budget; a window it could not cover is
audited as an anomaly.

Stale orders: an open order without news for ``stale_after`` seconds is queried over REST, and
so, at once, is every open order an ``executions`` snapshot leaves out (it closed while the
stream was down, and its final report is not in the snapshot).
Every change is audited (orders, order events, fills, ledger, balances, positions).

:attr:`PrivateStream.live` is set while the stream is subscribed with fresh snapshots; work that
only makes sense on a live stream (reconciliation) waits for it (:meth:`wait_live`). No frame
can stop the stream: a frame that raises is counted, logged and audited as a decode error.

Replay: recoveries and stale-order queries are tape operations and everything they record is
stamped with the operation's time, so ``galfriday replay`` reproduces them from a capture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import trio
from loguru import logger

from galfriday.bus import Bus
from galfriday.capture.tape import Tape, op_wall
from galfriday.core.health import ConnectionMetrics
from galfriday.core.orders import OrderTracker
from galfriday.core.portfolio import Portfolio
from galfriday.core.sequencing import SequenceTracker, Verdict
from galfriday.errors import (
    ConnectionBroken,
    GalfridayError,
    RequestUnanswered,
    reading,
)
from galfriday.events import (
    BalanceChange,
    ConnectionState,
    FillEvent,
    GapDetected,
    OrderAnomaly,
    OrderUpdate,
    RecoveryFinished,
)
from galfriday.kraken import history, wire
from galfriday.kraken import requests as rq
from galfriday.kraken.answers import UnknownPair
from galfriday.kraken.convert import ledger_record, order_report, trade_report
from galfriday.kraken.ratelimit import Priority
from galfriday.kraken.rest import KrakenRest, rest_priority
from galfriday.kraken.symbols import SymbolMap
from galfriday.live.connection import Frame, Session
from galfriday.live.notify import announce_resync, decode_or_audit

__all__ = ["PrivateConfig", "PrivateStream"]

CHANNELS: Final = ("executions", "balances")
BACKFILL_MARGIN: Final = 60.0  # seconds of history before a gap that the backfill reads too


@dataclass
class _Pending:
    done: trio.Event = field(default_factory=trio.Event)
    response: wire.Response | None = None


@dataclass(frozen=True)
class PrivateConfig:
    stale_after: float = 60.0
    stale_check_every: float = 10.0
    snap_trades: bool = True
    snapshot_wait: float = 10.0  # a recovery waits this long for fresh snapshots, then backfills
    symbols: tuple[str, ...] = ()  # pairs whose positions (base holdings) are audited
    resubscribe_attempts: int = 3  # refused subscribes (new token each) before a reconnect


class PrivateStream:
    """Processes the private connection's frames; publishes account events."""

    def __init__(
        self,
        config: PrivateConfig,
        bus: Bus,
        metrics: ConnectionMetrics,
        rest: KrakenRest,
        audit: Callable[..., None] | None = None,
        symbols: SymbolMap | None = None,
        tape: Tape | None = None,
    ) -> None:
        self.config = config
        self.tape = tape or Tape()
        self.bus = bus
        self.metrics = metrics
        self.rest = rest
        self._audit = audit or (lambda table, **row: None)
        self.symbols = symbols or SymbolMap()
        self.orders = OrderTracker()
        self.portfolio = Portfolio()
        self.sequences = {channel: SequenceTracker() for channel in CHANNELS}
        self.decoder = wire.FrameDecoder()
        self.token: str | None = None
        self._token_fresh = False  # fetched and not yet used for a subscription
        self.request_reconnect: Callable[[str], None] | None = None  # set by the engine
        self.gaps = 0
        self.duplicates = 0
        self.unexplained_moves = 0
        self.vanished: list[str] = []  # open orders a snapshot left out, to query over REST
        self.unknown_orders: set[str] = set()  # open orders the exchange says it does not know
        self.skipped_trades = 0  # REST trades of pairs the names do not know (delisted)
        self._last_wall: float | None = None  # the last sequenced frame's receive time
        self._gap_since: float | None = None  # ...before the gap the next recovery fills
        self._watchers: list[set[str]] = []
        self.recoveries = 0
        self.malformed = 0
        self.by_type: dict[type, int] = {}
        self._session: Session | None = None
        self._last_news: dict[str, float] = {}
        self._recovering = False
        self._pending: dict[int, _Pending] = {}
        # Channels whose snapshot the latest subscription still awaits; ``_fresh`` is set when
        # none is left, ``snapshots`` the first time that happens (start-up waits on it).
        self._awaited: set[str] = set()
        self._fresh = trio.Event()
        self.snapshots = trio.Event()
        self._live = trio.Event()
        self._subscribes: dict[int, str] = {}  # req_id of a subscribe -> its channel
        self.refused: list[tuple[str, str]] = []  # (channel, error) of refused subscribes
        self._refusals = 0
        self.failed_frames = 0

    # --- subscriptions ---------------------------------------------------------------------

    async def prepare(self) -> None:
        """Fetch a token for the next connection (before its socket opens: nothing slow may
        run while an open socket waits for its subscriptions)."""
        self.token = await self.rest.websocket_token()
        self._token_fresh = True

    async def on_connect(self, session: Session) -> None:
        """``executions`` and ``balances`` with snapshots, with the token just prepared."""
        self._session = None
        if not self._token_fresh:
            await self.prepare()
        session.set_state(ConnectionState.AUTHENTICATED)
        self._session = session
        self._refusals = 0
        for tracker in self.sequences.values():
            tracker.reset()
        await self._subscribe(session, CHANNELS)

    def disconnected(self) -> None:
        """The socket is gone: no session, not live, until the next connection's snapshots."""
        self._session = None
        self._live = trio.Event()
        self._subscribes.clear()

    @property
    def live(self) -> bool:
        """Subscribed, with fresh snapshots of both channels."""
        return self._live.is_set()

    async def wait_live(self) -> None:
        """Wait until the stream is :attr:`live`."""
        await self._live.wait()

    async def _subscribe(self, session: Session, channels: tuple[str, ...]) -> None:
        self._awaited, self._fresh = set(channels), trio.Event()
        self._token_fresh = False
        token = self.token or ""
        for channel in channels:
            if channel == "executions":
                params = rq.SubscriptionParams(
                    channel="executions",
                    token=token,
                    snap_orders=True,
                    snap_trades=self.config.snap_trades,
                )
            else:
                params = rq.SubscriptionParams(channel="balances", token=token, snapshot=True)
            req_id = session.next_req_id()
            self._subscribes[req_id] = channel
            await session.send(rq.subscribe(params, req_id))

    async def resubscribe_refused(self) -> None:
        """Subscribe again the channels whose subscribe was refused for its token (a fresh
        token first); other refusals are only logged. Past ``resubscribe_attempts`` refusals
        in a row the connection is rebuilt."""
        refused, self.refused = self.refused, []
        channels = tuple(c for c, error in refused if _token_refused(error))
        session = self._session
        if not channels or session is None:
            return
        self._refusals += 1
        if self._refusals > self.config.resubscribe_attempts:
            if self.request_reconnect is not None:
                self.request_reconnect(f"private subscribe refused {self._refusals - 1} times")
            return
        with self.tape.op("resubscribe", channels=list(channels)) as op:
            logger.warning(
                "private subscribe refused for its token; a fresh token for {}",
                ", ".join(op.args["channels"]),
            )
            await self.prepare()
            await self._subscribe(session, tuple(op.args["channels"]))

    @property
    def recovering(self) -> bool:
        """A recovery (resubscription and REST backfill) is under way."""
        return self._recovering

    async def recover(self, reason: str) -> None:
        """Resubscribe both channels (fresh snapshots) and backfill from REST."""
        if self._recovering:
            return
        with self.tape.op("recover", reason=reason) as op:
            await self._recover(reason, op.wall)

    async def _recover(self, reason: str, wall: float) -> None:
        since, self._gap_since = self._gap_since, None
        self._recovering = True
        self.recoveries += 1
        announce_resync(self.bus, self._audit, "private", None, reason, self.recoveries, wall)
        complete = False
        try:
            session = self._session
            if session is not None:
                token = self.token or ""
                for channel in CHANNELS:
                    params = rq.SubscriptionParams(channel=channel, token=token)
                    await session.send(rq.unsubscribe(params, session.next_req_id()))
                for tracker in self.sequences.values():
                    tracker.reset()
                # With no subscription left, the token is no longer guaranteed.
                with rest_priority(Priority.RECOVERY):
                    await self.prepare()
                await self._subscribe(session, CHANNELS)
                # The backfill deduplicates against what the snapshots bring, and whoever
                # reacts to the end of the recovery (reconciliation) sees a settled stream.
                with trio.move_on_after(self.config.snapshot_wait):
                    await self._fresh.wait()
                if self._awaited:
                    logger.warning("private recovery: no fresh {} snapshot", sorted(self._awaited))
            with rest_priority(Priority.BACKFILL):
                await self.backfill(since)
            complete = True
        except GalfridayError as exc:
            logger.warning("private recovery incomplete: {}", exc)
        finally:
            self._recovering = False
            self.bus.publish(
                RecoveryFinished(
                    stream="private", reason=reason, complete=complete, received_at=wall
                )
            )

    async def backfill(self, since: float | None = None) -> None:
        """Fill what the stream missed from REST (trades, order states, ledger entries after
        ``since``, all pages of it within the call budget), deduplicated against what we have.
        A trade of a pair the names do not know (a delisted pair) is skipped and counted."""
        wall = op_wall()
        start = None if since is None else since - BACKFILL_MARGIN
        trades = await history.trades_history(self.rest, start=start)
        for exec_id, trade in sorted(trades.rows.items(), key=lambda kv: kv[1].time):
            try:
                report = trade_report(exec_id, trade, self.symbols)
            except UnknownPair as exc:
                self.skipped_trades += 1
                self._anomaly("trade_of_unknown_pair", trade.ordertxid, str(exc), wall)
                continue
            self._apply_report(report, wall, history=True)  # a known fill is no news
        open_ids = [o.order_id for o in self.orders.open_orders()]
        if open_ids:
            await self.query_orders(open_ids)
        entries = await history.ledgers(self.rest, start=start)
        for ledger_id, entry in sorted(entries.rows.items(), key=lambda kv: kv[1].time):
            if self.portfolio.knows_ledger(ledger_id):
                continue
            record = ledger_record(ledger_id, entry, self.symbols)
            self._audit(
                "balance_ledger",
                at_wall=wall,
                ledger_id=ledger_id,
                ref_id=record.ref_id,
                asset=record.asset,
                ledger_type=record.ledger_type,
                amount=record.amount,
                fee=record.fee,
                balance=record.balance,
            )
            self.portfolio.mark_ledger_seen(ledger_id, wall)
        for name, window in (("TradesHistory", trades), ("Ledgers", entries)):
            if not window.covered:
                detail = f"{name}: {window.pages} pages did not cover the gap's window"
                logger.warning("private backfill incomplete: {}", detail)
                self._anomaly("backfill_not_covered", None, detail, wall)

    def _anomaly(self, kind: str, order_id: str | None, detail: str, wall: float) -> None:
        self._audit("order_anomalies", at_wall=wall, kind=kind, order_id=order_id, detail=detail)

    async def placed(
        self,
        order_id: str,
        *,
        symbol: str,
        side: str,
        order_type: str,
        qty: str,
        limit_price: str | None,
        cl_ord_id: str | None,
    ) -> None:
        """An order we placed over REST enters the tracker as ``pending_new`` (a tape
        operation, so replay does the same); the stream, a snapshot or a query moves it on."""
        with self.tape.op(
            "placed",
            order_id=order_id,
            symbol=symbol,
            side=side,
            order_type=order_type,
            qty=qty,
            limit_price=limit_price,
            cl_ord_id=cl_ord_id,
        ) as op:
            report = wire.ExecutionReport(
                exec_type="pending_new",
                order_id=order_id,
                order_status="pending_new",
                symbol=symbol,
                side=side,
                order_type=order_type,
                order_qty=Decimal(qty),
                limit_price=None if limit_price is None else Decimal(limit_price),
                cl_ord_id=cl_ord_id,
            )
            self._apply_report(report, op.wall)
            self._last_news[order_id] = trio.current_time()

    async def query_orders(self, order_ids: list[str]) -> None:
        """Bring orders up to date from REST ``QueryOrders``. An order the exchange does not
        know (``EOrder:Invalid order``) is noted in :attr:`unknown_orders` and audited as an
        anomaly; it is not queried again (reconciliation puts it in front of a person)."""
        wall = op_wall()
        result, unknown = await history.query_orders(self.rest, order_ids, trades=True)
        for order_id, order in result.items():
            self._apply_report(order_report(order_id, order, self.symbols), wall)
        for order_id in sorted(unknown - self.unknown_orders):
            logger.warning("order {} is unknown to the exchange", order_id)
            self._anomaly(
                "order_unknown_to_exchange", order_id, "QueryOrders: EOrder:Invalid order", wall
            )
        self.unknown_orders |= unknown

    async def watch_stale_orders(self) -> None:
        """Query over REST the open orders that have had no news for ``stale_after``."""
        while True:
            await trio.sleep(self.config.stale_check_every)
            now = trio.current_time()
            stale = [
                o.order_id
                for o in self.orders.open_orders()
                if now - self._last_news.get(o.order_id, now) >= self.config.stale_after
                and o.order_id not in self.unknown_orders
            ]
            if stale:
                await self.refresh_stale(stale)

    async def refresh_stale(self, order_ids: list[str]) -> None:
        """Query orders that have gone quiet or vanished (a tape operation). A query that
        fails is tried again at the stale-order watcher's next pass, not a minute later."""
        with self.tape.op("stale_orders", order_ids=order_ids) as op:
            logger.info("querying {} stale orders over REST", len(order_ids))
            now = trio.current_time()
            try:
                with reading("QueryOrders"):
                    await self.query_orders(op.args["order_ids"])
            except GalfridayError as exc:
                logger.warning("stale order query failed (tried again soon): {}", exc)
                now -= self.config.stale_after
            for order_id in order_ids:
                self._last_news[order_id] = now

    # --- processing ------------------------------------------------------------------------

    async def run(
        self,
        frames: trio.MemoryReceiveChannel[Frame],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        async with frames, trio.open_nursery() as nursery:
            nursery.start_soon(self.watch_stale_orders)
            tape = self.tape
            async for frame in frames:
                tape.ws_in(frame.connection, frame.received_mono, frame.received_wall, frame.raw)
                gap = self.process(frame)
                if gap is not None:
                    nursery.start_soon(self.recover, gap)
                if self.vanished:
                    nursery.start_soon(self.refresh_stale, self.vanished)
                    self.vanished = []
                if self.refused:
                    nursery.start_soon(self.resubscribe_refused)
            nursery.cancel_scope.cancel()

    def process(self, frame: Frame) -> str | None:
        """Apply one frame; returns a reason when the stream needs recovery. Never raises: a
        frame that breaks something of ours is counted, logged and audited, and skipped."""
        try:
            return self._process(frame)
        except Exception as exc:  # one bad frame must never stop the account stream
            self.failed_frames += 1
            logger.exception("private frame failed: {}", frame.raw[:200])
            self._audit(
                "decode_errors",
                at_wall=frame.received_wall,
                connection=frame.connection,
                path="$",
                reason=f"{type(exc).__name__}: {exc}"[:500],
                raw=frame.raw[:200],
            )
            return None

    def _process(self, frame: Frame) -> str | None:
        message = decode_or_audit(self.decoder, frame, self._audit)
        if message is None:
            self.malformed += 1
            return None
        kind = type(message)
        self.by_type[kind] = self.by_type.get(kind, 0) + 1
        if isinstance(message, wire.ExecutionsMessage | wire.BalancesMessage):
            channel = "executions" if isinstance(message, wire.ExecutionsMessage) else "balances"
            return self._sequenced(channel, message, frame)
        if isinstance(message, wire.Response):
            req_id = message.req_id
            pending = self._pending.get(req_id) if req_id is not None else None
            if pending is not None:
                pending.response = message
                pending.done.set()
            elif req_id is not None and req_id in self._subscribes:
                channel = self._subscribes.pop(req_id)
                if not message.ok:
                    logger.warning("private subscribe {} refused: {}", channel, message.error)
                    self.refused.append((channel, message.error or ""))
            elif not message.ok and message.method != "pong":
                logger.warning("private request refused: {} {}", message.method, message.error)
        return None

    async def request(self, build: Callable[[str, int], bytes], wait: float) -> wire.Response:
        """Send a token-bearing request on the private socket and wait for its reply.

        Args:
            build: makes the frame from (token, req_id).
            wait: seconds to wait for the reply.

        A reply refusing the token (``EAPI:Invalid token`` or ``ESession:Invalid session``:
        Kraken invalidated it, e.g. after an upgrade) gets a fresh token from REST and one
        more try; the refused request was not executed, so it cannot happen twice.

        Raises:
            ConnectionBroken: no authenticated socket: nothing was sent.
            RequestUnanswered: it was sent (or may have been) and no reply came in time.
        """
        response = await self._request(build, wait)
        if not response.ok and _token_refused(response.error or ""):
            logger.warning("the private token was refused; fetching a fresh one")
            with rest_priority(Priority.ORDER):
                self.token = await self.rest.websocket_token()
            response = await self._request(build, wait)
        return response

    async def _request(self, build: Callable[[str, int], bytes], wait: float) -> wire.Response:
        session, token = self._session, self.token
        if session is None or token is None:
            raise ConnectionBroken("private stream is not connected")  # nothing went out
        req_id = session.next_req_id()
        frame = build(token, req_id)
        pending = self._pending[req_id] = _Pending()
        try:
            try:
                await session.send(frame)
            except ConnectionBroken as exc:  # part of it may have left before the socket died
                raise RequestUnanswered(f"request {req_id}: {exc}") from exc
            with trio.move_on_after(wait):
                await pending.done.wait()
        finally:
            del self._pending[req_id]
        if pending.response is None:
            raise RequestUnanswered(f"no reply to request {req_id} in {wait}s")
        return pending.response

    def _sequenced(
        self, channel: str, message: wire.ExecutionsMessage | wire.BalancesMessage, frame: Frame
    ) -> str | None:
        tracker = self.sequences[channel]
        if message.type == "snapshot":
            tracker.reset()
            if channel in self._awaited:
                self._awaited.discard(channel)
                if not self._awaited:
                    self._fresh.set()
                    self.snapshots.set()
                    if self._session is not None:
                        self._live.set()
        reason = None
        if message.sequence is not None:
            verdict = tracker.observe(message.sequence)
            if verdict.verdict is Verdict.DUPLICATE:
                self.duplicates += 1
                if isinstance(message, wire.ExecutionsMessage):
                    # A sequence number can repeat with new content (a late frame of an
                    # earlier subscription took it; Kraken does not document whether the
                    # counter is per subscription): a report with news still counts. The
                    # tracker is idempotent (fills by exec_id, status only forward).
                    for report in message.data:
                        if self.orders.would_change(report):
                            self._apply_report(report, frame.received_wall)
                return None
            if verdict.verdict is Verdict.GAP and verdict.missing is not None:
                first, last = verdict.missing
                self.gaps += 1
                self.bus.publish(
                    GapDetected(
                        stream=channel, first=first, last=last, received_at=frame.received_wall
                    )
                )
                self._audit(
                    "gaps",
                    at_wall=frame.received_wall,
                    stream=channel,
                    first_missing=first,
                    last_missing=last,
                )
                reason = f"{channel} sequence gap {first}..{last}"
                if self._gap_since is None:  # the stream was whole up to the previous frame
                    self._gap_since = self._last_wall or frame.received_wall
        self._last_wall = frame.received_wall
        self.metrics.channel_update(channel, "", frame.received_mono)
        if isinstance(message, wire.ExecutionsMessage):
            snapshot = message.type == "snapshot"
            for report in message.data:
                self._apply_report(report, frame.received_wall, history=snapshot)
                if report.order_id:
                    self._last_news[report.order_id] = frame.received_mono
            if message.type == "snapshot":
                # An order we hold as open that the snapshot does not list as open closed while
                # we were not listening (a snapshot's trades can even be our first news of it):
                # its final report never reached us, so ask REST.
                listed = {r.order_id for r in message.data if r.exec_type != "trade"}
                self.vanished = [
                    o.order_id for o in self.orders.open_orders() if o.order_id not in listed
                ]
        else:
            self._balances(message, frame.received_wall)
        return reason

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

    def _apply_report(
        self, report: wire.ExecutionReport, wall: float, *, history: bool = False
    ) -> None:
        for watcher in self._watchers:
            watcher.add(report.order_id or "")
        for event in self.orders.apply(report, wall, history=history):
            self.bus.publish(event)
            if isinstance(event, OrderUpdate):
                self._audit_order(event, wall)
            elif isinstance(event, FillEvent):
                self._audit(
                    "fills",
                    exec_id=event.exec_id,
                    order_id=event.order_id,
                    symbol=event.symbol,
                    side=event.side,
                    qty=event.qty,
                    price=event.price,
                    cost=event.cost,
                    fees=event.fees,
                    liquidity=event.liquidity,
                    trade_id=event.trade_id,
                    at_exchange=event.timestamp,
                    at_wall=wall,
                )
            elif isinstance(event, OrderAnomaly):
                self._audit(
                    "order_anomalies",
                    at_wall=wall,
                    kind=event.kind,
                    order_id=event.order_id,
                    detail=event.detail,
                )

    def _audit_order(self, event: OrderUpdate, wall: float) -> None:
        order = event.order
        self._audit(
            "order_events",
            at_wall=wall,
            order_id=order.order_id,
            exec_type=event.exec_type,
            status=order.status,
            previous_status=event.previous,
            cum_qty=order.cum_qty,
            avg_price=order.avg_price,
        )
        self._audit(
            "orders",
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            order_qty=order.order_qty,
            limit_price=order.limit_price,
            status=order.status,
            cum_qty=order.cum_qty,
            cum_cost=order.cum_cost,
            avg_price=order.avg_price,
            cl_ord_id=order.cl_ord_id,
            order_userref=order.order_userref,
            updated_wall=wall,
        )

    def _balances(self, message: wire.BalancesMessage, wall: float) -> None:
        changes: list[BalanceChange]
        if message.type == "snapshot":
            changes = self.portfolio.apply_snapshot(message.data, wall)
        else:
            changes = [c for e in message.data if (c := self.portfolio.apply_ledger(e, wall))]
        for change in changes:
            self.bus.publish(change)
            if change.ledger_id is not None:
                self._audit(
                    "balance_ledger",
                    at_wall=wall,
                    ledger_id=change.ledger_id,
                    ref_id=change.ref_id,
                    asset=change.asset,
                    ledger_type=change.ledger_type,
                    amount=change.amount,
                    fee=change.fee,
                    balance=change.balance,
                )
            if change.unexplained is not None:
                self.unexplained_moves += 1
                logger.warning(
                    "{} moved by {} that the private stream does not explain ({})",
                    change.asset,
                    change.unexplained,
                    "ledger" if change.ledger_id else "snapshot",
                )
                self._audit(
                    "balance_anomalies",
                    at_wall=wall,
                    asset=change.asset,
                    source="ledger" if change.ledger_id else "snapshot",
                    ledger_id=change.ledger_id,
                    unexplained=change.unexplained,
                    balance=change.balance,
                )
            self.record_balance(change.asset, change.balance, wall)

    def record_balance(self, asset: str, balance: Decimal, wall: float) -> None:
        """Set ``asset``'s spot balance and audit it (with what it holds in earn wallets) and
        the positions it makes (base holdings)."""
        for watcher in self._watchers:
            watcher.add(asset)
        self.portfolio.balances[asset] = balance
        earn = self.portfolio.earn.get(asset, Decimal(0))
        self._audit("balances", asset=asset, balance=balance, earn=earn, updated_wall=wall)
        for symbol in self.config.symbols:
            if symbol.split("/", 1)[0] == asset:
                self._audit(
                    "positions",
                    symbol=symbol,
                    base_asset=asset,
                    quantity=balance,
                    updated_wall=wall,
                )


def _token_refused(error: str) -> bool:
    """Kraken refused the token (it invalidated it, or it was no longer guaranteed)."""
    text = error.lower()
    return "invalid token" in text or "invalid session" in text
