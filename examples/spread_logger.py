"""A spread logger: the smallest useful strategy. It places no order.

Each verified book update of the chosen pairs updates the pair's tightest, widest and last
spread (in basis points of the mid); every ``every`` updates it logs them.

    galfriday run --strategy examples.spread_logger:SpreadLogger
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from loguru import logger

import galfriday

BPS = Decimal(10_000)


class SpreadLogger(galfriday.Strategy):
    """Params: ``every`` (updates between log lines, default 100)."""

    def __init__(self, engine: galfriday.Engine, params: Mapping[str, Any]) -> None:
        super().__init__(engine, params)
        self.every = int(params.get("every", 100))
        self.seen = 0
        self.spreads: dict[str, tuple[Decimal, Decimal, Decimal]] = {}  # tightest, widest, last

    def on_book(self, update: galfriday.BookUpdate) -> None:
        if not update.verified or not update.bids or not update.asks:
            return
        bid, ask = update.bids[0][0], update.asks[0][0]
        spread = (ask - bid) / ((ask + bid) / 2) * BPS
        low, high, _ = self.spreads.get(update.symbol, (spread, spread, spread))
        self.spreads[update.symbol] = (min(low, spread), max(high, spread), spread)
        self.seen += 1
        if self.seen % self.every == 0:
            for symbol, (low, high, last) in sorted(self.spreads.items()):
                logger.info(
                    "{} spread {:.2f} bps (tightest {:.2f}, widest {:.2f})", symbol, last, low, high
                )
