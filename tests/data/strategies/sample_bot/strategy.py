"""Buys once at the market on the first verified book, then sells what it bought once the
fill is in: two orders, both filled, whatever runs it (run, --paper, backtest)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import galfriday


class RoundTrip(galfriday.Strategy):
    symbols = ("BTC/USD",)

    def __init__(self, engine: galfriday.Engine, params: Any) -> None:
        super().__init__(engine, params)
        self.qty = Decimal(str(params.get("qty", "0.001")))
        self.bought: str | None = None
        self.sold: str | None = None

    async def on_book(self, update: galfriday.BookUpdate) -> None:
        if self.bought is None and update.verified:
            self.bought = "sending"
            self.bought = await self.engine.place("BTC/USD", "buy", self.qty, order_type="market")

    async def on_order(self, update: galfriday.OrderUpdate) -> None:
        order = update.order
        filled = order.status is galfriday.OrderStatus.FILLED
        if order.order_id == self.bought and filled and self.sold is None:
            self.sold = "sending"
            self.sold = await self.engine.place("BTC/USD", "sell", self.qty, order_type="market")
