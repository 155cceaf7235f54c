"""The simulated exchange: books, public trades, tickers, candles and one account (sans-IO).

The trio servers call these methods and ship what they return; nothing here sleeps, reads a
clock or touches a socket. ``wall`` (epoch seconds) is passed in by the caller.

Order rules, checked in Kraken's order (error strings as Kraken sends them): the market must
not be in ``cancel_only``/``maintenance``; the symbol must exist; quantity at least the pair's
minimum (``EOrder:Order minimum not met``); price a multiple of the tick
(``EOrder:Tick size check failed``); cost at least the pair's minimum
(``EOrder:Cost minimum not met``); enough available funds (``EOrder:Insufficient funds``).

Amends (``amend_order`` / ``AmendOrder``) change an open order in place: it keeps its ids and
its fills. A quantity decrease at the same price keeps its place in the queue; a price change
or a quantity increase sends it to the back of its (new) level; a new total at or below the
filled quantity cancels the rest. A new price that crosses matches like an incoming order,
unless ``post_only`` asks for a refusal (``EOrder:Post only order``). An id that names no
order is ``EOrder:Unknown order``; a closed order is ``EOrder:Invalid order`` (Kraken's split
between the two is unverified: a client must take either as "not amended").
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from galfriday.kraken import wire
from galfriday.kraken.requests import OHLC_INTERVALS
from galfriday.sim.account import TAKER_FEE, ZERO, Account, SimFill, SimOrder, utc_datetime
from galfriday.sim.market import PairSpec, SimBook, StepResult

__all__ = ["AmendRequest", "Amended", "Exchange", "OrderRequest", "PublicUpdate"]

SEED_LEVELS: Final = 1050
RECENT_TRADES: Final = 50


@dataclass(frozen=True)
class OrderRequest:
    """An order as a client asked for it (WS ``add_order`` or REST ``AddOrder``)."""

    symbol: str
    side: str
    order_type: str
    qty: Decimal
    limit_price: Decimal | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    time_in_force: str = "GTC"
    post_only: bool = False
    validate: bool = False
    expire_at: float | None = None  # wall time, for time_in_force GTD


@dataclass(frozen=True)
class AmendRequest:
    """An amend as a client asked for it: the order by ``order_id`` or ``cl_ord_id``, the new
    total quantity (Kraken's page marks it required), and optionally a new limit price."""

    order_id: str | None
    cl_ord_id: str | None
    qty: Decimal | None
    limit_price: Decimal | None = None
    post_only: bool = False


@dataclass
class PublicUpdate:
    """What one event changed in public: book changes and the trades they printed."""

    step: StepResult
    trades: list[wire.Trade] = field(default_factory=list)


@dataclass(frozen=True)
class Amended:
    """An amend the exchange carried out: the order as it now stands, and what changed."""

    order: SimOrder
    update: PublicUpdate


@dataclass
class _Candle:
    begin: float
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO
    notional: Decimal = ZERO
    trades: int = 0


@dataclass
class _TickerState:
    first: Decimal | None = None
    last: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    volume: Decimal = ZERO
    notional: Decimal = ZERO


class Exchange:
    """Books for every pair, the public tape, and one account.

    Args:
        pairs: the tradable pairs.
        balances: the account's starting spot balances (WS v2 asset codes).
        earn: what the account holds in earn wallets (WS v2 asset codes).
        seed: the same seed gives the same market and the same sequence of id characters;
            every id also carries the account's run tag, fresh in every run, so ids
            never repeat across runs (see :mod:`galfriday.sim.account`).
    """

    def __init__(
        self,
        pairs: list[PairSpec],
        balances: dict[str, Decimal],
        seed: int,
        earn: dict[str, Decimal] | None = None,
    ) -> None:
        self.specs = {p.symbol: p for p in pairs}
        self.rng = random.Random(seed)
        self.account = Account(balances, random.Random(seed + 1), earn)
        self.books = {p.symbol: SimBook(p) for p in pairs}
        for book in self.books.values():
            book.seed_levels(self.rng, SEED_LEVELS)
        self.trade_ids = dict.fromkeys(self.specs, 0)
        self.recent: dict[str, deque[wire.Trade]] = {
            s: deque(maxlen=RECENT_TRADES) for s in self.specs
        }
        self._tickers = {s: _TickerState() for s in self.specs}
        self._candles: dict[tuple[str, int], _Candle] = {}
        self.system = "online"
        self.events = 0

    # --- market ----------------------------------------------------------------------------

    def background_event(self, wall: float, symbol: str | None = None) -> PublicUpdate:
        """One background trader's action on ``symbol`` (a random pair if None)."""
        symbol = symbol or self.rng.choice(list(self.books))
        step = self.books[symbol].background_event(self.rng)
        self.events += 1
        return PublicUpdate(step, self._settle(step, wall))

    def ticker(self, symbol: str) -> wire.Ticker:
        book, state = self.books[symbol], self._tickers[symbol]
        spec = book.spec
        bid, ask = book.top("bids", 1), book.top("asks", 1)
        change = (state.last - state.first) if state.last and state.first else ZERO
        pct = (change / state.first * 100).quantize(Decimal("0.01")) if state.first else ZERO
        vwap = state.notional / state.volume if state.volume else None
        return wire.Ticker(
            symbol=symbol,
            bid=spec.price(bid[0][0]) if bid else None,
            bid_qty=spec.qty(bid[0][1]) if bid else None,
            ask=spec.price(ask[0][0]) if ask else None,
            ask_qty=spec.qty(ask[0][1]) if ask else None,
            last=state.last,
            volume=state.volume,
            vwap=vwap.quantize(spec.tick) if vwap is not None else None,
            low=state.low,
            high=state.high,
            change=change,
            change_pct=pct,
        )

    def candle(self, symbol: str, interval: int, wall: float) -> wire.Candle | None:
        """The current candle of ``interval`` minutes, if any trade has printed in it."""
        state = self._candles.get((symbol, interval))
        if state is None:
            return None
        spec = self.specs[symbol]
        vwap = state.notional / state.volume if state.volume else state.close
        return wire.Candle(
            symbol=symbol,
            open=state.open,
            high=state.high,
            low=state.low,
            close=state.close,
            vwap=vwap.quantize(spec.tick),
            trades=state.trades,
            volume=state.volume,
            interval_begin=utc_datetime(state.begin),
            interval=interval,
            timestamp=utc_datetime(state.begin + interval * 60),
        )

    # --- orders ----------------------------------------------------------------------------

    def check_order(self, request: OrderRequest) -> str | None:
        """Kraken's error string for an order that must be refused, else None."""
        if self.system in ("maintenance", "cancel_only"):
            return f"EService:Market in {self.system} mode"
        spec = self.specs.get(request.symbol)
        if spec is None:
            return "EQuery:Unknown asset pair"
        if request.side not in ("buy", "sell"):
            return "EGeneral:Invalid arguments:side"
        if request.order_type not in ("limit", "market"):
            return "EGeneral:Invalid arguments:order_type"
        if request.qty <= 0 or spec.qty_lots(request.qty) is None:
            return "EGeneral:Invalid arguments:order_qty"
        if request.qty < spec.qty_min:
            return "EOrder:Order minimum not met"
        price = request.limit_price
        if request.time_in_force.upper() == "GTD" and request.expire_at is None:
            return "EGeneral:Invalid arguments:expire_time"
        if request.order_type == "limit":
            if price is None or price <= 0:
                return "EGeneral:Invalid arguments:limit_price"
            if spec.price_ticks(price) is None:
                return "EOrder:Tick size check failed"
        reference = price if price is not None else self._market_price(spec, request.side)
        if reference is None:
            return "EOrder:Insufficient liquidity"
        if request.qty * reference < spec.cost_min:
            return "EOrder:Cost minimum not met"
        if request.side == "buy":
            need = request.qty * reference * (1 + TAKER_FEE)
            if self.account.available(spec.quote, self.specs) < need:
                return "EOrder:Insufficient funds"
        elif self.account.available(spec.base, self.specs) < request.qty:
            return "EOrder:Insufficient funds"
        if self.system == "post_only" and request.order_type == "market":
            return "EService:Market in post_only mode"
        return None

    def add_order(
        self, request: OrderRequest, wall: float, *, announced: bool = True
    ) -> tuple[SimOrder, PublicUpdate]:
        """Place a checked order: match what crosses, rest the remainder of a limit order."""
        spec = self.specs[request.symbol]
        order = SimOrder(
            order_id=self.account.new_id("O"),
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            qty=request.qty,
            limit_price=request.limit_price,
            opened=wall,
            cl_ord_id=request.cl_ord_id,
            order_userref=request.order_userref,
            time_in_force=request.time_in_force.upper(),
            announced=announced,
        )
        self.account.open_order(order)
        book = self.books[request.symbol]
        step = StepResult(request.symbol, boundaries=book.snapshot_boundaries())
        lots = spec.qty_lots(request.qty) or 0
        limit = spec.price_ticks(request.limit_price) if request.limit_price is not None else None
        crosses = limit is None or self._crosses(book, request.side, limit)
        if request.post_only and crosses:
            self.account.close(order, "canceled", wall, "post_only order would take")
            return order, PublicUpdate(step)
        return order, PublicUpdate(step, self._enter(order, lots, limit, step, wall))

    def _enter(
        self, order: SimOrder, lots: int, limit: int | None, step: StepResult, wall: float
    ) -> list[wire.Trade]:
        """Match ``lots`` of ``order`` up to ``limit`` (None: a market order) and rest what is
        left of a limit order at the back of its level; the trades printed."""
        book = self.books[order.symbol]
        crosses = limit is None or self._crosses(book, order.side, limit)
        left = book.take(order.side, lots, limit, order.order_id, step) if crosses else lots
        trades = self._settle(step, wall)
        if order.is_open and left:
            if limit is None or order.time_in_force == "IOC":
                self.account.close(order, "canceled", wall, "no more liquidity")
            elif self._crosses(book, order.side, limit):
                # Only our own resting order stopped the match: self-trade prevention
                # (cancel_newest) cancels the rest of the incoming order.
                self.account.close(order, "canceled", wall, "self trade prevented")
            else:
                side = "bids" if order.side == "buy" else "asks"
                book.add(side, limit, left, order.order_id, step)
        return trades

    def cancel_order(
        self, order_id: str, wall: float, reason: str = "user", status: str = "canceled"
    ) -> PublicUpdate | None:
        """Cancel (or with ``status="expired"``, expire) an open order.

        None if it is unknown or closed (Kraken answers ``EOrder:Invalid order``).
        """
        order = self.account.orders.get(order_id)
        if order is None or not order.is_open:
            return None
        book = self.books[order.symbol]
        step = StepResult(order.symbol, boundaries=book.snapshot_boundaries())
        if order.limit_price is not None:
            side = "bids" if order.side == "buy" else "asks"
            ticks = self.specs[order.symbol].price_ticks(order.limit_price)
            if ticks is not None:
                book.remove_owner(side, ticks, order.order_id, step)
        self.account.close(order, status, wall, reason)
        return PublicUpdate(step)

    def amend_order(self, request: AmendRequest, wall: float) -> Amended | str:
        """Amend an open order in place (the rules are in the module docstring); Kraken's
        error string for an amend that must be refused, which changes nothing."""
        order = self._order_to_amend(request)
        if isinstance(order, str):
            return order
        error = self.check_amend(order, request)
        if error:
            return error
        spec, book = self.specs[order.symbol], self.books[order.symbol]
        qty = request.qty or order.qty  # check_amend refused a missing quantity
        price = request.limit_price or order.limit_price
        side = "bids" if order.side == "buy" else "asks"
        old = spec.price_ticks(order.limit_price or ZERO) or 0
        new = spec.price_ticks(price or ZERO) or 0
        step = StepResult(order.symbol, boundaries=book.snapshot_boundaries())
        if qty <= order.cum_qty:  # Kraken: the remaining quantity is cancelled
            book.remove_owner(side, old, order.order_id, step)
            self.account.close(order, "canceled", wall, "amended below the filled quantity")
            return Amended(order, PublicUpdate(step))
        lots = spec.qty_lots(qty - order.cum_qty) or 0
        keeps_place = new == old and qty <= order.qty
        self.account.amend(order, qty, price, wall)
        if keeps_place:
            book.shrink_owner(side, old, order.order_id, lots, step)
            return Amended(order, PublicUpdate(step))
        book.remove_owner(side, old, order.order_id, step)
        return Amended(order, PublicUpdate(step, self._enter(order, lots, new, step, wall)))

    def check_amend(self, order: SimOrder, request: AmendRequest) -> str | None:
        """Kraken's error string for an amend of the open ``order`` that must be refused."""
        if self.system in ("maintenance", "cancel_only"):
            return f"EService:Market in {self.system} mode"
        spec, qty = self.specs[order.symbol], request.qty
        if qty is None or qty <= 0 or spec.qty_lots(qty) is None:
            return "EGeneral:Invalid arguments:order_qty"
        price = request.limit_price if request.limit_price is not None else order.limit_price
        if price is None:
            return "EOrder:Invalid order"  # only resting limit orders can be amended here
        if price <= 0:
            return "EGeneral:Invalid arguments:limit_price"
        ticks = spec.price_ticks(price)
        if ticks is None:
            return "EOrder:Tick size check failed"
        if qty <= order.cum_qty:
            return None  # it cancels the rest: nothing new rests, no minimum applies
        if qty < spec.qty_min:
            return "EOrder:Order minimum not met"
        if qty * price < spec.cost_min:
            return "EOrder:Cost minimum not met"
        left = qty - order.cum_qty
        if order.side == "buy":
            held = order.remaining * (order.limit_price or price) * (1 + TAKER_FEE)
            need = left * price * (1 + TAKER_FEE)
            if self.account.available(spec.quote, self.specs) + held < need:
                return "EOrder:Insufficient funds"
        elif self.account.available(spec.base, self.specs) + order.remaining < left:
            return "EOrder:Insufficient funds"
        if self._crosses(self.books[order.symbol], order.side, ticks):
            if request.post_only:
                return "EOrder:Post only order"
            if self.system == "post_only":
                return "EService:Market in post_only mode"
        return None

    def _order_to_amend(self, request: AmendRequest) -> SimOrder | str:
        """The open order an amend names, or Kraken's error (unknown; closed)."""
        orders = self.account.orders
        if request.order_id is not None:
            order = orders.get(request.order_id)
        else:
            named = [o for o in orders.values() if o.cl_ord_id == request.cl_ord_id]
            order = next((o for o in named if o.is_open), named[-1] if named else None)
        if order is None:
            return "EOrder:Unknown order"
        return order if order.is_open else "EOrder:Invalid order"

    def cancel_all(self, wall: float, reason: str = "user") -> list[PublicUpdate]:
        updates = []
        for order in list(self.account.open_orders()):
            update = self.cancel_order(order.order_id, wall, reason)
            if update is not None:
                updates.append(update)
        return updates

    def find_orders(
        self, order_ids: list[str], cl_ord_ids: list[str], userrefs: list[int]
    ) -> list[str | None]:
        """Order ids matching each key, ``None`` for a key that matches no order."""
        out: list[str | None] = list(order_ids)
        orders = self.account.orders.values()
        for cl in cl_ord_ids:
            out.append(next((o.order_id for o in orders if o.cl_ord_id == cl), None))
        for ref in userrefs:
            matched = [o.order_id for o in orders if o.order_userref == ref and o.is_open]
            out.extend(matched or [None])
        return out

    # --- internals -------------------------------------------------------------------------

    def _crosses(self, book: SimBook, side: str, limit: int) -> bool:
        best = book.best("asks" if side == "buy" else "bids")
        if best is None:
            return False
        return best <= limit if side == "buy" else best >= limit

    def _market_price(self, spec: PairSpec, side: str) -> Decimal | None:
        best = self.books[spec.symbol].best("asks" if side == "buy" else "bids")
        return spec.price(best) if best is not None else None

    def _settle(self, step: StepResult, wall: float) -> list[wire.Trade]:
        """Turn matches into public trades and account fills."""
        spec = self.specs[step.symbol]
        trades = []
        for match in step.matches:
            self.trade_ids[step.symbol] += 1
            trade_id = self.trade_ids[step.symbol]
            price, qty = spec.price(match.price), spec.qty(match.qty)
            trade = wire.Trade(
                symbol=step.symbol,
                side=match.side,
                price=price,
                qty=qty,
                ord_type="limit" if match.taker else "market",
                trade_id=trade_id,
                timestamp=utc_datetime(wall),
            )
            trades.append(trade)
            self.recent[step.symbol].append(trade)
            self._record_trade(step.symbol, price, qty, wall)
            for owner, maker in ((match.maker, True), (match.taker, False)):
                order = self.account.orders.get(owner) if owner else None
                if order is not None and order.is_open:
                    self.account.fill(order, spec, qty, price, maker, trade_id, wall)
        return trades

    def _record_trade(self, symbol: str, price: Decimal, qty: Decimal, wall: float) -> None:
        state = self._tickers[symbol]
        state.first = state.first or price
        state.last = price
        state.low = price if state.low is None else min(state.low, price)
        state.high = price if state.high is None else max(state.high, price)
        state.volume += qty
        state.notional += price * qty
        for interval in OHLC_INTERVALS:
            begin = wall - wall % (interval * 60)
            candle = self._candles.get((symbol, interval))
            if candle is None or candle.begin != begin:
                candle = self._candles[(symbol, interval)] = _Candle(
                    begin, price, price, price, price
                )
            candle.high = max(candle.high, price)
            candle.low = min(candle.low, price)
            candle.close = price
            candle.volume += qty
            candle.notional += price * qty
            candle.trades += 1

    def fills_of(self, order_id: str) -> list[SimFill]:
        return [f for f in self.account.fills if f.order_id == order_id]
