"""What the public API hands a bot about the market: a book's levels in ``Decimal``, and a
pair's trading rules with the rounding a strategy needs before it places an order.

Rules: values, not views: a :class:`Book` is a copy of the engine's book at the call and does
not change after it.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import msgspec

__all__ = ["Book", "Instrument", "Level"]


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
