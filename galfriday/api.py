"""The public way in: open an engine, read the account and the market, trade.

::

    import galfriday

    settings = galfriday.load_config()  # no file: galfriday's own simulator on loopback
    async with galfriday.open_engine(settings) as engine:
        book = engine.book("BTC/USD")
        async for event in engine.subscribe(galfriday.FillEvent, symbols=["BTC/USD"]):
            ...

:func:`open_engine` starts everything the settings describe (the embedded simulator too,
without a configuration file) in its own nursery and stops it all when the block ends.
:class:`Engine` is the view a bot uses: books in ``Decimal`` with their verification state,
orders, fills, balances, positions, P&L, health; events as async iterators; orders placed,
amended and cancelled through the engine's gateway (never sent twice, audited, refused with
:class:`~galfriday.errors.TradingHalted` while the engine cannot audit or does not trade).

Rules:
- Everything here reads the engine's state as it is at the call: no call blocks on the
  network except the trading methods and :meth:`Engine.wait_for`.
- The promise: what ``galfriday.__all__`` names is public and changes only with notice;
  everything else (``galfriday.live``, ``galfriday.core``...) may change in any release.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Final

import msgspec
import trio

from galfriday.bus import Policy, Subscription
from galfriday.core.health import Health
from galfriday.errors import InvalidRequest, TradingHalted
from galfriday.events import Event, FillEvent, OrderStatus, OrderUpdate, OrderView, TickerUpdate
from galfriday.live.engine import Engine as _Engine
from galfriday.live.engine import EngineConfig
from galfriday.live.engine import open_engine as _open_engine
from galfriday.live.gateway import OrderGateway
from galfriday.settings import Settings, embedded_engine, load_config

__all__ = ["Book", "Engine", "Instrument", "Level", "open_engine"]

FILLS_KEPT: Final = 10_000  # the fills of this run :meth:`Engine.fills` returns, newest kept
DEFAULT_DEPTH: Final = 10


class Level(msgspec.Struct, frozen=True, array_like=True):
    """One price level: ``price`` and the ``qty`` resting there."""

    price: Decimal
    qty: Decimal


class Book(msgspec.Struct, frozen=True, kw_only=True):
    """A book as it stands, best levels first.

    Attributes:
        symbol: ``BTC/USD``.
        bids: the best bids, highest first.
        asks: the best asks, lowest first.
        verified: the last update matched Kraken's checksum (a book that is not verified is
            being rebuilt from a fresh snapshot; do not trade on it).
    """

    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    verified: bool

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        """Halfway between the best bid and ask; ``None`` while a side is empty."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    @property
    def spread(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return self.asks[0].price - self.bids[0].price


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """A pair's trading rules, as Kraken's ``instrument`` channel states them.

    Attributes:
        symbol: ``BTC/USD``; ``base`` and ``quote`` its assets.
        price_increment: prices must be multiples of it (Kraken refuses others with
            ``EOrder:Tick size check failed``).
        qty_increment: quantities must be multiples of it.
        qty_min: the smallest order quantity; ``cost_min`` the smallest order cost in quote
            (``None`` when Kraken does not say).
        status: ``online``, ``cancel_only``, ``post_only``, ``limit_only``, ``reduce_only``...
    """

    symbol: str
    base: str
    quote: str
    price_increment: Decimal
    qty_increment: Decimal
    qty_min: Decimal | None = None
    cost_min: Decimal | None = None
    status: str | None = None

    def round_price(self, price: Decimal, *, up: bool = False) -> Decimal:
        """``price`` on the tick grid: down (a buyer's safe side), or ``up``."""
        return _on_grid(price, self.price_increment, up)

    def round_qty(self, qty: Decimal) -> Decimal:
        """``qty`` rounded down to a valid multiple of ``qty_increment``."""
        return _on_grid(qty, self.qty_increment, False)


def _on_grid(value: Decimal, step: Decimal, up: bool) -> Decimal:
    units = (value / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (units * step).quantize(step)


class Engine:
    """A running engine, as a bot sees it. Get one from :func:`open_engine`."""

    def __init__(self, inner: _Engine, settings: Settings) -> None:
        self._inner = inner
        self.settings = settings
        self._tickers: dict[str, TickerUpdate] = {}
        self._fills: deque[FillEvent] = deque(maxlen=FILLS_KEPT)

    # --- the market -----------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """The pairs whose market data the engine follows."""
        return tuple(self._inner.marketdata.machine.symbols)

    def book(self, symbol: str, depth: int = DEFAULT_DEPTH) -> Book:
        """``symbol``'s book now, its best ``depth`` levels a side.

        Raises:
            InvalidRequest: a pair the engine does not follow.
        """
        feed = self._inner.marketdata.machine.books.get(symbol)
        if feed is None:
            if symbol not in self.symbols:
                raise InvalidRequest(f"{symbol} is not followed (engine.symbols)")
            return Book(symbol=symbol, bids=(), asks=(), verified=False)
        book = feed.book
        bids, asks = book.top_levels(depth)
        price, qty = book.price_of, book.qty_of
        return Book(
            symbol=symbol,
            bids=tuple(Level(price(p), qty(q)) for p, q in bids),
            asks=tuple(Level(price(p), qty(q)) for p, q in asks),
            verified=feed.verified and not feed.resyncing,
        )

    def instrument(self, symbol: str) -> Instrument:
        """``symbol``'s trading rules: tick size, lot size, minimums.

        Raises:
            InvalidRequest: a pair the engine does not follow (or whose rules have not come).
        """
        pair = self._inner.marketdata.machine.pairs.get(symbol)
        if pair is None or symbol not in self.symbols:
            raise InvalidRequest(f"{symbol} is not followed (engine.symbols)")
        return Instrument(
            symbol=pair.symbol,
            base=pair.base,
            quote=pair.quote,
            price_increment=pair.price_increment or Decimal(1).scaleb(-pair.price_precision),
            qty_increment=pair.qty_increment or Decimal(1).scaleb(-pair.qty_precision),
            qty_min=pair.qty_min,
            cost_min=pair.cost_min,
            status=pair.status,
        )

    def ticker(self, symbol: str) -> TickerUpdate | None:
        """``symbol``'s last ticker, if one came since the engine started."""
        return self._tickers.get(symbol)

    # --- the account ----------------------------------------------------------------------

    def orders(self, symbol: str | None = None, *, open_only: bool = True) -> list[OrderView]:
        """The orders the engine knows (open ones unless ``open_only`` is false), optionally
        of one pair."""
        account = self._inner.account
        if account is None:
            return []
        orders = account.orders.open_orders() if open_only else account.orders.orders()
        return [o for o in orders if symbol is None or o.symbol == symbol]

    def order(self, order_id: str) -> OrderView | None:
        """One order as the engine knows it, or ``None``."""
        account = self._inner.account
        return None if account is None else account.orders.get(order_id)

    def fills(self, symbol: str | None = None) -> list[FillEvent]:
        """This run's fills, oldest first (the last :data:`FILLS_KEPT`); the audit database
        holds every fill ever made."""
        return [f for f in self._fills if symbol is None or f.symbol == symbol]

    def balances(self) -> dict[str, Decimal]:
        """Spot balances by asset (what can be traded; earn wallets are apart)."""
        account = self._inner.account
        return {} if account is None else dict(account.portfolio.balances)

    def positions(self) -> dict[str, Decimal]:
        """The base-asset holding of every followed pair (``BTC/USD`` -> BTC held)."""
        account = self._inner.account
        if account is None:
            return {}
        return {symbol: account.portfolio.position(symbol) for symbol in self._inner.pairs}

    def health(self) -> dict[str, Health]:
        """Each connection's health (``healthy``, ``degraded``, ``unhealthy``)."""
        return {name: report.state for name, report in self._inner.health.items()}

    @property
    def trading(self) -> bool:
        """Whether this engine places orders (trade mode, with credentials)."""
        return self._inner.gateway is not None and self._inner.config.trading

    # --- events ---------------------------------------------------------------------------

    def subscribe(
        self,
        *types: type[Event],
        symbols: Iterable[str] | None = None,
        capacity: int = 1024,
        policy: Policy = "drop_oldest",
    ) -> Subscription:
        """Events of ``types`` (every event without), of ``symbols`` only if given, as an
        async iterator; also an async context manager that unsubscribes on exit.

        An event without a pair (a connection change, an alert) passes a ``symbols`` filter.
        ``policy``: ``"drop_oldest"`` keeps the newest when the consumer falls behind;
        ``"disconnect"`` ends the iteration with :class:`~galfriday.bus.SubscriberTooSlow`
        instead, for a consumer that must see every event.
        """
        return self._inner.bus.subscribe(
            *types,
            capacity=capacity,
            policy=policy,
            symbols=None if symbols is None else frozenset(symbols),
        )

    # --- trading --------------------------------------------------------------------------

    async def place(
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal | None = None,
        *,
        order_type: str = "limit",
        post_only: bool = False,
        cl_ord_id: str | None = None,
    ) -> str:
        """Place an order; returns Kraken's order id once Kraken accepted it.

        Raises:
            InvalidRequest: it breaks Kraken's rules (nothing was sent).
            TradingHalted: the engine does not trade now (nothing was sent).
            OrderRejected: Kraken refused it.
            OrderOutcomeUnknown: it went out, got no answer and could not be found; it was
                not sent again, and waits in the review queue.
        """
        return await self._gateway().place(
            symbol,
            side,
            qty,
            price,
            order_type=order_type,
            cl_ord_id=cl_ord_id,
            post_only=post_only,
        )

    async def cancel(self, order_id: str) -> None:
        """Cancel one order (an order already closed is no error)."""
        await self._gateway().cancel(order_id)

    async def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel every open order the engine knows (of ``symbol`` only, if given); how many
        it asked to cancel. Orders placed elsewhere on the account are left alone unless the
        engine has seen them on the stream."""
        gateway = self._gateway()
        orders = [o.order_id for o in self.orders(symbol)]
        async with trio.open_nursery() as nursery:
            for order_id in orders:
                nursery.start_soon(gateway.cancel, order_id)
        return len(orders)

    async def amend(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        post_only: bool = False,
    ) -> None:
        """Change an open order's quantity and/or limit price in place (Kraken's
        ``amend_order``: same ids, fills kept, queue priority kept where possible).

        Raises:
            InvalidRequest: neither ``qty`` nor ``price``, or an order not open.
        """
        await self._gateway().amend(order_id, qty=qty, price=price, post_only=post_only)

    async def wait_for(self, order_id: str, *statuses: OrderStatus) -> OrderView:
        """Wait until the order reaches one of ``statuses`` or any final status (without
        ``statuses``: a final one); returns it as it then is (check its ``status``). To wait
        at most a while, wrap it: ``with trio.fail_after(30): await engine.wait_for(...)``.

        Raises:
            TradingHalted: the engine stopped first.
        """
        wanted = set(statuses)

        def done(order: OrderView) -> bool:
            return order.status in wanted or order.status.final

        # Any order's update wakes it to look at the tracker: an update of this order that a
        # full buffer dropped is still seen there.
        async with self._inner.bus.subscribe(OrderUpdate, capacity=64) as updates:
            while True:
                current = self.order(order_id)
                if current is not None and done(current):
                    return current
                try:
                    await updates.receive()
                except trio.EndOfChannel:
                    break
        raise TradingHalted("the engine stopped while waiting for the order")

    # --- the engine underneath -------------------------------------------------------------

    @property
    def internal(self) -> _Engine:
        """The engine underneath (``galfriday.live.engine.Engine``): not public, may change."""
        return self._inner

    def _gateway(self) -> OrderGateway:
        gateway = self._inner.gateway
        if gateway is None:
            raise TradingHalted("this engine has no credentials (market-data mode)")
        return gateway

    async def _follow(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep the last ticker per pair and this run's fills."""
        async with self._inner.bus.subscribe(TickerUpdate, FillEvent, capacity=10_000) as events:
            task_status.started()
            async for event in events:
                if isinstance(event, TickerUpdate):
                    self._tickers[event.symbol] = event
                elif isinstance(event, FillEvent):
                    self._fills.append(event)


@asynccontextmanager
async def open_engine(
    settings: Settings | EngineConfig | str | Path | None = None,
) -> AsyncIterator[Engine]:
    """Run an engine for the duration of the block.

    Args:
        settings: what :func:`~galfriday.settings.load_config` returned; or a path to a
            configuration file; or nothing for the embedded simulator (what ``just run``
            runs). An :class:`EngineConfig` is accepted for tests and tools.

    The block starts once the books and the account's snapshots have arrived (or a minute
    has passed); leaving it stops the engine cleanly (audit trail flushed, capture closed).
    """
    if isinstance(settings, EngineConfig):
        chosen = Settings(engine=settings, database=Path(settings.database))
    elif isinstance(settings, Settings):
        chosen = settings
    else:
        chosen = load_config(settings)
    async with AsyncExitStack() as stack:
        config = chosen.engine
        if config is None:
            from galfriday.sim.embedded import open_embedded

            _, urls = await stack.enter_async_context(open_embedded(chosen.seed))
            config = embedded_engine(chosen, urls)
        inner = await stack.enter_async_context(_open_engine(config))
        nursery = await stack.enter_async_context(trio.open_nursery())
        engine = Engine(inner, chosen)
        await nursery.start(engine._follow)
        yield engine
        nursery.cancel_scope.cancel()
