"""A TWAP executor: buys or sells ``qty`` of a pair in ``slices`` equal market orders spread
evenly over ``minutes``, then returns (the engine and its account view keep running).

    galfriday run --strategy examples.twap:twap    # with [strategy.params] as below
    [strategy.params]
    symbol = "BTC/USD"
    side = "buy"
    qty = "0.01"
    slices = 10
    minutes = 5

Each slice is rounded to the pair's lot size; whatever rounding left over goes into the last.
A slice the exchange refuses is logged and skipped (the report says how much was done).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import trio
from loguru import logger

import galfriday


async def twap(engine: galfriday.Engine, params: Mapping[str, Any]) -> None:
    """Run the whole schedule, then return."""
    symbol = str(params.get("symbol", "BTC/USD"))
    side = str(params.get("side", "buy"))
    total = Decimal(str(params.get("qty", "0.01")))
    slices = int(params.get("slices", 10))
    interval = float(params.get("minutes", 5)) * 60 / slices
    rules = engine.instrument(symbol)
    size = rules.round_qty(total / slices)
    done = Decimal(0)
    for number in range(1, slices + 1):
        qty = size if number < slices else rules.round_qty(total - done)
        if qty > 0:
            try:
                order_id = await engine.place(symbol, side, qty, order_type="market")
                order = await engine.wait_for(order_id)
                done += order.cum_qty
            except galfriday.GalfridayError as exc:
                logger.warning("twap slice {} of {} refused: {}", number, slices, exc)
        if number < slices:
            await trio.sleep(interval)
    logger.info("twap done: {} {} of {} {}", side, done, total, symbol)
