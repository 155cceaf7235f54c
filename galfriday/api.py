"""The public way in: open an engine, read the account and the market, trade.

::

    import galfriday

    settings = galfriday.load_config()  # no file: galfriday's own simulator on loopback
    async with galfriday.open_engine(settings) as engine:
        book = engine.book("BTC/USD")
        async for event in engine.subscribe(galfriday.FillEvent, symbols=["BTC/USD"]):
            ...

:func:`open_engine` starts everything the settings describe (the embedded simulator or a
paper account too) in its own nursery and stops it all when the block ends.
:class:`Engine` is the view a bot uses: books in ``Decimal`` with their verification state,
orders, fills, balances, positions, P&L, health; events as async iterators; orders placed,
amended and cancelled through the engine's gateway (never sent twice, audited, refused with
:class:`~galfriday.errors.TradingHalted` while the engine cannot audit or does not trade).

Rules:
- Reads give the state at the call; only trading methods and ``wait_for`` wait on anything.
- The promise: what ``galfriday.__all__`` names is public and changes only with notice;
  everything else (``galfriday.live``, ``galfriday.core``...) may change in any release.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Final

import trio

from galfriday.bus import Policy, Subscription
from galfriday.core.health import Health
from galfriday.core.pnl import SymbolPnl
from galfriday.core.rails import OrderIntent, Rails, check
from galfriday.core.steps import OrderRefused as RailStep
from galfriday.core.steps import TradingStopped
from galfriday.errors import InvalidRequest, RailRefused, TradingHalted, sole_error
from galfriday.events import Event, FillEvent, OrderStatus, OrderUpdate, OrderView, TickerUpdate
from galfriday.live.engine import Engine as _Engine
from galfriday.live.engine import EngineConfig
from galfriday.live.engine import open_engine as _open_engine
from galfriday.live.gateway import OrderGateway
from galfriday.paper.engine import Clock, PaperEngine, real_clock
from galfriday.settings import Settings, embedded_engine, load_config
from galfriday.views import Book, Instrument, Level

__all__ = ["Clock", "Engine", "open_engine", "open_facade"]

FILLS_KEPT: Final = 10_000  # the fills of this run :meth:`Engine.fills` returns, newest kept
DEFAULT_DEPTH: Final = 10
SETTLE_SECONDS: Final = 5.0  # how long an interrupted order may take to show on the stream


class Engine:
    """A running engine, as a bot sees it. Get one from :func:`open_engine`."""

    def __init__(
        self,
        inner: _Engine,
        settings: Settings,
        rails: Rails | None = None,
        *,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        self._inner = inner
        self._clock = clock or real_clock
        self._ids = random.Random(seed)  # cl_ord_ids: fresh, or repeatable given a seed
        self.settings = settings
        self.rails = rails or Rails()
        self._tickers: dict[str, TickerUpdate] = {}
        self._fills: deque[FillEvent] = deque(maxlen=FILLS_KEPT)
        self._placed: set[str] = set()  # order ids placed through this view
        self._sent: set[str] = set()  # the cl_ord_ids of every order sent through it
        self._interrupted: set[str] = set()  # cl_ord_ids whose place() never returned
        self.stopped: str | None = None  # why trading stopped, once it has

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

    def pnl(self) -> dict[str, SymbolPnl]:
        """Each symbol's P&L by average cost over the fills since the engine started, its
        unrealised part at the mark now (the verified book's mid, else the last trade)."""
        return self._inner.state.pnl_figures()

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
            RailRefused: it breaks a rail (``[rails]``; nothing was sent, and it is audited).
            TradingHalted: the engine does not trade now (nothing was sent).
            OrderRejected: Kraken refused it.
            OrderOutcomeUnknown: it went out, got no answer and could not be found; it was
                not sent again, and waits in the review queue.
        """
        gateway = self._gateway()
        intent = OrderIntent(symbol=symbol, side=side, qty=qty, price=price)
        self._guard(intent)
        cl_ord_id = cl_ord_id or uuid.UUID(int=self._ids.getrandbits(128), version=4).hex
        self._sent.add(cl_ord_id)
        self._interrupted.add(cl_ord_id)  # until it returns: it may be on the book already
        order_id = await gateway.place(
            symbol,
            side,
            qty,
            price,
            order_type=order_type,
            cl_ord_id=cl_ord_id,
            post_only=post_only,
        )
        self._interrupted.discard(cl_ord_id)
        self._placed.add(order_id)
        return order_id

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
            RailRefused: the order it would become breaks a rail (nothing was sent).
        """
        gateway = self._gateway()
        order = self.order(order_id)
        if order is not None and order.symbol and order.side:
            old = OrderIntent.remaining_of(order)
            new = OrderIntent(
                symbol=order.symbol,
                side=order.side,
                qty=qty - order.cum_qty if qty is not None else old.qty,  # qty: the new total
                price=price if price is not None else old.price,
            )
            self._guard(new, replacing=order_id)
        await gateway.amend(order_id, qty=qty, price=price, post_only=post_only)

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

    # --- rails and stopping -----------------------------------------------------------------

    def placed(self) -> list[OrderView]:
        """The open orders placed through this view (a strategy's own)."""
        return [o for o in self.orders() if o.order_id in self._placed or o.cl_ord_id in self._sent]

    def stop_trading(self, reason: str, *, source: str = "strategy", critical: bool = True) -> None:
        """Refuse every further order from this view, and say why (an alert, audited). The
        account view keeps running; :meth:`cancel_placed` takes the orders off the book."""
        if self.stopped is not None:
            return
        self.stopped = reason
        self._inner.do(
            TradingStopped(source=source, reason=reason, critical=critical, **self._now())
        )

    async def cancel_placed(self) -> int:
        """Cancel every open order placed through this view; how many there were.

        An order whose :meth:`place` was interrupted (cancelled while it waited for Kraken's
        answer) may be on the book all the same: it is waited for on the stream, for
        :data:`SETTLE_SECONDS` at most, and cancelled too.
        """
        gateway = self._inner.gateway
        if gateway is None:
            return 0

        def seen() -> bool:  # interrupted orders on the stream (or never sent at all)
            return not self._interrupted - {o.cl_ord_id for o in self.orders(open_only=False)}

        await self._until(seen)
        self._interrupted.clear()
        orders = {o.order_id for o in self.placed()}
        async with trio.open_nursery() as nursery:
            for order_id in orders:
                nursery.start_soon(gateway.cancel, order_id)
        # Kraken answers a cancel before its ``canceled`` report arrives: wait for the reports.
        await self._until(lambda: not any(o.order_id in orders for o in self.orders()))
        return len(orders)

    async def _until(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()``, looking again after each order update; at most
        :data:`SETTLE_SECONDS`."""
        with trio.move_on_after(SETTLE_SECONDS), contextlib.suppress(trio.EndOfChannel):
            async with self._inner.bus.subscribe(OrderUpdate) as updates:
                while not done():
                    await updates.receive()

    def killed(self) -> bool:
        """Whether the kill switch (``[rails] kill_file``) is tripped."""
        return self.rails.kill_file is not None and Path(self.rails.kill_file).exists()

    def _guard(self, intent: OrderIntent, replacing: str | None = None) -> None:
        """Refuse (audited) an order that breaks a rail, or any order once trading stopped;
        ``replacing``: the id of the order an amend changes."""
        if self.stopped is not None:
            raise TradingHalted(f"trading stopped: {self.stopped}")
        if self.killed():
            self.stop_trading(f"kill switch: {self.rails.kill_file} exists", source="rails")
            raise TradingHalted(f"kill switch: {self.rails.kill_file} exists")
        book = self._inner.marketdata.machine.books.get(intent.symbol)
        far = None
        if book is not None:
            best = book.book.best_ask if intent.side == "buy" else book.book.best_bid
            far = book.book.price_of(best[0]) if best is not None else None
        account = self._inner.account
        position = account.portfolio.position(intent.symbol) if account is not None else Decimal(0)
        mine = {o.order_id: OrderIntent.remaining_of(o) for o in self.placed()}
        rule = check(
            self.rails,
            intent,
            open_orders=mine.values(),
            position=position,
            market_price=far,
            replacing=mine.get(replacing) if replacing is not None else None,
        )
        if rule is not None:
            step = RailStep(
                symbol=intent.symbol, side=intent.side, qty=intent.qty, price=intent.price,
                rule=rule, **self._now(),
            )  # fmt: skip
            self._inner.do(step)
            raise RailRefused(rule)

    # --- the engine underneath -------------------------------------------------------------

    def _now(self) -> dict[str, float]:
        wall, mono = self._clock()
        return {"wall": wall, "mono": mono}

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
    started = False
    try:
        async with AsyncExitStack() as stack:
            config = chosen.engine
            if config is None:
                from galfriday.sim.embedded import open_embedded

                _, urls = await stack.enter_async_context(open_embedded(chosen.seed))
                config = embedded_engine(chosen, urls)
            prebuilt = None
            if chosen.paper is not None:
                prebuilt = PaperEngine(config, chosen.paper)
                prebuilt.begin()  # the paper account's snapshots: start-up need not wait
            inner = await stack.enter_async_context(_open_engine(config, engine=prebuilt))
            engine = await stack.enter_async_context(open_facade(inner, chosen))
            started = True
            yield engine
    except BaseExceptionGroup as group:
        if started:
            raise
        raise sole_error(group) from None  # a start-up refusal (a database in use) as itself


@asynccontextmanager
async def open_facade(
    inner: _Engine, settings: Settings, *, clock: Clock | None = None, seed: int | None = None
) -> AsyncIterator[Engine]:
    """The public view of an engine already running (``inner``), for tools that build the
    engine themselves (the backtest). ``clock``: (wall, monotonic) now, the real clocks unless
    given; ``seed``: makes the client order ids it invents repeatable."""
    engine = Engine(inner, settings, settings.rails, clock=clock, seed=seed)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine._follow)
        yield engine
        nursery.cancel_scope.cancel()
