"""The simulated market: seeded books with price-time queues and background traders (sans-IO).

Every price level is a FIFO queue of chunks: background liquidity (``owner`` None) or the rest
of one account order (``owner`` = its order id). Background traders add liquidity at the back
of a queue, cancel their most recent chunks first, and send market orders that eat queues from
the front; so an account order at a level fills only once everything ahead of it has traded
(price-time priority). Values are integers in ticks (price) and lots (quantity).

A "fair price" takes a random walk; background liquidity is added around it, so the book
follows it. The same seed gives the same market: the generator takes a ``random.Random``.

Pure: no I/O, no clock; time arrives as an argument where a record needs it.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from galfriday.kraken.book import book_checksum

__all__ = ["Chunk", "Level", "Match", "PairSpec", "SimBook", "StepResult", "default_pairs"]

VIEW_DEPTHS: Final = (10, 25, 100, 500, 1000)
MAX_LEVELS: Final = 1100
MIN_LEVELS: Final = 1010


@dataclass(frozen=True)
class PairSpec:
    """A tradable pair and its rules, in WS v2 and REST names."""

    symbol: str
    base: str
    quote: str
    rest_base: str
    rest_quote: str
    rest_name: str
    altname: str
    v1_name: str
    price_precision: int
    qty_precision: int
    mid: Decimal
    qty_min: Decimal
    cost_min: Decimal = Decimal("0.5")
    cost_precision: int = 5

    @property
    def tick(self) -> Decimal:
        return Decimal(1).scaleb(-self.price_precision)

    def price_ticks(self, price: Decimal) -> int | None:
        """``price`` in ticks, or None if it is not a multiple of the tick size."""
        scaled = price.scaleb(self.price_precision)
        return int(scaled) if scaled == scaled.to_integral_value() else None

    def qty_lots(self, qty: Decimal) -> int | None:
        scaled = qty.scaleb(self.qty_precision)
        return int(scaled) if scaled == scaled.to_integral_value() else None

    def price(self, ticks: int) -> Decimal:
        return Decimal(ticks).scaleb(-self.price_precision)

    def qty(self, lots: int) -> Decimal:
        return Decimal(lots).scaleb(-self.qty_precision)


def default_pairs() -> list[PairSpec]:
    """BTC/USD, ETH/USD, XRP/USD and DOGE/USD with Kraken's names and precisions."""
    return [
        PairSpec(
            "BTC/USD",
            "BTC",
            "USD",
            "XXBT",
            "ZUSD",
            "XXBTZUSD",
            "XBTUSD",
            "XBT/USD",
            1,
            8,
            Decimal("65000"),
            Decimal("0.0001"),
        ),
        PairSpec(
            "ETH/USD",
            "ETH",
            "USD",
            "XETH",
            "ZUSD",
            "XETHZUSD",
            "ETHUSD",
            "ETH/USD",
            2,
            8,
            Decimal("3400"),
            Decimal("0.002"),
        ),
        PairSpec(
            "XRP/USD",
            "XRP",
            "USD",
            "XXRP",
            "ZUSD",
            "XXRPZUSD",
            "XRPUSD",
            "XRP/USD",
            5,
            8,
            Decimal("0.52"),
            Decimal("2"),
        ),
        PairSpec(
            "DOGE/USD",
            "DOGE",
            "USD",
            "XXDG",
            "ZUSD",
            "XDGUSD",
            "XDGUSD",
            "XDG/USD",
            7,
            8,
            Decimal("0.12"),
            Decimal("20"),
        ),
    ]


def _worse(side: str, price: int, than: int) -> bool:
    """True if ``price`` is further from the top of ``side`` than ``than``."""
    return price < than if side == "bids" else price > than


@dataclass
class Chunk:
    qty: int
    owner: str | None = None  # None: background liquidity; else an account order id


@dataclass
class Level:
    chunks: deque[Chunk] = field(default_factory=deque)
    qty: int = 0


@dataclass(frozen=True)
class Match:
    """One execution against a resting chunk.

    ``maker`` is the resting chunk's owner (None for background); ``taker`` the aggressor's
    (None for a background trader).
    """

    side: str  # the taker's side: "buy" or "sell"
    price: int
    qty: int
    maker: str | None
    taker: str | None


@dataclass
class StepResult:
    """What one market event changed.

    ``changes``: (side, price, qty after) in order, side ``"bids"`` or ``"asks"``.
    ``boundaries``: before the event, the worst price inside each view depth (None when the
    side had fewer levels).
    """

    symbol: str
    changes: list[tuple[str, int, int]] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    boundaries: dict[tuple[str, int], int | None] = field(default_factory=dict)


class SimBook:
    """The full book of one pair (up to about 1,100 levels a side)."""

    def __init__(self, spec: PairSpec) -> None:
        self.spec = spec
        self.levels: dict[str, dict[int, Level]] = {"bids": {}, "asks": {}}
        self._keys: dict[str, list[int]] = {"bids": [], "asks": []}  # bids negated
        self.fair = int(spec.mid.scaleb(spec.price_precision))
        self._checksum: int | None = None

    # --- reading ---------------------------------------------------------------------------

    def prices(self, side: str) -> list[int]:
        """Prices of a side, best first."""
        keys = self._keys[side]
        return [-k for k in keys] if side == "bids" else list(keys)

    def best(self, side: str) -> int | None:
        keys = self._keys[side]
        if not keys:
            return None
        return -keys[0] if side == "bids" else keys[0]

    def top(self, side: str, depth: int) -> list[tuple[int, int]]:
        levels = self.levels[side]
        sign = -1 if side == "bids" else 1
        return [(sign * k, levels[sign * k].qty) for k in self._keys[side][:depth]]

    def index(self, side: str, price: int) -> int:
        """Where ``price`` sits (or would sit) on its side, 0 = best."""
        return bisect_left(self._keys[side], -price if side == "bids" else price)

    def boundary(self, side: str, depth: int) -> int | None:
        keys = self._keys[side]
        if len(keys) < depth:
            return None
        key = keys[depth - 1]
        return -key if side == "bids" else key

    def checksum(self) -> int:
        """Kraken's CRC32 over the top 10 of each side (the same for every view depth)."""
        if self._checksum is None:
            self._checksum = book_checksum(self.top("asks", 10), self.top("bids", 10))
        return self._checksum

    def snapshot_boundaries(self) -> dict[tuple[str, int], int | None]:
        return {(s, d): self.boundary(s, d) for s in ("bids", "asks") for d in VIEW_DEPTHS}

    def view_update(
        self, step: StepResult, depth: int
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
        """The (bids, asks) a client subscribed at ``depth`` must receive for ``step``.

        Kraken's rules: changed levels inside the view are sent; a deleted level that was in
        the view is sent with qty 0, and the levels that move up into the view to replace it
        are sent too; a level pushed out of the view by a better one is not sent (the client
        truncates). None when the view did not change.
        """
        out: dict[str, list[tuple[int, int]]] = {"bids": [], "asks": []}
        final: dict[str, dict[int, int]] = {"bids": {}, "asks": {}}
        for side, price, qty in step.changes:
            final[side][price] = qty
        for side in ("bids", "asks"):
            boundary = step.boundaries.get((side, depth))
            sent = out[side]
            for price, qty in final[side].items():
                if qty:
                    if self.index(side, price) < depth:
                        sent.append((price, qty))
                elif boundary is None or not _worse(side, price, boundary):
                    sent.append((price, 0))
            if boundary is not None:
                for price, qty in reversed(self.top(side, depth)):
                    if not _worse(side, price, boundary):
                        break
                    if price not in final[side]:
                        sent.append((price, qty))
        if not out["bids"] and not out["asks"]:
            return None
        return out["bids"], out["asks"]

    # --- changing --------------------------------------------------------------------------

    def add(self, side: str, price: int, qty: int, owner: str | None, step: StepResult) -> None:
        """Queue ``qty`` at the back of ``price``."""
        levels = self.levels[side]
        level = levels.get(price)
        if level is None:
            level = levels[price] = Level()
            keys = self._keys[side]
            keys.insert(self.index(side, price), -price if side == "bids" else price)
        chunks = level.chunks
        if owner is None and chunks and chunks[-1].owner is None:
            chunks[-1].qty += qty
        else:
            chunks.append(Chunk(qty, owner))
        level.qty += qty
        self._changed(side, price, level.qty, step)

    def cancel_background(self, side: str, price: int, qty: int, step: StepResult) -> int:
        """Remove up to ``qty`` background liquidity at ``price``, newest first."""
        level = self.levels[side].get(price)
        if level is None:
            return 0
        removed = 0
        for chunk in reversed(level.chunks):
            if chunk.owner is None and removed < qty:
                take = min(chunk.qty, qty - removed)
                chunk.qty -= take
                removed += take
        if removed:
            level.chunks = deque(c for c in level.chunks if c.qty > 0)
            self._set_level_qty(side, price, level, level.qty - removed, step)
        return removed

    def remove_owner(self, side: str, price: int, owner: str, step: StepResult) -> int:
        """Take an account order's chunk out of its queue; returns the quantity removed."""
        level = self.levels[side].get(price)
        if level is None:
            return 0
        removed = sum(c.qty for c in level.chunks if c.owner == owner)
        if removed:
            level.chunks = deque(c for c in level.chunks if c.owner != owner)
            self._set_level_qty(side, price, level, level.qty - removed, step)
        return removed

    def shrink_owner(self, side: str, price: int, owner: str, qty: int, step: StepResult) -> int:
        """Cut an account order's chunk down to ``qty`` where it stands in its queue (it keeps
        its place); returns the quantity removed (0 if it is not there or not larger)."""
        level = self.levels[side].get(price)
        chunk = next((c for c in level.chunks if c.owner == owner), None) if level else None
        if level is None or chunk is None or chunk.qty <= qty:
            return 0
        removed, chunk.qty = chunk.qty - qty, qty
        self._set_level_qty(side, price, level, level.qty - removed, step)
        return removed

    def take(
        self, taker_side: str, qty: int, limit: int | None, taker: str | None, step: StepResult
    ) -> int:
        """Match an aggressor of ``qty`` against the opposite side, best level first.

        Stops at ``limit`` (a limit price) and, for an account order, at its own resting
        liquidity (self-trade prevention: the newest order loses its rest). Returns the
        quantity left unmatched.
        """
        side = "asks" if taker_side == "buy" else "bids"
        while qty > 0:
            price = self.best(side)
            if price is None:
                break
            if limit is not None and (price > limit if side == "asks" else price < limit):
                break
            level = self.levels[side][price]
            while qty > 0 and level.chunks:
                chunk = level.chunks[0]
                if taker is not None and chunk.owner == taker:
                    return qty
                fill = min(qty, chunk.qty)
                chunk.qty -= fill
                qty -= fill
                level.qty -= fill
                step.matches.append(Match(taker_side, price, fill, chunk.owner, taker))
                if chunk.qty == 0:
                    level.chunks.popleft()
            self._set_level_qty(side, price, level, level.qty, step)
        return qty

    def trim(self, step: StepResult) -> None:
        """Drop background levels beyond :data:`MAX_LEVELS` (far from the top)."""
        for side in ("bids", "asks"):
            keys = self._keys[side]
            while len(keys) > MAX_LEVELS:
                price = -keys[-1] if side == "bids" else keys[-1]
                level = self.levels[side][price]
                if any(c.owner for c in level.chunks):
                    break
                self._set_level_qty(side, price, level, 0, step)

    def _set_level_qty(
        self, side: str, price: int, level: Level, qty: int, step: StepResult
    ) -> None:
        level.qty = qty
        if qty == 0:
            del self.levels[side][price]
            keys = self._keys[side]
            del keys[self.index(side, price)]
        self._changed(side, price, qty, step)

    def _changed(self, side: str, price: int, qty: int, step: StepResult) -> None:
        step.changes.append((side, price, qty))
        if self.index(side, price) < 10 or qty == 0:
            self._checksum = None

    # --- background traders ----------------------------------------------------------------

    def seed_levels(self, rng: random.Random, levels: int) -> None:
        """Fill both sides with ``levels`` background levels around the fair price."""
        step = StepResult(self.spec.symbol)
        spread = max(1, self.fair // 20_000)
        for i in range(levels):
            self.add("bids", self.fair - spread - i, self._random_qty(rng), None, step)
            self.add("asks", self.fair + spread + i, self._random_qty(rng), None, step)

    def background_event(self, rng: random.Random) -> StepResult:
        """One random event: add, cancel, or a market order; the fair price may drift."""
        step = StepResult(self.spec.symbol, boundaries=self.snapshot_boundaries())
        if rng.random() < 0.05:
            drift = max(1, self.fair // 5_000)
            self.fair = max(drift * 2, self.fair + rng.choice((-drift, drift)))
        roll = rng.random()
        side = rng.choice(("bids", "asks"))
        if roll < 0.55:
            self.add(side, self._quote_price(rng, side), self._random_qty(rng), None, step)
        elif roll < 0.9:
            prices = self.prices(side)
            if prices:
                offset = min(int(rng.expovariate(0.2)), len(prices) - 1)
                price = prices[offset]
                level_qty = self.levels[side][price].qty
                qty = level_qty if rng.random() < 0.5 else rng.randint(1, level_qty)
                self.cancel_background(side, price, qty, step)
        else:
            taker = "buy" if side == "asks" else "sell"
            self.take(taker, self._random_qty(rng) // 2 + 1, None, None, step)
        self._replenish(rng, step)
        self.trim(step)
        return step

    def _replenish(self, rng: random.Random, step: StepResult) -> None:
        """Keep at least :data:`MIN_LEVELS` a side by adding liquidity at the far end."""
        for side in ("bids", "asks"):
            keys = self._keys[side]
            if keys and len(keys) < MIN_LEVELS:
                worst = -keys[-1] if side == "bids" else keys[-1]
                gap = rng.randint(1, 3)
                price = worst - gap if side == "bids" else worst + gap
                if price > 0:
                    self.add(side, price, self._random_qty(rng), None, step)

    def _quote_price(self, rng: random.Random, side: str) -> int:
        offset = int(rng.expovariate(0.1))
        if side == "bids":
            best_ask = self.best("asks")
            price = self.fair - 1 - offset
            if best_ask is not None:
                price = min(price, best_ask - 1)
        else:
            best_bid = self.best("bids")
            price = self.fair + 1 + offset
            if best_bid is not None:
                price = max(price, best_bid + 1)
        return max(1, price)

    def _random_qty(self, rng: random.Random) -> int:
        lots_min = int(self.spec.qty_min.scaleb(self.spec.qty_precision))
        return lots_min * rng.randint(1, 200)
