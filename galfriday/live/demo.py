"""A small demo strategy for ``just run``: it keeps orders, fills and balances flowing.

Every ``period`` seconds it cancels its orders older than ``max_age``, rests a minimum-size
limit buy one tick under the best bid, and every fourth round sends a minimum-size marketable
order (alternately buying and selling), so the account trades against the simulator's book. It
is a demonstration of the order gateway, not a strategy to run with real money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import trio
from loguru import logger

from galfriday.errors import GalfridayError
from galfriday.live.gateway import OrderGateway
from galfriday.live.marketdata import MarketData
from galfriday.live.private import PrivateStream

__all__ = ["DemoConfig", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    symbol: str = "BTC/USD"
    qty: Decimal = Decimal("0.0001")
    period: float = 3.0
    max_age: float = 15.0


async def run_demo(
    config: DemoConfig, marketdata: MarketData, account: PrivateStream, gateway: OrderGateway
) -> None:
    """Run until cancelled."""
    placed: dict[str, float] = {}
    rounds = 0
    log = logger.bind(strategy="demo")
    while True:
        await trio.sleep(config.period)
        rounds += 1
        now = trio.current_time()
        open_ids = {o.order_id for o in account.orders.open_orders()}
        try:
            for order_id, at in list(placed.items()):
                if order_id not in open_ids:
                    del placed[order_id]
                elif now - at >= config.max_age:
                    await gateway.cancel(order_id)
                    del placed[order_id]
            feed = marketdata.books.get(config.symbol)
            best = feed.book.best_bid if feed is not None and feed.verified else None
            if feed is None or best is None:
                continue
            bid = feed.book.price_of(best[0] - 1)
            order_id = await gateway.place(config.symbol, "buy", config.qty, bid, post_only=True)
            placed[order_id] = now
            if rounds % 4 == 0:
                side = "buy" if rounds % 8 == 0 else "sell"
                await gateway.place(config.symbol, side, config.qty, order_type="market")
        except GalfridayError as exc:
            log.info("demo order refused: {}", exc)
