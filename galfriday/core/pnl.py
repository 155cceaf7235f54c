"""P&L per symbol from the account's fills, by average cost (sans-IO).

:class:`PnlTracker` takes every :class:`~galfriday.events.FillEvent` (:meth:`PnlTracker.apply`)
and keeps, per symbol (``BASE/QUOTE``), the position bought through those fills, its cost,
the realised P&L and the fees; :meth:`PnlTracker.snapshot` gives them as a
:class:`SymbolPnl`, with the unrealised P&L when a mark price is given (the engine passes the
mid of the verified book).

Rules:

- Average cost. A buy adds its quantity and ``qty * price`` to the position and its cost. A
  sale takes its quantity out at the average cost: it releases ``cost * qty / position`` and
  realises ``qty * price`` minus that. Realised P&L is before fees; fees are kept beside it
  (net P&L = realised + unrealised - fees).
- Spot cannot go short through our own fills, but the account may hold the base asset from
  before (a balance, not a fill we saw): its cost is unknown. A sale beyond the tracked
  position realises only the tracked part; the rest is counted in ``untracked`` (base
  quantity), realises nothing and never makes the position negative.
- Fees. One in the quote currency is added to ``fees``. One in the base asset is a disposal
  of that much base at the fill price, whose proceeds pay it: it leaves the position like a
  sale (realising against the average cost, the part beyond the position untracked) and its
  value at the fill price is added to ``fees``; a negative one (a rebate) is an acquisition
  at the fill price. One in any other asset (e.g. ``KFEE`` credits) is summed per asset in
  ``other_fees``, not converted: it has no price here.
- Exact. Sums and products of the fills' figures are exact (a 50-digit context, never the
  thread's). The one quotient, the cost a partial sale releases, is rounded half-even to 18
  decimal places (finer than any asset on Kraken) and what rounding leaves stays in the cost
  of what is still held: a position sold to zero leaves zero cost, and realised + unrealised
  is always exactly the cash received minus paid plus the position at the mark. The
  average cost shown is ``cost / position`` rounded the same way. Figures are given without
  trailing zeros or exponents (``100``, not ``1E+2``).
- Each fill counts once: its ``exec_id`` is remembered (as long as the order tracker
  remembers fills). A fill without a ``BASE/QUOTE`` symbol, a ``buy``/``sell`` side, or a
  positive quantity and price is not counted (nor remembered: it may come again complete).

Pure: no I/O, no clock, no trio. Time comes in as the fill's ``received_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Final

import msgspec

from galfriday.core.orders import DEFAULT_FILL_TTL, DEFAULT_MAX_FILLS
from galfriday.core.sequencing import MessageCache
from galfriday.events import FillEvent, PnlUpdate

__all__ = ["PnlTracker", "SymbolPnl", "pnl_update"]

_CONTEXT: Final = Context(prec=50, rounding=ROUND_HALF_EVEN)
_PLACES: Final = Decimal("1e-18")  # a released cost and a shown average are rounded to this
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)


class SymbolPnl(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's P&L now (quote-currency figures, see the module docstring).

    Attributes:
        symbol: the pair, ``BASE/QUOTE``.
        position: base held through tracked fills (never negative).
        average_cost: quote per base of ``position``; None when flat.
        realised: gains and losses of sales against the average cost, before fees.
        fees: fees paid, in quote (a base fee valued at its fill's price).
        other_fees: fees in other assets, ``(asset, amount)`` sorted by asset, not converted.
        untracked: base sold (or paid as fees) beyond the tracked position, cost unknown.
        unrealised: ``position * mark - cost``; None without a mark.
        mark: the price ``unrealised`` was taken at.
    """

    symbol: str
    position: Decimal
    average_cost: Decimal | None
    realised: Decimal
    fees: Decimal
    other_fees: tuple[tuple[str, Decimal], ...] = ()
    untracked: Decimal = _ZERO
    unrealised: Decimal | None = None
    mark: Decimal | None = None


@dataclass
class _Ledger:
    """One symbol's running figures (mutable, private)."""

    base: str
    quote: str
    position: Decimal = _ZERO
    cost: Decimal = _ZERO
    realised: Decimal = _ZERO
    fees: Decimal = _ZERO
    untracked: Decimal = _ZERO
    other_fees: dict[str, Decimal] = field(default_factory=dict)

    def acquire(self, qty: Decimal, price: Decimal) -> None:
        self.position += qty
        self.cost += qty * price

    def dispose(self, qty: Decimal, price: Decimal) -> None:
        """``qty`` of base leaves at ``price``: realised against the average cost as far as
        the position goes, the rest untracked."""
        tracked = min(qty, self.position)
        self.untracked += qty - tracked
        if tracked <= 0:
            return
        if tracked == self.position:
            released = self.cost
        else:
            released = (self.cost * tracked / self.position).quantize(_PLACES)
        self.position -= tracked
        self.cost -= released
        self.realised += tracked * price - released

    def charge(self, asset: str, amount: Decimal, price: Decimal) -> None:
        """A fee of ``amount`` in ``asset`` on a fill at ``price``."""
        if asset == self.quote:
            self.fees += amount
        elif asset == self.base:
            if amount > 0:
                self.dispose(amount, price)
            else:
                self.acquire(-amount, price)
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

    def apply(self, fill: FillEvent) -> SymbolPnl | None:
        """Count one fill; its symbol's figures after it (without a mark), or None when the
        fill is not counted (seen before, or without symbol, side, quantity or price)."""
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
            if side == "buy":
                ledger.acquire(fill.qty, fill.price)
            else:
                ledger.dispose(fill.qty, fill.price)
            for asset, amount in fill.fees:
                if amount:
                    ledger.charge(asset, amount, fill.price)
        return self.snapshot(symbol)

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
                untracked=_tidy(ledger.untracked),
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
    """The event that reports ``figures``, a symbol's realised side after ``fill``."""
    return PnlUpdate(
        symbol=figures.symbol,
        exec_id=fill.exec_id,
        position=figures.position,
        average_cost=figures.average_cost,
        realised=figures.realised,
        fees=figures.fees,
        other_fees=figures.other_fees,
        untracked=figures.untracked,
        received_at=fill.received_at,
    )


def _tidy(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and without a positive exponent (same number)."""
    value = value.normalize()
    return value.quantize(_ONE) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]
