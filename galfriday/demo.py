"""The demo strategy of ``just run``, written with the public API only: what a strategy
looks like from the outside.

Every ``period`` seconds it cancels its orders older than ``max_age``, rests a minimum-size
post-only buy one tick under the best bid, and every fourth round sends a minimum-size market
order (alternately buying and selling), so the account trades against the simulator's book.
It shows the engine at work; it is not a strategy to run with real money.

Parameters (``[strategy.params]``, or ``[demo] symbol``): ``symbol`` ("BTC/USD"), ``qty``
("0.0001"), ``period`` (3 s), ``max_age`` (15 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import trio
from loguru import logger

import galfriday

__all__ = ["demo"]


async def demo(engine: galfriday.Engine, params: Mapping[str, Any]) -> None:
    """Run until the engine stops."""
    symbol = str(params.get("symbol", "BTC/USD"))
    qty = Decimal(str(params.get("qty", "0.0001")))
    period = float(params.get("period", 3.0))
    max_age = float(params.get("max_age", 15.0))
    log = logger.bind(strategy="demo")
    placed: dict[str, float] = {}
    rounds = 0
    while True:
        await trio.sleep(period)
        rounds += 1
        now = trio.current_time()
        try:
            mine = {order.order_id for order in engine.placed()}
            for order_id, at in list(placed.items()):
                if order_id not in mine:
                    del placed[order_id]
                elif now - at >= max_age:
                    await engine.cancel(order_id)
                    del placed[order_id]
            book = engine.book(symbol)
            if not book.verified or book.best_bid is None:
                continue
            tick = engine.instrument(symbol).price_increment
            price = book.best_bid.price - tick
            placed[await engine.place(symbol, "buy", qty, price, post_only=True)] = now
            if rounds % 4 == 0:
                side = "buy" if rounds % 8 == 0 else "sell"
                await engine.place(symbol, side, qty, order_type="market")
        except galfriday.GalfridayError as exc:
            log.info("demo order refused: {}", exc)
