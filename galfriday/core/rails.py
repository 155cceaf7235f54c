"""Rails around a strategy: the limits an order must keep before it is sent (sans-IO).

A strategy's orders pass :func:`check` before anything goes out; a refusal names the rule and
the figures, and nothing is sent. The limits (all optional, per pair where it says so):

- ``max_order_qty``: an order's quantity, in the base asset (per pair);
- ``max_order_notional``: an order's quantity times its price, in the quote asset (per pair;
  a market order is valued at the far side of the book, the price it would pay);
- ``max_open_orders``: open orders of the strategy at once (all pairs);
- ``max_position``: the base asset held once every open buy of the pair and this order filled
  (per pair; sells only ever lower it).

An amend is checked as the order it would become. The kill switch is not a limit: once
tripped every order is refused until the engine restarts without it.

Pure: the caller passes the state (open orders, position, a price for market orders).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final

import msgspec

__all__ = ["ANY", "OrderIntent", "Rails", "check"]

ANY: Final = "*"  # a limit keyed by "*" applies to every pair without its own


class Rails(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The limits (``[rails]`` in the configuration); ``None`` or absent: no limit.

    Per-pair limits are tables keyed by pair, ``"*"`` for every pair without its own.
    """

    max_order_qty: dict[str, Decimal] = {}
    max_order_notional: dict[str, Decimal] = {}
    max_position: dict[str, Decimal] = {}
    max_open_orders: int | None = None
    cancel_on_stop: bool = True
    kill_file: str | None = None  # its existence trips the kill switch

    def limit(self, table: Mapping[str, Decimal], symbol: str) -> Decimal | None:
        return table.get(symbol, table.get(ANY))


class OrderIntent(msgspec.Struct, frozen=True, kw_only=True):
    """An order about to be sent (or what an amended order would become)."""

    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None  # None: a market order


def check(
    rails: Rails,
    intent: OrderIntent,
    *,
    open_orders: Iterable[OrderIntent],
    position: Decimal,
    market_price: Decimal | None,
    replacing: OrderIntent | None = None,
) -> str | None:
    """Why ``intent`` breaks a rail, or ``None`` when it keeps them all.

    Args:
        open_orders: the strategy's open orders (remaining quantities), ``replacing`` among
            them when this is an amend.
        position: the base asset held now.
        market_price: the price a market order would pay (the far side's best), if known.
        replacing: the open order an amend changes (not counted twice).
    """
    symbol = intent.symbol
    cap = rails.limit(rails.max_order_qty, symbol)
    if cap is not None and intent.qty > cap:
        return f"max_order_qty: {intent.qty} {symbol} above {cap}"
    cap = rails.limit(rails.max_order_notional, symbol)
    if cap is not None:
        price = intent.price if intent.price is not None else market_price
        if price is None:
            return f"max_order_notional: no price to value a market order of {symbol} by"
        if intent.qty * price > cap:
            return f"max_order_notional: {intent.qty * price} above {cap} ({symbol})"
    others = [o for o in open_orders if o is not replacing]
    if (
        replacing is None
        and rails.max_open_orders is not None
        and len(others) >= rails.max_open_orders
    ):
        return f"max_open_orders: {len(others)} open already (limit {rails.max_open_orders})"
    cap = rails.limit(rails.max_position, symbol)
    if cap is not None and intent.side == "buy":
        buying = sum((o.qty for o in others if o.symbol == symbol and o.side == "buy"), Decimal(0))
        after = position + buying + intent.qty
        if after > cap:
            return f"max_position: {symbol} would reach {after} (limit {cap})"
    return None
