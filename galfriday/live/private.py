"""The private stream's shell: the token, the subscriptions, the recovery, the REST calls.

:class:`PrivateStream` runs :class:`~galfriday.core.account.AccountMachine`, which decides
everything about orders, fills and balances (sequence gaps, duplicates, snapshots, stale and
vanished orders, liveness). The shell:

- fetches a token before every connect (:meth:`PrivateStream.prepare`: nothing slow may run
  while an open socket waits for its subscriptions) and subscribes ``executions`` (open orders
  and, with ``snap_trades``, the last fills) and ``balances`` (:meth:`PrivateStream.on_connect`);
- runs a recovery when the machine sees a gap: both channels unsubscribed and subscribed again
  with a fresh token (Kraken guarantees a token only while a subscription uses it), fresh
  snapshots awaited, then a REST backfill (every page of trades and ledger entries since
  shortly before the gap, the open orders' states);
- sends a subscribe refused for its token again with a fresh token (``resubscribe_attempts``
  times, then the connection is rebuilt);
- queries over REST the orders the machine says are stale or vanished;
- sends token-bearing requests (orders, cancels) and waits for their replies
  (:meth:`PrivateStream.request`).

No frame can stop the stream: one that breaks the machine (a bug of ours) is counted, logged
and reported as a refused frame. Replay: every step that changes the machine's state happens
inside a tape operation, stamped with its time, so ``galfriday replay`` reproduces it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import trio
from loguru import logger

from galfriday.capture.tape import Tape
from galfriday.core.account import CHANNELS, AccountMachine, Todo, token_refused
from galfriday.core.account import AccountConfig as PrivateConfig
from galfriday.core.frames import Frame, Sink
from galfriday.core.health import ConnectionMetrics
from galfriday.core.marketdata import MarketDataConfig, MarketDataMachine
from galfriday.core.orders import OrderTracker
from galfriday.core.portfolio import Portfolio
from galfriday.core.steps import (
    BackfillIncomplete,
    LedgerAnswered,
    OrderPlaced,
    OrdersAnswered,
    OrdersQueried,
    PrivateDisconnected,
    PrivateSubscribing,
    RecoveryBegan,
    RecoveryEnded,
    Step,
    TradesAnswered,
)
from galfriday.errors import ConnectionBroken, GalfridayError, RequestUnanswered
from galfriday.events import ConnectionState
from galfriday.kraken import history, wire
from galfriday.kraken import requests as rq
from galfriday.kraken.ratelimit import Priority
from galfriday.kraken.rest import KrakenRest, rest_priority
from galfriday.kraken.symbols import SymbolMap
from galfriday.live.connection import DRAIN, Link, queued
from galfriday.state import EngineState

__all__ = ["PrivateConfig", "PrivateStream"]

BACKFILL_MARGIN: Final = 60.0  # seconds of history before a gap that the backfill reads too


@dataclass
class _Pending:
    done: trio.Event = field(default_factory=trio.Event)
    response: wire.Response | None = None


class PrivateStream:
    """Runs the private stream (see the module docstring)."""

    def __init__(
        self,
        config: PrivateConfig,
        sink: Sink,
        metrics: ConnectionMetrics,
        rest: KrakenRest,
        symbols: SymbolMap | None = None,
        tape: Tape | None = None,
    ) -> None:
        self.config = config
        self.machine = AccountMachine(config, metrics, sink, symbols)
        # Every change to the machine's state besides frames is a step, applied through this
        # (the engine records it in the capture first); on its own, the stream applies it.
        own = EngineState(MarketDataMachine(MarketDataConfig(), metrics, sink), self.machine,
                          self.machine.symbols, config.symbols, None, sink)  # fmt: skip
        self.do: Callable[[Step], Any] = own.apply
        self.receive: Callable[[Frame], Todo] = own.receive_private
        self.sink = sink
        self.metrics = metrics
        self.rest = rest
        self.tape = tape or Tape()
        self.token: str | None = None
        self._token_fresh = False  # fetched and not yet used for a subscription
        self.request_reconnect: Callable[[str], None] | None = None  # set by the engine
        self.snapshots = trio.Event()  # the first time both snapshots came (start-up waits)
        self._changed = trio.Event()  # set at every frame that moves the machine's liveness
        self._link: Link | None = None
        self._pending: dict[int, _Pending] = {}
        self._refusals = 0

    # --- what the machine knows --------------------------------------------------------------

    @property
    def orders(self) -> OrderTracker:
        return self.machine.orders

    @property
    def portfolio(self) -> Portfolio:
        return self.machine.portfolio

    @property
    def live(self) -> bool:
        """Subscribed, with fresh snapshots of both channels."""
        return self.machine.live

    @property
    def recovering(self) -> bool:
        """A recovery (resubscription and REST backfill) is under way."""
        return self.machine.recovering

    def watching(self) -> AbstractContextManager[set[str]]:
        """See :meth:`AccountMachine.watching`."""
        return self.machine.watching()

    async def wait_live(self) -> None:
        """Wait until the stream is :attr:`live`."""
        while not self.machine.live:
            await self._wait_change()

    async def _wait_change(self) -> None:
        await self._changed.wait()

    # --- subscriptions ---------------------------------------------------------------------

    async def prepare(self) -> None:
        """Fetch a token for the next connection (before its socket opens)."""
        self.token = await self.rest.websocket_token()
        self._token_fresh = True

    async def on_connect(self, link: Link) -> None:
        """``executions`` and ``balances`` with snapshots, with the token just prepared."""
        self._link = None
        if not self._token_fresh:
            await self.prepare()
        link.set_state(ConnectionState.AUTHENTICATED)
        self._link = link
        self._refusals = 0
        await self._subscribe(link, CHANNELS)

    def disconnected(self) -> None:
        """The socket is gone: no link, not live, until the next connection's snapshots."""
        self._link = None
        self.do(PrivateDisconnected(**_now()))
        self._wake()

    async def _subscribe(self, link: Link, channels: tuple[str, ...]) -> None:
        self._token_fresh = False
        token = self.token or ""
        requests = {link.next_req_id(): channel for channel in channels}
        self.do(PrivateSubscribing(requests=requests, **_now()))
        for req_id, channel in requests.items():
            if channel == "executions":
                params = rq.SubscriptionParams(
                    channel="executions",
                    token=token,
                    snap_orders=True,
                    snap_trades=self.config.snap_trades,
                )
            else:
                params = rq.SubscriptionParams(channel="balances", token=token, snapshot=True)
            await link.send(rq.subscribe(params, req_id))

    async def resubscribe(self, channels: list[str]) -> None:
        """Subscribe again the channels refused for their token, with a fresh token; past
        ``resubscribe_attempts`` refusals in a row the connection is rebuilt."""
        link = self._link
        if not channels or link is None:
            return
        self._refusals += 1
        if self._refusals > self.config.resubscribe_attempts:
            if self.request_reconnect is not None:
                self.request_reconnect(f"private subscribe refused {self._refusals - 1} times")
            return
        with self.tape.op("resubscribe", channels=list(channels)) as op:
            logger.warning("private subscribe refused for its token; a fresh token for {}",
                           ", ".join(op.args["channels"]))  # fmt: skip
            await self.prepare()
            await self._subscribe(link, tuple(op.args["channels"]))

    # --- recovery --------------------------------------------------------------------------

    async def recover(self, reason: str) -> None:
        """Resubscribe both channels (fresh snapshots) and backfill from REST."""
        if self.machine.recovering:
            return
        with self.tape.op("recover", reason=reason):
            since = self.do(RecoveryBegan(reason=reason, **_now()))
            complete = False
            try:
                await self._resubscribe_all()
                with rest_priority(Priority.BACKFILL):
                    await self.backfill(since)
                complete = True
            except GalfridayError as exc:
                logger.warning("private recovery incomplete: {}", exc)
            finally:
                self.do(RecoveryEnded(reason=reason, complete=complete, **_now()))

    async def _resubscribe_all(self) -> None:
        link = self._link
        if link is None:
            return
        token = self.token or ""
        for channel in CHANNELS:
            params = rq.SubscriptionParams(channel=channel, token=token)
            await link.send(rq.unsubscribe(params, link.next_req_id()))
        with rest_priority(Priority.RECOVERY):  # no subscription left: the token lapses
            await self.prepare()
        await self._subscribe(link, CHANNELS)
        # The backfill deduplicates against what the snapshots bring, and whoever reacts to
        # the end of the recovery (reconciliation) sees a settled stream.
        with trio.move_on_after(self.config.snapshot_wait):
            while not self.machine.fresh:
                await self._wait_change()
        if not self.machine.fresh:
            logger.warning("private recovery: no fresh snapshots")

    async def backfill(self, since: float | None) -> None:
        """Fill what the stream missed from REST: trades and ledger entries after ``since``
        (every page, within the call budget), and the open orders' states."""
        start = None if since is None else since - BACKFILL_MARGIN
        trades = await history.trades_history(self.rest, start=start)
        self.do(TradesAnswered(trades=trades.rows, **_now()))
        open_ids = [o.order_id for o in self.machine.orders.open_orders()]
        if open_ids:
            await self.query_orders(open_ids)
        entries = await history.ledgers(self.rest, start=start)
        self.do(LedgerAnswered(entries=entries.rows, **_now()))
        for name, window in (("TradesHistory", trades), ("Ledgers", entries)):
            if not window.covered:
                detail = f"{name}: {window.pages} pages did not cover the gap's window"
                logger.warning("private backfill incomplete: {}", detail)
                self.do(BackfillIncomplete(detail=detail, **_now()))

    # --- orders over REST ------------------------------------------------------------------

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
        operation); the stream, a snapshot or a query moves it on."""
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
            self.do(OrderPlaced(report=report, wall=op.wall, mono=op.mono))

    async def query_orders(self, order_ids: list[str]) -> None:
        """Bring orders up to date from REST ``QueryOrders``."""
        result, unknown = await history.query_orders(self.rest, order_ids, trades=True)
        for order_id in sorted(unknown - self.machine.unknown_orders):
            logger.warning("order {} is unknown to the exchange", order_id)
        self.do(OrdersAnswered(orders=result, unknown=sorted(unknown), **_now()))

    async def watch_stale_orders(self) -> None:
        """Query over REST the open orders the machine says are stale."""
        while True:
            await trio.sleep(self.config.stale_check_every)
            stale = self.machine.stale(trio.current_time())
            if stale:
                await self.refresh_stale(stale)

    async def refresh_stale(self, order_ids: list[str]) -> None:
        """Query orders that have gone quiet or vanished (a tape operation). A query that
        fails is tried again at the stale-order watcher's next pass, not a minute later."""
        with self.tape.op("stale_orders", order_ids=order_ids) as op:
            logger.info("querying {} stale orders over REST", len(order_ids))
            failed = False
            try:
                await self.query_orders(op.args["order_ids"])
            except GalfridayError as exc:
                logger.warning("stale order query failed (tried again soon): {}", exc)
                failed = True
            ids = list(op.args["order_ids"])
            self.do(OrdersQueried(order_ids=ids, failed=failed, wall=op.wall, mono=op.mono))

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
            async for first in frames:
                for frame in (first, *queued(frames, DRAIN - 1)):  # waiting frames in one turn
                    tape.ws_in(
                        frame.connection, frame.received_mono, frame.received_wall, frame.raw
                    )
                    self._follow(self.handle(frame), nursery)
            nursery.cancel_scope.cancel()

    def _follow(self, todo: Todo, nursery: trio.Nursery) -> None:
        """Start what a frame's verdict asks for: a recovery, a stale-order query, a
        resubscription."""
        if todo.recover is not None:
            nursery.start_soon(self.recover, todo.recover)
        if todo.query:
            nursery.start_soon(self.refresh_stale, todo.query)
        if todo.resubscribe:
            nursery.start_soon(self.resubscribe, todo.resubscribe)

    def handle(self, frame: Frame) -> Todo:
        """What the loop does with one frame: the machine's verdict, and a waiting request's
        reply handed over. Never raises (see :meth:`EngineState.receive_private`)."""
        todo = self.receive(frame)
        if todo.reply is not None and todo.reply.req_id is not None:
            pending = self._pending.get(todo.reply.req_id)
            if pending is not None:
                pending.response = todo.reply
                pending.done.set()
        for refusal in todo.refusals:
            logger.warning("private request refused: {}", refusal)
        if self.machine.snapshotted and not self.snapshots.is_set():
            self.snapshots.set()
        self._wake()
        return todo

    def process(self, frame: Frame) -> str | None:
        """:meth:`handle`, answering only whether the stream needs a recovery (its reason)."""
        return self.handle(frame).recover

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # --- requests on the socket ------------------------------------------------------------

    async def request(self, build: Callable[[str, int], bytes], wait: float) -> wire.Response:
        """Send a token-bearing request on the private socket and wait for its reply.

        Args:
            build: makes the frame from (token, req_id).
            wait: seconds to wait for the reply.

        A reply refusing the token gets a fresh token from REST and one more try; the refused
        request was not executed, so it cannot happen twice.

        Raises:
            ConnectionBroken: no authenticated socket: nothing was sent.
            RequestUnanswered: it was sent (or may have been) and no reply came in time.
        """
        response = await self._request(build, wait)
        if not response.ok and token_refused(response.error or ""):
            logger.warning("the private token was refused; fetching a fresh one")
            with rest_priority(Priority.ORDER):
                self.token = await self.rest.websocket_token()
            response = await self._request(build, wait)
        return response

    async def _request(self, build: Callable[[str, int], bytes], wait: float) -> wire.Response:
        link, token = self._link, self.token
        if link is None or token is None:
            raise ConnectionBroken("private stream is not connected")  # nothing went out
        req_id = link.next_req_id()
        frame = build(token, req_id)
        pending = self._pending[req_id] = _Pending()
        self.machine.requests.add(req_id)
        try:
            try:
                await link.send(frame)
            except ConnectionBroken as exc:  # part of it may have left before the socket died
                raise RequestUnanswered(f"request {req_id}: {exc}") from exc
            with trio.move_on_after(wait):
                await pending.done.wait()
        finally:
            del self._pending[req_id]
            self.machine.requests.discard(req_id)
        if pending.response is None:
            raise RequestUnanswered(f"no reply to request {req_id} in {wait}s")
        return pending.response


def _now() -> dict[str, float]:
    """A step's times: now (the shell reads the clocks; the machines never do)."""
    return {"wall": time.time(), "mono": trio.current_time()}
