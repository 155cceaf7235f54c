"""P&L per symbol from the account's fills, by average cost (sans-IO).

:class:`PnlTracker` takes every :class:`~galfriday.events.FillEvent` (:meth:`PnlTracker.apply`)
and keeps, per symbol (``BASE/QUOTE``), the position bought through those fills, its cost,
the realised P&L and the fees; :meth:`PnlTracker.snapshot` gives them as a
:class:`SymbolPnl`, with the unrealised P&L when a mark price is given (the engine passes the
mid of the verified book, or the last public trade).

Rules:

- Average cost, signed. The position is the base bought minus sold through the counted fills
  (negative: more sold than bought, the rest coming from what the account held before) and
  its cost the quote paid for it (negative for a short: the quote received). A fill on the
  position's side (or from flat) adds its quantity and ``qty * price``. One against it
  closes as much as the position holds at the average cost: that part releases
  ``cost * closed / |position|`` and realises its proceeds minus that (``price - average``
  per base for a long, ``average - price`` for a short); whatever is beyond the position
  opens a fresh one on the other side at the fill price (a flip through zero). Realised P&L
  is before fees; fees are kept beside it (net P&L = realised + unrealised - fees).
- Unrealised: ``position * mark - cost`` (a short gains when the mark falls). The engine's
  mark is the verified book's mid, or the last public trade without one
  (:meth:`galfriday.state.EngineState.mark`).
- Fees. One in the quote currency is added to ``fees``. One in the base asset is a disposal
  of that much base at the fill price, whose proceeds pay it: it leaves the position like a
  sale (realising against the average cost, flipping through zero if it must) and its value
  at the fill price is added to ``fees``; a negative one (a rebate) is an acquisition at the
  fill price. One in any other asset (e.g. ``KFEE`` credits) is summed per asset in
  ``other_fees``, not converted: it has no price here.
- Exact. Sums and products of the fills' figures are exact (a 50-digit context, never the
  thread's). The one quotient, the cost a partial close releases, is rounded half-even to 18
  decimal places (finer than any asset on Kraken) and what rounding leaves stays in the cost
  of what is still held: a position closed to zero leaves zero cost, and realised +
  unrealised is always exactly the cash received minus paid plus the position at the mark.
  The average cost shown is ``cost / position`` rounded the same way (always positive).
  Figures are given without trailing zeros or exponents (``100``, not ``1E+2``).
- Each fill counts once: its ``exec_id`` is remembered (as long as the order tracker
  remembers fills). A fill without a ``BASE/QUOTE`` symbol, a ``buy``/``sell`` side, or a
  positive quantity and price is not counted (nor remembered: it may come again complete).

Two sinks connect it to the machines (:mod:`galfriday.state` installs them): a
:class:`FillsToPnl` wraps the account machine's sink, counts each fill it passes on and follows
a counted one with its symbol's :class:`~galfriday.events.PnlUpdate`; a :class:`LastTrades`
wraps the market data machine's sink and keeps each symbol's last public trade price.

Pure: no I/O, no clock, no trio. Time comes in as the fill's ``received_at``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Final

import msgspec

from galfriday.core.frames import Sink
from galfriday.core.orders import DEFAULT_FILL_TTL, DEFAULT_MAX_FILLS
from galfriday.core.sequencing import MessageCache
from galfriday.events import Event, FillEvent, PnlUpdate, TickerUpdate, TradePrint

__all__ = ["FillsToPnl", "LastTrades", "PnlTracker", "SymbolPnl", "pnl_update"]

_CONTEXT: Final = Context(prec=50, rounding=ROUND_HALF_EVEN)
_PLACES: Final = Decimal("1e-18")  # a released cost and a shown average are rounded to this
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)


class SymbolPnl(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's P&L now, by average cost (quote-currency figures, exact ``Decimal``; the
    rules are the module docstring's).

    Attributes:
        symbol: the pair, ``BASE/QUOTE``.
        position: base bought minus sold through the fills counted since the engine started;
            negative when more was sold than bought (from holdings before).
        average_cost: quote per base of ``position`` (always positive); None when flat.
        realised: gains and losses of closing against the average cost, before fees.
        fees: fees paid, in quote (a base fee valued at its fill's price).
        other_fees: fees in other assets, ``(asset, amount)`` sorted by asset, not converted.
        unrealised: ``position * mark - cost``; None without a mark.
        mark: the price ``unrealised`` was taken at (the book's mid, or the last trade).
        net: ``realised + unrealised - fees`` (a property; None without a mark).
    """

    symbol: str
    position: Decimal
    average_cost: Decimal | None
    realised: Decimal
    fees: Decimal
    other_fees: tuple[tuple[str, Decimal], ...] = ()
    unrealised: Decimal | None = None
    mark: Decimal | None = None

    @property
    def net(self) -> Decimal | None:
        """Realised plus unrealised minus fees (None without a mark)."""
        if self.unrealised is None:
            return None
        with localcontext(_CONTEXT):
            return _tidy(self.realised + self.unrealised - self.fees)


@dataclass
class _Ledger:
    """One symbol's running figures (mutable, private); ``position`` and ``cost`` signed."""

    base: str
    quote: str
    position: Decimal = _ZERO
    cost: Decimal = _ZERO
    realised: Decimal = _ZERO
    fees: Decimal = _ZERO
    other_fees: dict[str, Decimal] = field(default_factory=dict)

    def trade(self, qty: Decimal, price: Decimal) -> None:
        """``qty`` of base at ``price``: positive comes in, negative goes out."""
        held = self.position
        if held and (held > 0) != (qty > 0):  # against the position: close first
            closed = min(abs(qty), abs(held))
            if closed == abs(held):
                released = self.cost
            else:
                released = (self.cost * closed / abs(held)).quantize(_PLACES)
            closed = closed.copy_sign(held)
            self.realised += closed * price - released
            self.position -= closed
            self.cost -= released
            qty += closed
        if qty:
            self.position += qty
            self.cost += qty * price

    def charge(self, asset: str, amount: Decimal, price: Decimal) -> None:
        """A fee of ``amount`` in ``asset`` on a fill at ``price``."""
        if asset == self.quote:
            self.fees += amount
        elif asset == self.base:
            self.trade(-amount, price)
            self.fees += amount * price
        else:
            self.other_fees[asset] = self.other_fees.get(asset, _ZERO) + amount


class PnlTracker:
    """P&L per symbol from fills (see the module docstring).

    Args:
        fill_ttl: how long fill ids are remembered for deduplication, in frame seconds.
        max_fills: the most fill ids remembered.
    """

    def __init__(
        self, fill_ttl: float = DEFAULT_FILL_TTL, max_fills: int = DEFAULT_MAX_FILLS
    ) -> None:
        self._ledgers: dict[str, _Ledger] = {}
        self._seen = MessageCache(fill_ttl, max_fills)

    def apply(self, fill: FillEvent, mark: Decimal | None = None) -> SymbolPnl | None:
        """Count one fill; its symbol's figures after it (unrealised at ``mark`` if given),
        or None when the fill is not counted (seen before, or without symbol, side,
        quantity or price)."""
        symbol, side = fill.symbol, fill.side
        if symbol is None or side not in ("buy", "sell") or fill.qty <= 0 or fill.price <= 0:
            return None
        base, slash, quote = symbol.partition("/")
        if not (base and slash and quote):
            return None
        if self._seen.seen(fill.exec_id, fill.received_at):
            return None
        ledger = self._ledgers.get(symbol)
        if ledger is None:
            ledger = self._ledgers[symbol] = _Ledger(base, quote)
        with localcontext(_CONTEXT):
            ledger.trade(fill.qty if side == "buy" else -fill.qty, fill.price)
            for asset, amount in fill.fees:
                if amount:
                    ledger.charge(asset, amount, fill.price)
        return self.snapshot(symbol, mark)

    def symbols(self) -> tuple[str, ...]:
        """Every symbol a fill was counted for, sorted."""
        return tuple(sorted(self._ledgers))

    def snapshot(self, symbol: str, mark: Decimal | None = None) -> SymbolPnl | None:
        """``symbol``'s figures now (None: no fill of it counted); with ``mark``, the
        unrealised P&L at that price too."""
        ledger = self._ledgers.get(symbol)
        if ledger is None:
            return None
        with localcontext(_CONTEXT):
            position = ledger.position
            average = _tidy((ledger.cost / position).quantize(_PLACES)) if position else None
            unrealised = None if mark is None else _tidy(position * mark - ledger.cost)
            return SymbolPnl(
                symbol=symbol,
                position=_tidy(position),
                average_cost=average,
                realised=_tidy(ledger.realised),
                fees=_tidy(ledger.fees),
                other_fees=tuple((a, _tidy(n)) for a, n in sorted(ledger.other_fees.items())),
                unrealised=unrealised,
                mark=mark,
            )

    def snapshots(self, marks: Mapping[str, Decimal] | None = None) -> tuple[SymbolPnl, ...]:
        """Every symbol's figures, sorted by symbol; those with a mark in ``marks`` carry
        their unrealised P&L."""
        marks = marks or {}
        found = (self.snapshot(symbol, marks.get(symbol)) for symbol in self.symbols())
        return tuple(figures for figures in found if figures is not None)

    def unrealised(self, symbol: str, mark: Decimal) -> Decimal | None:
        """``symbol``'s position at ``mark`` minus its cost (None: no fill of it counted)."""
        figures = self.snapshot(symbol, mark)
        return None if figures is None else figures.unrealised


def pnl_update(figures: SymbolPnl, fill: FillEvent) -> PnlUpdate:
    """The event that reports ``figures``, a symbol's P&L after ``fill``."""
    return PnlUpdate(
        symbol=figures.symbol,
        exec_id=fill.exec_id,
        position=figures.position,
        average_cost=figures.average_cost,
        realised=figures.realised,
        fees=figures.fees,
        other_fees=figures.other_fees,
        mark=figures.mark,
        unrealised=figures.unrealised,
        received_at=fill.received_at,
    )


class FillsToPnl:
    """An account machine's sink with P&L: every event goes on to ``sink``; a fill that
    ``tracker`` counts is followed there by its symbol's :class:`~galfriday.events.PnlUpdate`,
    unrealised at ``mark(symbol)`` as it is then."""

    def __init__(
        self, sink: Sink, tracker: PnlTracker, mark: Callable[[str], Decimal | None]
    ) -> None:
        self.sink = sink
        self.tracker = tracker
        self.mark = mark

    def emit(self, event: Event) -> None:
        self.sink.emit(event)
        if type(event) is FillEvent and event.symbol is not None:
            figures = self.tracker.apply(event, self.mark(event.symbol))
            if figures is not None:
                self.sink.emit(pnl_update(figures, event))

    def wants(self, kind: type[Event]) -> bool:
        return kind is FillEvent or self.sink.wants(kind)


class LastTrades:
    """A market data machine's sink that keeps each symbol's last public trade price in
    ``prices`` (from trade prints, and from tickers' ``last``) and passes every event on."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.prices: dict[str, Decimal] = {}

    def emit(self, event: Event) -> None:
        if type(event) is TradePrint:
            self.prices[event.symbol] = event.price
        elif type(event) is TickerUpdate and event.last is not None:
            self.prices[event.symbol] = event.last
        self.sink.emit(event)

    def wants(self, kind: type[Event]) -> bool:
        return kind is TradePrint or kind is TickerUpdate or self.sink.wants(kind)


def _tidy(value: Decimal) -> Decimal:
    """``value`` without trailing zeros, a positive exponent or a minus zero (same number)."""
    if not value:
        return _ZERO
    value = value.normalize()
    return value.quantize(_ONE) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]
