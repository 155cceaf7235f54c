"""A Kraken L2 order book per symbol, verified with Kraken's CRC32 checksum.

Levels are held as integers scaled by the instrument's precisions: a price of ``45285.2`` at
``price_precision=1`` is the tick ``452852``, a quantity of ``0.001`` at ``qty_precision=8`` is
the lot count ``100000``. Kraken's checksum formats each value at its precision, removes the dot
and strips leading zeros, which for these integers is just ``str(n)``.

Floats from :class:`~galfriday.kraken.wire.BookLevel` become integers by ``round(x * 10**p)``.
That is exact while ``|n| < 2**50``: the parsed float is within ``2**-53`` relative of the
decimal text, the multiplication adds at most as much again, so the product is within
``n * 2**-52 < 0.25`` of the integer. Above that bound, or when a value has more decimals than
its precision allows, :meth:`OrderBook.apply` changes nothing and answers
:attr:`BookCheck.INEXACT`; the caller re-decodes the frame with Decimal levels and applies again.

Rules (Kraken's book checksum guide): all changes of a message are applied in order before
the checksum; ``qty == 0`` deletes a level; both sides are cut to the subscribed depth after
every message; the checksum covers the top 10 asks (low to high) then the top 10 bids (high to low).
:meth:`OrderBook.apply` never raises for what the exchange sent.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

import enum
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Final

import msgspec

from galfriday.kraken.wire import BookData, BookLevel, ExactBookData, ExactBookLevel

__all__ = [
    "CHECKSUM_LEVELS",
    "DEPTHS",
    "BookCheck",
    "BookTop",
    "OrderBook",
    "book_checksum",
    "format_scaled",
]

DEPTHS: Final = (10, 25, 100, 500, 1000)
CHECKSUM_LEVELS: Final = 10
_EXACT_LIMIT: Final = 2**50
_FLOAT_SLACK: Final = 1e-3
_NO_CHANGES: Final[list[tuple[int, int]]] = []  # a side without changes (never mutated)


class BookCheck(enum.Enum):
    """What applying one book message found."""

    MATCH = "match"
    """Applied; our checksum equals Kraken's."""
    MISMATCH = "mismatch"
    """Applied; the checksums differ: the book is no longer trustworthy, resync it."""
    UNCHECKED = "unchecked"
    """Applied; the message carried no checksum."""
    INEXACT = "inexact"
    """Not applied: a float level is too large to convert exactly; apply Decimal levels."""
    INVALID = "invalid"
    """Not applied: a level is negative, or finer than the instrument's precision."""


class BookTop(msgspec.Struct, frozen=True, kw_only=True):
    """The best ``n`` levels in Decimal, best first on both sides."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]


# The members as module constants: reading one through the Enum class costs a metaclass
# __getattr__ call in Python 3.11 (several times a global), and apply() returns one per message.
_MATCH: Final = BookCheck.MATCH
_MISMATCH: Final = BookCheck.MISMATCH
_UNCHECKED: Final = BookCheck.UNCHECKED


class _Inexact(Exception):
    pass


class _Invalid(Exception):
    pass


def _float_ticks(value: float, scale: float) -> int:
    scaled = value * scale
    ticks = round(scaled)
    if not -_EXACT_LIMIT < ticks < _EXACT_LIMIT:
        raise _Inexact
    if abs(scaled - ticks) > _FLOAT_SLACK:
        raise _Invalid
    return ticks


def _decimal_ticks(value: Decimal, precision: int) -> int:
    scaled = value.scaleb(precision)
    ticks = int(scaled)
    if ticks != scaled:
        raise _Invalid
    return ticks


def format_scaled(value: int, precision: int) -> str:
    """An integer of ``10**-precision`` units as fixed-point text: ``(100000, 8) -> "0.00100000"``.

    This is how Kraken writes book numbers (all decimals, trailing zeros kept).
    """
    if precision == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(precision + 1, "0")
    return f"{sign}{digits[:-precision]}.{digits[-precision:]}"


def book_checksum(asks: Iterable[tuple[int, int]], bids: Iterable[tuple[int, int]]) -> int:
    """Kraken's CRC32 of the given top levels: asks low to high, then bids high to low."""
    text = "".join([f"{price}{qty}" for price, qty in asks])
    text += "".join([f"{price}{qty}" for price, qty in bids])
    return zlib.crc32(text.encode("ascii"))


class OrderBook:
    """The L2 book of one symbol at one subscribed depth.

    Args:
        symbol: the WS v2 symbol, e.g. ``BTC/USD``.
        depth: the subscribed depth, one of :data:`DEPTHS`; the book keeps no more than that.
        price_precision: decimals of a price (instrument ``price_precision``).
        qty_precision: decimals of a quantity (instrument ``qty_precision``).
    """

    def __init__(self, symbol: str, depth: int, price_precision: int, qty_precision: int) -> None:
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {DEPTHS}, not {depth}")
        if price_precision < 0 or qty_precision < 0:
            raise ValueError("precisions must not be negative")
        self.symbol = symbol
        self.depth = depth
        self.price_precision = price_precision
        self.qty_precision = qty_precision
        self._price_scale = float(10**price_precision)
        self._qty_scale = float(10**qty_precision)
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_keys: list[int] = []  # negated prices, ascending = best bid first
        self._ask_keys: list[int] = []  # prices, ascending = best ask first
        # Each level's checksum text f"{price}{qty}", parallel to the keys, made once per change.
        self._bid_fragments: list[str] = []
        self._ask_fragments: list[str] = []
        # The checksum in two cached halves (None: that side's top 10 changed since): the CRC of
        # the asks' text, and the bids' text, which the CRC continues over.
        self._ask_crc: int | None = zlib.crc32(b"")
        self._bid_text: bytes | None = b""
        self.has_snapshot = False

    # --- applying messages ----------------------------------------------------------------

    def apply(self, data: BookData | ExactBookData, *, snapshot: bool) -> BookCheck:
        """Apply one snapshot or update and verify it against its checksum.

        A snapshot replaces the whole book. On :attr:`BookCheck.INEXACT` and
        :attr:`BookCheck.INVALID` the book is left exactly as it was.
        """
        try:
            if isinstance(data, BookData):  # the exact type: a cheap check, unlike a miss
                bids = self._float_ticks(data.bids) if data.bids else _NO_CHANGES
                asks = self._float_ticks(data.asks) if data.asks else _NO_CHANGES
            else:
                bids, asks = self._exact_ticks(data.bids), self._exact_ticks(data.asks)
        except _Inexact:
            return BookCheck.INEXACT
        except _Invalid:
            return BookCheck.INVALID
        if snapshot:
            self.clear()
            self.has_snapshot = True
        if asks and self._apply_side(self._asks, self._ask_keys, self._ask_fragments, asks, 1):
            self._ask_crc = None
        if bids and self._apply_side(self._bids, self._bid_keys, self._bid_fragments, bids, -1):
            self._bid_text = None
        if data.checksum is None:
            return _UNCHECKED
        return _MATCH if self.checksum() == data.checksum else _MISMATCH

    def clear(self) -> None:
        """Forget every level (the book waits for its next snapshot)."""
        self._bids.clear()
        self._asks.clear()
        self._bid_keys.clear()
        self._ask_keys.clear()
        self._bid_fragments.clear()
        self._ask_fragments.clear()
        self._ask_crc = zlib.crc32(b"")
        self._bid_text = b""
        self.has_snapshot = False

    def _exact_ticks(self, levels: Sequence[ExactBookLevel]) -> list[tuple[int, int]]:
        out = []
        pp, qp = self.price_precision, self.qty_precision
        for level in levels:
            pt = _decimal_ticks(level.price, pp)
            qt = _decimal_ticks(level.qty, qp)
            if pt <= 0 or qt < 0:
                raise _Invalid
            out.append((pt, qt))
        return out

    def _float_ticks(self, levels: Sequence[BookLevel]) -> list[tuple[int, int]]:
        out = []
        ps, qs = self._price_scale, self._qty_scale
        for level in levels:
            price = level.price * ps
            qty = level.qty * qs
            try:
                pt, qt = round(price), round(qty)
            except (OverflowError, ValueError):  # an infinite or NaN level (1e308 scaled)
                raise _Invalid from None
            if (
                not 0 < pt < _EXACT_LIMIT
                or not 0 <= qt < _EXACT_LIMIT
                or abs(price - pt) > _FLOAT_SLACK
                or abs(qty - qt) > _FLOAT_SLACK
            ):
                _float_ticks(level.price, ps)  # raises _Inexact where that is the reason
                _float_ticks(level.qty, qs)
                raise _Invalid
            out.append((pt, qt))
        return out

    def _apply_side(
        self,
        levels: dict[int, int],
        keys: list[int],
        fragments: list[str],
        changes: list[tuple[int, int]],
        sign: int,
    ) -> bool:
        """Apply one side's changes; True when its top :data:`CHECKSUM_LEVELS` changed."""
        top = False
        for price, qty in changes:
            key = sign * price
            if qty == 0:
                if levels.pop(price, None) is not None:
                    index = bisect_left(keys, key)
                    del keys[index]
                    del fragments[index]
                    if index < CHECKSUM_LEVELS:
                        top = True
                continue
            index = bisect_left(keys, key)
            if price in levels:
                fragments[index] = f"{price}{qty}"
            else:
                keys.insert(index, key)
                fragments.insert(index, f"{price}{qty}")
            levels[price] = qty
            if index < CHECKSUM_LEVELS:
                top = True
        if len(keys) > self.depth:
            for key in keys[self.depth :]:
                del levels[sign * key]
            del keys[self.depth :]
            del fragments[self.depth :]
        return top

    # --- reading ---------------------------------------------------------------------------

    def checksum(self) -> int:
        """Kraken's CRC32 of the current top 10 levels (each side cached until its top 10
        change)."""
        ask_crc = self._ask_crc
        if ask_crc is None:
            text = "".join(self._ask_fragments[:CHECKSUM_LEVELS])
            ask_crc = self._ask_crc = zlib.crc32(text.encode("ascii"))
        bid_text = self._bid_text
        if bid_text is None:
            bid_text = self._bid_text = "".join(self._bid_fragments[:CHECKSUM_LEVELS]).encode()
        return zlib.crc32(bid_text, ask_crc)

    def bids(self) -> list[tuple[int, int]]:
        """All bid levels as (price ticks, qty lots), best (highest) first."""
        return [(-k, self._bids[-k]) for k in self._bid_keys]

    def asks(self) -> list[tuple[int, int]]:
        """All ask levels as (price ticks, qty lots), best (lowest) first."""
        return [(k, self._asks[k]) for k in self._ask_keys]

    def __len__(self) -> int:
        return len(self._bid_keys) + len(self._ask_keys)

    @property
    def best_bid(self) -> tuple[int, int] | None:
        if not self._bid_keys:
            return None
        price = -self._bid_keys[0]
        return price, self._bids[price]

    @property
    def best_ask(self) -> tuple[int, int] | None:
        if not self._ask_keys:
            return None
        price = self._ask_keys[0]
        return price, self._asks[price]

    @property
    def spread(self) -> Decimal | None:
        """Best ask minus best bid in price units; ``None`` while a side is empty."""
        if not self._bid_keys or not self._ask_keys:
            return None
        return self.price_of(self._ask_keys[0] + self._bid_keys[0])

    @property
    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask (a book that cannot be right)."""
        return bool(self._bid_keys and self._ask_keys) and (-self._bid_keys[0] >= self._ask_keys[0])

    def price_of(self, ticks: int) -> Decimal:
        """A price in ticks as a Decimal with the instrument's number of decimals."""
        return Decimal(ticks).scaleb(-self.price_precision)

    def qty_of(self, lots: int) -> Decimal:
        """A quantity in lots as a Decimal with the instrument's number of decimals."""
        return Decimal(lots).scaleb(-self.qty_precision)

    def top_levels(
        self, n: int = CHECKSUM_LEVELS
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The best ``n`` levels of each side as (ticks, lots), best first: cheap, exact."""
        bids, asks = self._bids, self._asks
        return (
            [(-k, bids[-k]) for k in self._bid_keys[:n]],
            [(k, asks[k]) for k in self._ask_keys[:n]],
        )

    def top(self, n: int = CHECKSUM_LEVELS) -> BookTop:
        """The best ``n`` levels of each side in Decimal, for consumers."""
        price, qty = self.price_of, self.qty_of
        bids = tuple((price(-k), qty(self._bids[-k])) for k in self._bid_keys[:n])
        asks = tuple((price(k), qty(self._asks[k])) for k in self._ask_keys[:n])
        return BookTop(symbol=self.symbol, bids=bids, asks=asks)
