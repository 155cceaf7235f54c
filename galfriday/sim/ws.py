"""WebSocket v2 sessions of the simulator: one :class:`Session` per client connection.

Each session owns an outbound channel (bounded at :data:`OUTBOX`; a client too slow to keep up
is disconnected, as Kraken does) drained by its writer task, which is also where frame faults
(duplicate, drop, reorder, corrupt checksum) and stalls are applied, and where a book frame
gets its ``timestamp``: the moment it is written to the socket (so a client can measure its
own latency from the send; Kraken's is its matching engine's time). A heartbeat task sends
``{"channel":"heartbeat"}`` after a second without other frames while subscribed. A connection
with no subscription that sends nothing for ``idle_timeout`` seconds is closed.

Requests are read by :mod:`galfriday.sim.requests` (typed, with Kraken's error shapes), except
``amend_order``, whose single ``order_id`` string has a reader here; its ack comes before its
``amended`` report, as an ``add_order``'s comes before ``pending_new``. Tokens
are the venue's (:class:`~galfriday.sim.venue.Venue`); orders go through the simulator's
methods, which publish what they change and tell its timers (GTD expiry, dead-man switch).
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Final

import msgspec
import trio
from loguru import logger
from trio_websocket import ConnectionClosed, WebSocketConnection

from galfriday.kraken import wire
from galfriday.sim import frames
from galfriday.sim import requests as rq
from galfriday.sim.exchange import AmendRequest
from galfriday.sim.faults import Fault
from galfriday.sim.requests import Params

if TYPE_CHECKING:
    from galfriday.sim.server import Simulator

__all__ = ["OUTBOX", "Session"]

OUTBOX: Final = 20_000
_CHECKSUM = re.compile(rb'"checksum":(\d+)')
_connection_ids = itertools.count(13834774380200032777)


class _AmendParams(msgspec.Struct, kw_only=True):
    token: str | None = None
    order_id: str | None = None
    cl_ord_id: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    post_only: bool | None = None


class _Amend(msgspec.Struct, kw_only=True):
    """``amend_order`` names one order by a plain string ``order_id`` (a cancel takes a list),
    so it has a decoder of its own."""

    method: str
    params: _AmendParams | None = None
    req_id: int | None = None


_AMEND: Final = msgspec.json.Decoder(_Amend)


def _decode_amend(raw: bytes) -> _Amend | None:
    """The ``amend_order`` in ``raw``; None for any other request (or a malformed one, which
    the general reader then answers)."""
    if b"amend_order" not in raw:
        return None
    try:
        request = _AMEND.decode(raw)
    except msgspec.MsgspecError:
        return None
    return request if request.method == "amend_order" else None


class Session:
    """One client connection (``kind`` is ``"public"`` or ``"private"``)."""

    def __init__(
        self, sim: Simulator, kind: str, ws: WebSocketConnection, stream: trio.abc.Stream
    ) -> None:
        self.sim = sim
        self.venue = sim.venue
        self.kind = kind
        self.ws = ws
        self.stream = stream
        self.connection_id = next(_connection_ids)
        self._send, self._outbox = trio.open_memory_channel[tuple[bytes, bool]](OUTBOX)
        # public: (channel, symbol, depth-or-interval-or-trigger) ; private: channel -> sequence
        self.subscriptions: set[tuple[str, str, object]] = set()
        self.sequences: dict[str, int] = {}
        self.tokens: dict[str, str] = {}  # private channel -> the token it was subscribed with
        self.last_sent = trio.current_time()
        self.last_received = trio.current_time()
        self.stalled_until = 0.0
        self.overloaded = False
        self.cancel_scope = trio.CancelScope()
        self._held: bytes | None = None

    # --- outbound --------------------------------------------------------------------------

    def push(self, frame: bytes, data: bool = True) -> None:
        """Queue a frame without blocking; a full queue disconnects this slow client."""
        if self.overloaded:
            return
        try:
            self._send.send_nowait((frame, data))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the session is ending; its frames have nowhere to go
        except trio.WouldBlock:
            self.overloaded = True
            logger.bind(conn=self.kind).warning("client too slow; disconnecting")
            self.cancel_scope.cancel()

    def next_sequence(self, channel: str) -> int:
        self.sequences[channel] += 1
        return self.sequences[channel]

    async def _writer(self) -> None:
        try:
            await self._write_all()
        except ConnectionClosed:
            self.cancel_scope.cancel()  # the client is gone; the session ends

    async def _write_all(self) -> None:
        async with self._outbox:
            async for first in self._outbox:
                await self._write_one(*first)
                while True:  # what was queued with it goes out without a scheduler pass each
                    try:
                        frame, data = self._outbox.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):  # the loop ends on the latter
                        break
                    await self._write_one(frame, data)

    async def _write_one(self, frame: bytes, data: bool) -> None:
        """Write one queued frame, applying the frame faults and the book's send time."""
        if trio.current_time() < self.stalled_until:
            return
        if data:
            book = frame.startswith(b'{"channel":"book"')
            if book:
                frame = frames.restamp(frame, self.sim.wall())
            fault = self.venue.faults.next_frame_fault(self.kind, book, self.sim.wall())
            if fault is Fault.DROP_FRAMES:
                return
            if fault is Fault.CORRUPT_CHECKSUM:
                frame = _CHECKSUM.sub(
                    lambda m: b'"checksum":%d' % ((int(m.group(1)) + 1) % 2**32), frame
                )
            if fault is Fault.REORDER_FRAMES and self._held is None:
                self._held = frame
                return
            await self._write(frame)
            if fault is Fault.DUPLICATE_FRAMES:
                await self._write(frame)
            if self._held is not None and fault is not Fault.REORDER_FRAMES:
                held, self._held = self._held, None
                await self._write(held)
        else:
            if self._held is not None:  # a reordered frame never passes a reply
                held, self._held = self._held, None
                await self._write(held)
            await self._write(frame)

    async def _write(self, frame: bytes) -> None:
        await self.ws.send_message(frame.decode())
        self.last_sent = trio.current_time()

    async def _heartbeats(self) -> None:
        interval = self.sim.config.heartbeat
        while True:
            await trio.sleep(interval / 4)
            now = trio.current_time()
            if now < self.stalled_until:
                continue
            if (self.subscriptions or self.sequences) and now - self.last_sent >= interval:
                self.push(frames.heartbeat(), data=False)
                self.last_sent = now
            idle = now - self.last_received
            if (
                not self.subscriptions
                and not self.sequences
                and idle >= self.sim.config.idle_timeout
            ):
                await self.ws.aclose(1000, "idle")
                self.cancel_scope.cancel()

    # --- life ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve this connection until it closes (or is dropped by a fault)."""
        with self.cancel_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer)
                nursery.start_soon(self._heartbeats)
                self.push(
                    frames.status_frame(self.venue.exchange.system, self.connection_id), False
                )
                try:
                    while True:
                        message = await self.ws.get_message()
                        self.last_received = trio.current_time()
                        raw = message.encode() if isinstance(message, str) else message
                        try:
                            await self._handle(raw)
                            self.sim.flush_private()  # reports follow the request's reply
                        except Exception:  # a bug here must not end the client's session
                            logger.bind(conn=self.kind).exception("request failed: {!r}", raw[:200])
                            self._error("unknown", "EGeneral:Internal error", None, self.sim.wall())
                except ConnectionClosed:
                    pass
                finally:
                    for token in self.tokens.values():
                        self.venue.release_token(token)
                    self.tokens.clear()
                nursery.cancel_scope.cancel()

    async def drop(self, code: int | None) -> None:
        """End the connection: abruptly (no close frame) if ``code`` is None."""
        if code is None:
            with trio.CancelScope(shield=True):
                await self.stream.aclose()
        else:
            await self.ws.aclose(code, "simulated close")
        self.cancel_scope.cancel()

    # --- requests --------------------------------------------------------------------------

    async def _handle(self, raw: bytes) -> None:
        wall = self.sim.wall()
        amend = _decode_amend(raw) if self.kind == "private" else None
        if amend is not None:
            self._amend_order(amend.params or _AmendParams(), amend.req_id, wall)
            return
        request = rq.decode_request(raw, wall)
        if request is None:
            logger.bind(conn=self.kind).info("malformed request from client")
            self._error("unknown", "Malformed request", None, wall)
            return
        if isinstance(request, bytes):
            self.push(request, False)
            return
        method, params, req_id = request.method, request.params or Params(), request.req_id
        if method == "ping":
            self.push(rq.pong(req_id, wall), False)
        elif method in ("subscribe", "unsubscribe"):
            if self.kind == "public":
                self._public_subscription(method, params, req_id, wall)
            else:
                self._private_subscription(method, params, req_id, wall)
        elif self.kind == "private" and method in rq.TRADING:
            if not self._authorised(method, params, req_id, wall):
                return
            hold = self.venue.faults.next_order_hold() if method == "add_order" else 0.0
            if hold:
                # In the matching engine's queue: placed (and answered) late, socket or not.
                self.sim.later(hold, lambda: self._trade_late(method, params, req_id))
            else:
                self._trade(method, params, req_id, wall)
        else:
            self._error(method, f"Method {method} not supported", req_id, wall)

    def _ack(self, method: str, req_id: int | None, wall: float, **result: object) -> None:
        self.push(rq.ack(method, req_id, wall, **result), False)

    def _error(
        self, method: str, error: str, req_id: int | None, wall: float, symbol: str | None = None
    ) -> None:
        self.push(frames.error_response(method, error, req_id, wall, symbol), False)

    # --- public ----------------------------------------------------------------------------

    def _public_subscription(
        self, method: str, params: Params, req_id: int | None, wall: float
    ) -> None:
        channel = params.channel
        if channel not in rq.PUBLIC_CHANNELS:
            self._error(method, rq.bad_channel(channel), req_id, wall)
            return
        if channel == "instrument":
            key: tuple[str, str, object] = ("instrument", "", None)
            self._toggle(method, key, req_id, wall, channel="instrument", snapshot=True)
            if method == "subscribe" and params.snapshot is not False:
                self.push(self.sim.instrument_frame())
            return
        symbols = [params.symbol] if isinstance(params.symbol, str) else params.symbol
        if not symbols:
            self._error(method, "EGeneral:Invalid arguments:symbol", req_id, wall)
            return
        option, error = rq.subscription_option(channel, params)
        if error:
            self._error(method, error, req_id, wall)
            return
        result: dict[str, object] = {"channel": channel}
        if channel == "book":
            result["depth"] = option
        if channel == "ohlc":
            result["interval"] = option
        snapshot = params.snapshot if params.snapshot is not None else channel != "trade"
        for symbol in symbols:
            if symbol not in self.venue.exchange.specs:
                self._error(method, f"Currency pair not supported {symbol}", req_id, wall, symbol)
                continue
            if not self._toggle(method, (channel, symbol, option), req_id, wall, symbol, **result):
                continue
            if method == "subscribe" and snapshot:
                exchange = self.venue.exchange
                self.push(frames.public_snapshot(exchange, channel, symbol, option, wall))

    def _toggle(
        self,
        method: str,
        key: tuple[str, str, object],
        req_id: int | None,
        wall: float,
        symbol: str | None = None,
        **result: object,
    ) -> bool:
        if method == "subscribe":
            if key in self.subscriptions:
                self._error(method, "Already subscribed", req_id, wall, symbol)
                return False
            self.subscriptions.add(key)
        else:
            if key not in self.subscriptions:
                self._error(method, "Subscription Not Found", req_id, wall, symbol)
                return False
            self.subscriptions.discard(key)
        if symbol is not None:
            result["symbol"] = symbol
        self._ack(method, req_id, wall, **result)
        return True

    # --- private ---------------------------------------------------------------------------

    def _authorised(self, method: str, params: Params, req_id: int | None, wall: float) -> bool:
        error = self.venue.check_token(params.token, trio.current_time())
        if error:
            self._error(method, error, req_id, wall)
            return False
        return True

    def _private_subscription(
        self, method: str, params: Params, req_id: int | None, wall: float
    ) -> None:
        channel = params.channel
        if channel not in rq.PRIVATE_CHANNELS:
            self._error(method, rq.bad_channel(channel), req_id, wall)
            return
        if not self._authorised(method, params, req_id, wall):
            return
        if method == "unsubscribe":
            if self.sequences.pop(channel, None) is None:
                self._error(method, "Subscription Not Found", req_id, wall)
            else:
                self.venue.release_token(self.tokens.pop(channel, ""))
                self._ack(method, req_id, wall, channel=channel)
            return
        if channel in self.sequences:
            self._error(method, "Already subscribed", req_id, wall)
            return
        self.tokens[channel] = params.token or ""
        self.venue.use_token(params.token or "")
        self.sequences[channel] = 0
        if channel == "executions":
            snapshot = params.snap_orders is not False
            self._ack(method, req_id, wall, channel=channel, maxratecount=125, snapshot=snapshot)
        else:
            self._ack(method, req_id, wall, channel=channel, snapshot=params.snapshot is not False)
        self.push(frames.encode(self._private_snapshot(channel, params)))

    def _private_snapshot(self, channel: str, params: Params) -> msgspec.Struct:
        """The first message of a private subscription (its sequence is 1)."""
        account = self.venue.exchange.account
        if channel == "balances":
            return wire.BalancesMessage(
                type="snapshot",
                data=account.balance_snapshot(),
                sequence=self.next_sequence(channel),
            )
        reports = []
        if params.snap_orders is not False:
            reports += [account.order_report(o) for o in account.open_orders()]
        if params.snap_trades:
            reports += [
                account.fill_report(f, account.orders[f.order_id]) for f in account.fills[-50:]
            ]
        return wire.ExecutionsMessage(
            type="snapshot", data=reports, sequence=self.next_sequence(channel)
        )

    def _trade_late(self, method: str, params: Params, req_id: int | None) -> None:
        self._trade(method, params, req_id, self.sim.wall())
        self.sim.flush_private()

    def _trade(self, method: str, params: Params, req_id: int | None, wall: float) -> None:
        if method == "add_order":
            self._add_order(params, req_id, wall)
        elif method == "cancel_order":
            self._cancel_order(params, req_id, wall)
        elif method == "cancel_all":
            self._ack(method, req_id, wall, count=self.sim.cancel_all("cancel_all"))
        else:
            timeout = params.timeout
            if timeout is None or not 0 <= timeout < rq.MAX_CANCEL_AFTER:
                self._error(method, "EGeneral:Invalid arguments:timeout", req_id, wall)
                return
            trigger = self.sim.arm_dead_man_switch(timeout)
            reply = rq.dead_man_reply(method, req_id, wall, trigger if timeout else None)
            self.push(reply, False)

    def _add_order(self, params: Params, req_id: int | None, wall: float) -> None:
        request = rq.order_request(params)
        if isinstance(request, str):
            self._error("add_order", request, req_id, wall)
            return
        error = self.venue.exchange.check_order(request)
        if error:
            self._error("add_order", error, req_id, wall)
            return
        if params.validate:
            self._ack("add_order", req_id, wall, order_id="")
            return
        order = self.sim.place_order(request)
        extra: dict[str, object] = {}
        if order.cl_ord_id:
            extra["cl_ord_id"] = order.cl_ord_id
        if order.order_userref is not None:
            extra["order_userref"] = order.order_userref
        self._ack("add_order", req_id, wall, order_id=order.order_id, **extra)

    def _cancel_order(self, params: Params, req_id: int | None, wall: float) -> None:
        ids = self.venue.exchange.find_orders(*rq.cancel_keys(params))
        if not ids:
            self._error("cancel_order", "EGeneral:Invalid arguments", req_id, wall)
        for order_id in ids:
            if order_id is not None and self.sim.cancel_order(order_id):
                self._ack("cancel_order", req_id, wall, order_id=order_id)
            else:
                self._error("cancel_order", "EOrder:Invalid order", req_id, wall)

    def _amend_order(self, params: _AmendParams, req_id: int | None, wall: float) -> None:
        """``amend_order``: the ack names the order; the ``amended`` report follows it."""
        error = self.venue.check_token(params.token, trio.current_time())
        if error is None and (params.order_id is None) == (params.cl_ord_id is None):
            error = "EGeneral:Invalid arguments:order_id or cl_ord_id"
        if error is not None:
            self._error("amend_order", error, req_id, wall)
            return
        request = AmendRequest(
            order_id=params.order_id,
            cl_ord_id=params.cl_ord_id,
            qty=params.order_qty,
            limit_price=params.limit_price,
            post_only=bool(params.post_only),
        )
        amended = self.venue.exchange.amend_order(request, wall)
        if isinstance(amended, str):
            self._error("amend_order", amended, req_id, wall)
            return
        self.sim.deliver([amended.update], flush=False)
        order = amended.order
        extra: dict[str, object] = {"cl_ord_id": order.cl_ord_id} if order.cl_ord_id else {}
        self._ack("amend_order", req_id, wall, order_id=order.order_id, **extra)
