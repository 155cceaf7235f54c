"""The engine in paper mode: live market data, simulated fills, no private connection.

:class:`PaperEngine` is the live :class:`~galfriday.live.engine.Engine` (the same public
connection, market-data fold, audit trail, capture and bus) with a
:class:`~galfriday.paper.venue.PaperVenue` where the exchange's account would be:

- ``account`` is a :class:`~galfriday.live.private.PrivateStream` with no socket: the venue's
  messages are encoded as Kraken's frames and fed to its machine through the engine's state, so
  orders, fills, balances, positions and P&L come from the same code as live (and the capture
  records them as frames of the ``private`` connection);
- ``gateway`` is a :class:`PaperGateway`: the order gateway's ``place``/``cancel``/``amend``
  over the venue (each a checkpoint; refusals raise what Kraken's would);
- every public frame goes through the market-data fold first, then, while orders rest, to the
  venue (trades and book changes fill them), with that frame's times.

Keys, reconciliation and the dead-man switch are off (:func:`paper_engine_config`): there is no
account at Kraken to compare with. Time comes from ``clock`` (wall, monotonic): the real clocks
by default; a backtest passes the capture's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final

import msgspec
import trio

from galfriday.capture.tape import Tape
from galfriday.core.frames import Frame
from galfriday.core.health import ConnectionMetrics
from galfriday.errors import (
    InvalidRequest,
    MalformedFrame,
    OrderRejected,
    kraken_error,
)
from galfriday.kraken import wire
from galfriday.live.engine import Engine, EngineConfig
from galfriday.live.gateway import OrderGateway
from galfriday.live.private import PrivateStream
from galfriday.paper.venue import MarketView, PaperConfig, PaperVenue, Refused, Ticket

__all__ = ["PaperEngine", "PaperGateway", "paper_engine_config"]

_ENCODER: Final = msgspec.json.Encoder(decimal_format="number")

Clock = Callable[[], tuple[float, float]]  # (wall, monotonic) now


def real_clock() -> tuple[float, float]:
    """The wall and monotonic clocks now (live paper trading)."""
    return time.time(), trio.current_time()


def paper_engine_config(config: EngineConfig) -> EngineConfig:
    """``config`` for paper trading: no keys, no reconciliation, no dead-man switch (there is
    no account at Kraken); its public connection, database and capture as they are."""
    return replace(
        config, api_key=None, api_secret=None, reconcile=None, dead_man=False, nonce_path=None
    )


class PaperEngine(Engine):
    """The live engine trading a paper account (see the module docstring).

    Args:
        config: the engine's configuration (:func:`paper_engine_config` is applied).
        paper: the paper account's balances and fees.
        clock: (wall, monotonic) now; the real clocks unless given.
        tape: where frames and steps are recorded (the capture's, by default).
    """

    def __init__(
        self,
        config: EngineConfig,
        paper: PaperConfig,
        *,
        clock: Clock = real_clock,
        tape: Tape | None = None,
    ) -> None:
        super().__init__(paper_engine_config(config), tape=tape)
        self.venue = PaperVenue(paper)
        self.clock = clock
        self._decoder = wire.FrameDecoder()
        self._orders_placed = 0
        self.account = stream = PrivateStream(
            replace(self.config.private, symbols=self.pairs),
            self.recorder,
            ConnectionMetrics("paper", 0.0),
            self.rest,
            symbols=self.symbols,
            tape=self.tape,
        )
        self.gateway = PaperGateway(self, stream)
        self.gateway.halted = self._orders_refused
        self.state = self._open_state(self.tape)  # the state again, now with the account
        self.marketdata.receive = self.receive_public

    def begin(self) -> None:
        """Deliver the account's snapshots (open orders, balances) at ``clock`` time: the
        stream's first frames. Call once, before the engine runs."""
        self.venue.snapshot()
        self.deliver(*self.clock())
        if self.account is not None:
            self.account.snapshots.set()

    def receive_public(self, frame: Frame) -> tuple[str, str] | None:
        """One public frame: the market-data fold, then the resting orders it fills."""
        resync = self.state.receive_public(frame)
        if self.venue.resting:
            self._match(frame)
        return resync

    def _match(self, frame: Frame) -> None:
        try:
            message = self._decoder.decode(frame.raw)
        except MalformedFrame:
            return  # the fold has counted and audited it
        wall = frame.received_wall
        if isinstance(message, wire.TradeMessage):
            for trade in message.data:
                self.venue.on_trade(trade.symbol, trade.price, trade.qty, wall)
        elif isinstance(message, wire.BookMessage):
            for symbol in {entry.symbol for entry in message.data}:
                if self.venue.open_orders(symbol):
                    self.venue.on_book(self.market(symbol), wall)
        self.deliver(wall, frame.received_mono)

    def deliver(self, wall: float, mono: float) -> None:
        """Feed the venue's waiting messages to the account as private frames (recorded)."""
        receive = self.account.receive if self.account is not None else None
        for message in self.venue.take():
            text = _ENCODER.encode(message).decode()
            self.tape.ws_in("private", mono, wall, text)
            if receive is not None:
                receive(Frame(text, mono, wall, "private"))

    def market(self, symbol: str) -> MarketView:
        """``symbol`` as the engine sees it now: names, rules, the venue's depth of book."""
        machine = self.marketdata.machine
        pair, feed = machine.pairs.get(symbol), machine.books.get(symbol)
        base, _, quote = symbol.partition("/")
        top = feed.book.top(self.venue.config.depth) if feed is not None else None
        if pair is None:
            return MarketView(symbol, base, quote, top.bids if top else (), top.asks if top else ())
        increment = pair.price_increment or Decimal(1).scaleb(-pair.price_precision)
        return MarketView(
            symbol,
            pair.base,
            pair.quote,
            top.bids if top else (),
            top.asks if top else (),
            qty_min=pair.qty_min,
            price_increment=increment,
            cost_min=pair.cost_min,
        )

    def next_cl_ord_id(self) -> str:
        """A client order id for an order placed without one: the run tag and a counter (the
        same in every run of a backtest)."""
        self._orders_placed += 1
        return f"{self.venue.tag.lower()}{self._orders_placed:027d}"


class PaperGateway(OrderGateway):
    """The order gateway's ``place``/``cancel``/``amend`` over the paper venue.

    Each call is a checkpoint, then acts at once: its reports reach the account before it
    returns. Kraken's refusals raise as from the live gateway
    (:class:`~galfriday.errors.OrderRejected`...).
    """

    def __init__(self, engine: PaperEngine, stream: PrivateStream) -> None:
        super().__init__(stream, engine.rest, engine.symbols)
        self.engine = engine
        self.venue = engine.venue

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
        """Place a paper order; returns its id (see :meth:`OrderGateway.place`)."""
        cl_ord_id = cl_ord_id or self.engine.next_cl_ord_id()
        self._checked(symbol, side, qty, price, order_type, cl_ord_id, post_only)  # as live
        await trio.lowlevel.checkpoint()
        ticket = Ticket(symbol, side, qty, price, order_type, cl_ord_id, post_only)
        order_id: str = self._act(
            lambda wall: self.venue.place(ticket, self.engine.market(symbol), wall)
        )
        return order_id

    async def cancel(self, order_id: str) -> None:
        """Cancel a paper order; one already closed is no error.

        Raises:
            OrderRejected: ``EOrder:Unknown order`` for an order the venue never had.
        """
        await trio.lowlevel.checkpoint()
        if order_id not in self.venue.orders:
            raise OrderRejected("EOrder:Unknown order")
        self._act(lambda wall: self.venue.cancel(order_id, wall))

    async def amend(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        post_only: bool = False,
    ) -> None:
        """Change a resting paper order's quantity and/or limit price in place."""
        if qty is None and price is None:
            raise InvalidRequest("amend needs a new qty or price")
        await trio.lowlevel.checkpoint()
        order = self.venue.orders.get(order_id)
        symbol = order.ticket.symbol if order is not None else ""
        self._act(
            lambda wall: self.venue.amend(
                order_id, qty, price, self.engine.market(symbol), wall, post_only=post_only
            )
        )

    async def arm_dead_man_switch(self, seconds: int) -> None:
        """Nothing to arm: the paper venue lives in this process."""
        await trio.lowlevel.checkpoint()

    def _act(self, action: Callable[[float], Any]) -> Any:
        """Run a venue action at ``clock`` time and deliver its reports; a refusal raises as
        Kraken's error would."""
        wall, mono = self.engine.clock()
        try:
            return action(wall)
        except Refused as exc:
            raise kraken_error(exc.code) from None
        finally:
            self.engine.deliver(wall, mono)
