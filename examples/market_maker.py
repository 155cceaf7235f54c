"""A post-only market maker with inventory limits.

It keeps one bid and one ask resting around the mid of one pair, ``half_spread_bps`` away,
each of ``qty``. Its inventory (the position in the base asset, from the engine) skews both
quotes away from the side that would grow it, and past ``max_inventory`` it stops quoting that
side altogether. A quote that drifted more than ``requote_bps`` from where it should be is
amended in place (Kraken's ``amend_order``: no cancel/replace round trip). Post-only orders
that would cross are refused by the exchange; the maker simply quotes again on the next book.

    [strategy]
    entry = "examples.market_maker:MarketMaker"
    [strategy.params]
    symbol = "BTC/USD"
    qty = "0.001"
    half_spread_bps = "5"
    max_inventory = "0.01"

Not advice, not a money-maker: an example of the API (quotes, amends, inventory, rails).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from loguru import logger

import galfriday

BPS = Decimal(10_000)


class MarketMaker(galfriday.Strategy):
    """Params: ``symbol``, ``qty``, ``half_spread_bps`` (5), ``requote_bps`` (2),
    ``max_inventory`` (10 times qty), ``skew_bps`` (per qty held, 1)."""

    def __init__(self, engine: galfriday.Engine, params: Mapping[str, Any]) -> None:
        super().__init__(engine, params)
        self.symbol = str(params.get("symbol", "BTC/USD"))
        self.symbols = (self.symbol,)
        self.qty = Decimal(str(params.get("qty", "0.001")))
        self.half_spread = Decimal(str(params.get("half_spread_bps", "5"))) / BPS
        self.requote = Decimal(str(params.get("requote_bps", "2"))) / BPS
        self.max_inventory = Decimal(str(params.get("max_inventory", self.qty * 10)))
        self.skew = Decimal(str(params.get("skew_bps", "1"))) / BPS
        self.quotes: dict[str, str] = {}  # side -> the order id resting there
        self.start_position = Decimal(0)

    def on_start(self) -> None:
        self.start_position = self.engine.positions().get(self.symbol, Decimal(0))

    @property
    def inventory(self) -> Decimal:
        """What this maker bought net since it started."""
        return self.engine.positions().get(self.symbol, Decimal(0)) - self.start_position

    async def on_book(self, update: galfriday.BookUpdate) -> None:
        book = self.engine.book(self.symbol, depth=1)
        if not book.verified or book.mid is None:
            return
        inventory = self.inventory
        shift = book.mid * self.skew * (inventory / self.qty)  # lean against what we hold
        wanted = {
            "buy": book.mid * (1 - self.half_spread) - shift,
            "sell": book.mid * (1 + self.half_spread) - shift,
        }
        if inventory >= self.max_inventory:
            wanted.pop("buy")
        if inventory <= -self.max_inventory:
            wanted.pop("sell")
        rules = self.engine.instrument(self.symbol)
        for side in ("buy", "sell"):
            price = wanted.get(side)
            target = None if price is None else rules.round_price(price, up=side == "sell")
            await self._quote(side, target, book.mid)

    async def on_order(self, update: galfriday.OrderUpdate) -> None:
        order = update.order
        if order.status.final:
            for side, order_id in list(self.quotes.items()):
                if order_id == order.order_id:
                    del self.quotes[side]

    async def _quote(self, side: str, price: Decimal | None, mid: Decimal) -> None:
        """Bring the ``side`` quote to ``price`` (``None``: no quote there)."""
        resting = self.quotes.get(side)
        order = self.engine.order(resting) if resting is not None else None
        try:
            if price is None:
                if resting is not None:
                    await self.engine.cancel(resting)
                    self.quotes.pop(side, None)
            elif order is None or order.status.final:
                self.quotes[side] = await self.engine.place(
                    self.symbol, side, self.qty, price, post_only=True
                )
            elif _drifted(order.limit_price, price, mid * self.requote):
                await self.engine.amend(order.order_id, price=price, post_only=True)
        except (galfriday.OrderRejected, galfriday.InvalidRequest) as exc:
            logger.debug("{} quote at {} refused: {}", side, price, exc)
            if order is None or order.status.final:
                self.quotes.pop(side, None)
        except galfriday.RailRefused as exc:
            logger.info("{} quote held back by a rail: {}", side, exc)


def _drifted(resting: Decimal | None, wanted: Decimal, tolerance: Decimal) -> bool:
    return resting is not None and abs(resting - wanted) > tolerance
