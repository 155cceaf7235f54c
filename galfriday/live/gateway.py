"""Placing, amending and cancelling orders: WebSocket first, REST as the fallback, never twice.

Every order carries a client order id (``cl_ord_id``, a 32-hex short UUID unless the caller
gives one). The rule: nothing is sent to the exchange a second time unless the first attempt
provably did not reach it.

- Not connected: nothing went out over the socket, so the order is placed over REST.
- Sent over the socket with no reply within ``reply_timeout``: the request may be in Kraken's
  queue. The gateway closes that socket (the private connection is rebuilt, with a fresh
  executions snapshot) and looks for the ``cl_ord_id`` through a settle window: in what the
  private stream reports (the new snapshot included) and in REST ``OpenOrders`` /
  ``ClosedOrders``. Found: that is the order. Not found: its outcome is *unknown*: it is
  audited (``order_anomalies``), alerted, put in the review queue, and
  :class:`~galfriday.errors.OrderOutcomeUnknown` is raised. It is never placed again.
- Placed over REST with no answer (a timeout, an HTTP error): the same look-up, without a
  socket to close. A Kraken error string is an answer: the order was refused.

Cancels are idempotent: one that gets no WebSocket reply is sent again over REST, and
``EOrder:Invalid order`` for an order that is already closed is success.

Amends go over the socket only (``amend_order``: same ids, fills kept). Not connected: nothing
was sent and the caller hears so. Sent with no reply: it may be in Kraken's queue, so it is not
sent again; the order is looked up over REST (the tracker takes what REST says) and the amend
counts as done if the order now has the new terms. Otherwise
:class:`~galfriday.errors.RequestUnanswered`: it may still take effect, and the stream's
``amended`` report (or the next snapshot) will say so. Nothing can be doubled either way.
Kraken's refusals become :class:`~galfriday.errors.OrderRejected` (and siblings) whichever way
the order went.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Final

import trio
from loguru import logger

from galfriday.core.frames import Sink
from galfriday.errors import (
    ConnectionBroken,
    ExchangeError,
    GalfridayError,
    InvalidRequest,
    OrderOutcomeUnknown,
    OrderRejected,
    RequestUnanswered,
    ServiceUnavailable,
    TradingHalted,
    kraken_error,
)
from galfriday.events import Alert, OrderAnomaly, ReviewItem, Severity
from galfriday.kraken import history
from galfriday.kraken import requests as rq
from galfriday.kraken.answers import decode_add_order, decode_closed_orders, decode_open_orders
from galfriday.kraken.ratelimit import Priority
from galfriday.kraken.rest import KrakenRest, rest_priority
from galfriday.kraken.symbols import SymbolMap
from galfriday.live.private import PrivateStream

__all__ = ["OrderGateway"]

REPLY_TIMEOUT: Final = 8.0
SETTLE: Final = 20.0  # how long an unanswered order is looked for
LOOKUPS: Final = 2  # REST look-ups in the settle window (each costs 3 on the call counter)
POLL: Final = 0.5  # how often the stream's view is checked meanwhile
_CLOSED: Final = frozenset({"closed", "canceled", "expired"})


class OrderGateway:
    """Places, amends and cancels orders for one account.

    Args:
        stream: the private stream (its socket, its order tracker).
        rest: the REST client.
        symbols: REST and WebSocket pair names.
        sink: where anomalies, alerts and review items go (the stream's by default).
        reply_timeout: seconds to wait for a WebSocket reply.
        settle: seconds to look for an unanswered order before calling it unknown.
    """

    def __init__(
        self,
        stream: PrivateStream,
        rest: KrakenRest,
        symbols: SymbolMap,
        sink: Sink | None = None,
        *,
        reply_timeout: float = REPLY_TIMEOUT,
        settle: float = SETTLE,
    ) -> None:
        self.stream = stream
        self.rest = rest
        self.symbols = symbols
        self.sink = sink or stream.sink
        self.reply_timeout = reply_timeout
        self.settle = settle
        self.via_ws = 0
        self.via_rest = 0
        self.unknown = 0
        self.halted: Callable[[], str | None] = lambda: None  # why orders are refused now
        self.background: trio.Nursery | None = None  # where searches outlive their caller

    async def place(
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal | None = None,
        *,
        order_type: str = "limit",
        cl_ord_id: str | None = None,
        post_only: bool = False,
    ) -> str:
        """Place an order; returns Kraken's order id.

        Raises:
            InvalidRequest: the order breaks Kraken's rules (nothing was sent).
            TradingHalted: the engine refuses new orders now (nothing was sent).
            KrakenApiError: Kraken refused it.
            OrderOutcomeUnknown: it went out, got no answer, and could not be found.
        """
        cl_ord_id = cl_ord_id or uuid.uuid4().hex
        order = self._checked(symbol, side, qty, price, order_type, cl_ord_id, post_only)
        log = logger.bind(cl_ord_id=cl_ord_id)
        try:
            reply = await self.stream.request(
                lambda token, req_id: rq.add_order(order, token, req_id), self.reply_timeout
            )
        except RequestUnanswered as exc:
            log.warning("add_order got no reply ({}); looking for it before anything else", exc)
            if self.stream.request_reconnect is not None:
                self.stream.request_reconnect(f"add_order {cl_ord_id} unanswered")
            return await self._establish(order, str(exc))
        except ConnectionBroken as exc:
            log.warning("add_order over WS not possible ({}); placing over REST", exc)
            return await self._place_over_rest(order)
        if not reply.ok:
            raise kraken_error(reply.error or "EGeneral:Unknown error")
        self.via_ws += 1
        return reply.result.order_id if reply.result and reply.result.order_id else ""

    def _checked(
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal | None,
        order_type: str,
        cl_ord_id: str,
        post_only: bool,
    ) -> rq.AddOrder:
        """The ``add_order`` of these terms, checked before anything is sent.

        Raises:
            TradingHalted: the engine refuses new orders now.
            InvalidRequest: the order breaks Kraken's rules.
        """
        halted = self.halted()
        if halted is not None:
            raise TradingHalted(halted)
        order = rq.AddOrder(
            order_type=order_type,
            side=side,
            order_qty=qty,
            symbol=symbol,
            limit_price=price,
            cl_ord_id=cl_ord_id,
            post_only=post_only or None,
        )
        rq.add_order(order, "check", 0)  # validates as building the request would
        return order

    async def _place_over_rest(self, order: rq.AddOrder) -> str:
        params: dict[str, object] = {
            "pair": self.symbols.rest_pair(order.symbol),
            "type": order.side,
            "ordertype": order.order_type,
            "volume": order.order_qty,
            "cl_ord_id": order.cl_ord_id,
        }
        if order.limit_price is not None:
            params["price"] = order.limit_price
        if order.post_only:
            params["oflags"] = "post"
        try:
            result = await self.rest.private("AddOrder", **params)
        except ConnectionBroken as exc:  # a timeout or a reset: it may have arrived
            return await self._establish(order, f"AddOrder over REST: {exc}")
        except ServiceUnavailable as exc:
            if not exc.code.startswith("EService:HTTP") and "Unreadable" not in exc.code:
                raise  # Kraken's own answer: refused
            return await self._establish(order, f"AddOrder over REST: {exc.code}")
        self.via_rest += 1
        txids = decode_add_order(result).txid
        if not txids:
            raise ExchangeError(f"AddOrder {order.cl_ord_id}: the answer names no order")
        await self._placed(txids[0], order)
        return txids[0]

    async def _establish(self, order: rq.AddOrder, reason: str) -> str:
        """Find an order whose request got no answer, through the settle window; otherwise
        record it as unknown and raise. Never places it again. The search runs in the
        engine's own nursery (:attr:`background`) when there is one: if the caller is
        cancelled meanwhile (a strategy stopping), the order's fate is still established."""
        if self.background is None:
            return await self._search(order, reason)
        outcome: list[str | Exception] = []
        done = trio.Event()

        async def search() -> None:
            try:
                outcome.append(await self._search(order, reason))
            except Exception as exc:  # handed to the caller (or, if gone, recorded anyway)
                outcome.append(exc)
            finally:
                done.set()

        self.background.start_soon(search)
        await done.wait()
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    async def _search(self, order: rq.AddOrder, reason: str) -> str:
        cl_ord_id = order.cl_ord_id or ""
        polls = max(1, round(self.settle / POLL))
        lookups = {round(polls * (n + 1) / LOOKUPS) - 1 for n in range(LOOKUPS)}
        for poll in range(polls):
            await trio.sleep(POLL)
            found = self._known(cl_ord_id)
            if found is not None:
                logger.bind(cl_ord_id=cl_ord_id).info("the unanswered order is {}", found)
                return found
            if poll in lookups and (found := await self._lookup(cl_ord_id)) is not None:
                logger.bind(cl_ord_id=cl_ord_id).info("the unanswered order is {}", found)
                await self._placed(found, order)
                # REST found it, so the stream may never report it: take its state now.
                await self.stream.refresh_stale([found])
                return found
        self._record_unknown(order, reason)
        raise OrderOutcomeUnknown(cl_ord_id, reason)

    def _known(self, cl_ord_id: str) -> str | None:
        """The order id the private stream knows ``cl_ord_id`` by, if any."""
        for known in self.stream.orders.orders():
            if known.cl_ord_id == cl_ord_id:
                return known.order_id
        return None

    async def _lookup(self, cl_ord_id: str) -> str | None:
        """The order id REST knows ``cl_ord_id`` by (open or closed), if any; a failed look-up
        finds nothing (the next one, or the unknown verdict, follows)."""
        try:
            with rest_priority(Priority.ORDER):
                found = decode_open_orders(
                    await self.rest.private("OpenOrders", cl_ord_id=cl_ord_id)
                ).open
                for order_id, known in found.items():
                    if known.cl_ord_id == cl_ord_id:
                        return order_id
                closed = decode_closed_orders(
                    await self.rest.private("ClosedOrders", cl_ord_id=cl_ord_id)
                ).closed
                for order_id, known in closed.items():
                    if known.cl_ord_id == cl_ord_id:
                        return order_id
        except GalfridayError as exc:
            logger.bind(cl_ord_id=cl_ord_id).warning("order look-up failed: {}", exc)
        return None

    async def _placed(self, order_id: str, order: rq.AddOrder) -> None:
        """Make an order placed over REST known to the tracker at once: the private stream
        may be down, and an order the tracker never heard of would never be followed up."""
        if self.stream.orders.get(order_id) is None:
            await self.stream.placed(
                order_id,
                symbol=order.symbol,
                side=order.side,
                order_type=order.order_type,
                qty=str(order.order_qty),
                limit_price=None if order.limit_price is None else str(order.limit_price),
                cl_ord_id=order.cl_ord_id,
            )

    def _record_unknown(self, order: rq.AddOrder, reason: str) -> None:
        """Report an order whose outcome is unknown: an anomaly, a critical alert, and an item
        of the review queue."""
        self.unknown += 1
        cl_ord_id, wall = order.cl_ord_id or "", time.time()
        described = f"{order.side} {order.order_qty} {order.symbol} {order.order_type}" + (
            f" @ {order.limit_price}" if order.limit_price is not None else ""
        )
        message = (
            f"order {cl_ord_id} ({described}): no answer and not found within"
            f" {self.settle:.0f}s; it may be on the book; it was not placed again"
        )
        detail = f"cl_ord_id {cl_ord_id}: {reason}"[:500]
        for event in (
            OrderAnomaly(
                kind="order_outcome_unknown", order_id=None, detail=detail, received_at=wall
            ),
            Alert(severity=Severity.CRITICAL, source="gateway", message=message, received_at=wall),
            ReviewItem(
                item_id=hashlib.sha256(f"gateway/{cl_ord_id}".encode()).hexdigest()[:10],
                run_id="gateway",
                kind="order_outcome_unknown",
                subject=cl_ord_id,
                severity=Severity.CRITICAL,
                internal=described,
                exchange=None,
                created_at=wall,
                received_at=wall,
            ),
        ):
            self.sink.emit(event)

    async def cancel(self, order_id: str) -> None:
        """Cancel an order (WS, or REST when the socket is down or silent). Idempotent: an
        order that is already closed counts as cancelled.

        Raises:
            KrakenApiError: Kraken refused (``EOrder:Invalid order`` for an unknown order).
        """
        try:
            reply = await self.stream.request(
                lambda token, req_id: rq.cancel_order(token, req_id, order_ids=[order_id]),
                self.reply_timeout,
            )
        except ConnectionBroken:  # not sent, or unanswered: a cancel may be repeated
            try:
                await self.rest.private("CancelOrder", txid=order_id)
            except OrderRejected as exc:
                if not await self._closed(order_id, exc):
                    raise
            return
        if not reply.ok:
            error = kraken_error(reply.error or "EGeneral:Unknown error")
            if not (isinstance(error, OrderRejected) and await self._closed(order_id, error)):
                raise error

    async def _closed(self, order_id: str, refusal: OrderRejected) -> bool:
        """True if a refused cancel refers to an order that is already closed."""
        if "Invalid order" not in refusal.code:
            return False
        known = self.stream.orders.get(order_id)
        if known is not None and known.status.final:
            return True
        try:
            with rest_priority(Priority.ORDER):
                found, _ = await history.query_orders(self.rest, [order_id])
        except GalfridayError:
            return False
        info = found.get(order_id)
        return info is not None and info.status in _CLOSED

    async def amend(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        post_only: bool = False,
    ) -> None:
        """Give an open order a new total quantity (fills included) and/or limit price in
        place; the stream's ``amended`` report updates the order. ``post_only``: refuse
        rather than let the new price take liquidity. Queue priority survives only a
        quantity decrease.

        Raises:
            InvalidRequest: neither ``qty`` nor ``price``; an order known to be closed; no
                ``qty`` for an order whose quantity is not known (nothing was sent).
            TradingHalted: the engine refuses orders now (nothing was sent).
            OrderRejected: Kraken refused the amend (unknown or closed order, funds, post only).
            ConnectionBroken: the socket is down (nothing was sent).
            RequestUnanswered: sent, unanswered, and REST does not show the new terms: it may
                still take effect (the stream will tell); it was not sent again.
        """
        halted = self.halted()
        if halted is not None:
            raise TradingHalted(halted)
        amend = self._amend_request(order_id, qty, price, post_only)
        try:
            reply = await self.stream.request(
                lambda token, req_id: rq.amend_order(amend, token, req_id), self.reply_timeout
            )
        except RequestUnanswered as exc:
            await self._settle_amend(amend, str(exc))
            return
        if not reply.ok:
            raise kraken_error(reply.error or "EGeneral:Unknown error")

    def _amend_request(
        self, order_id: str, qty: Decimal | None, price: Decimal | None, post_only: bool
    ) -> rq.AmendOrder:
        """The checked ``amend_order`` params. Kraken requires ``order_qty``: a price-only
        amend sends the quantity the tracker knows."""
        if qty is None and price is None:
            raise InvalidRequest(f"amend {order_id}: give a new qty, a new price, or both")
        known = self.stream.orders.get(order_id)
        if known is not None and known.status.final:
            raise InvalidRequest(f"amend {order_id}: the order is {known.status}, not open")
        qty = qty if qty is not None else known.order_qty if known is not None else None
        if qty is None:
            raise InvalidRequest(f"amend {order_id}: its quantity is not known; give qty")
        amend = rq.AmendOrder(
            order_id=order_id, order_qty=qty, limit_price=price, post_only=post_only or None
        )
        rq.amend_order(amend, "check", 0)  # validates before anything is sent
        return amend

    async def _settle_amend(self, amend: rq.AmendOrder, reason: str) -> None:
        """An amend that got no reply: look the order up over REST; done if it has the new
        terms, else :class:`RequestUnanswered`. Never sent again."""
        order_id = amend.order_id or ""
        log = logger.bind(order_id=order_id)
        log.warning("amend_order got no reply ({}); looking the order up over REST", reason)
        with rest_priority(Priority.ORDER):
            await self.stream.refresh_stale([order_id])
        known = self.stream.orders.get(order_id)
        if (
            known is not None
            and known.order_qty == amend.order_qty
            and amend.limit_price in (None, known.limit_price)
        ):
            log.info("the unanswered amend took effect")
            return
        raise RequestUnanswered(
            f"amend_order {order_id}: no reply ({reason}) and REST shows the old terms;"
            " not sent again, the stream reports it if it lands"
        )

    async def arm_dead_man_switch(self, seconds: int) -> None:
        """Arm (or with 0, disarm) ``cancel_all_orders_after`` over the private socket."""
        reply = await self.stream.request(
            lambda token, req_id: rq.cancel_all_orders_after(seconds, token, req_id),
            self.reply_timeout,
        )
        if not reply.ok:
            raise kraken_error(reply.error or "EGeneral:Unknown error")
