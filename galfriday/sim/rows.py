"""How the simulated REST API writes the account's rows (sans-IO): pairs, orders, trades and
ledger entries in Kraken's REST shapes, and the paging and filter parameters of its queries.

Numbers are strings; times are epoch seconds; names are REST names (``XXBTZUSD``). A bad
parameter raises :class:`ApiError` with Kraken's error string, which the API answers. A
number in exponent form (``1.234E-7``) is a bad parameter: clients must write fixed point
(Kraken refuses ``1E-7``-style values), and the simulator refuses the rest so a client that does
not fails its tests.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final

from galfriday.sim.account import LedgerEntry, SimFill, SimOrder
from galfriday.sim.exchange import Exchange
from galfriday.sim.market import PairSpec

__all__ = [
    "PAGE",
    "ApiError",
    "consolidated",
    "delisted_trade",
    "ledger_row",
    "number",
    "offset",
    "order_info",
    "pair_info",
    "trade_row",
    "trade_rows",
    "wanted",
    "window",
]

PAGE: Final = 50
_FIXED_POINT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_REST_STATUS: Final = {
    "pending_new": "pending",
    "new": "open",
    "partially_filled": "open",
    "filled": "closed",
}


class ApiError(Exception):
    """A call Kraken refuses: ``code`` is its error string."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def pair_info(spec: PairSpec) -> dict[str, object]:
    return {
        "altname": spec.altname,
        "wsname": spec.v1_name,
        "aclass_base": "currency",
        "base": spec.rest_base,
        "aclass_quote": "currency",
        "quote": spec.rest_quote,
        "lot": "unit",
        "cost_decimals": spec.cost_precision,
        "pair_decimals": spec.price_precision,
        "lot_decimals": spec.qty_precision,
        "lot_multiplier": 1,
        "fees": [],
        "fees_maker": [],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": str(spec.qty_min),
        "costmin": str(spec.cost_min),
        "tick_size": str(spec.tick),
        "status": "online",
    }


def order_info(
    exchange: Exchange, order: SimOrder, with_trades: bool, consolidate: bool = True
) -> dict[str, object]:
    """An order as OpenOrders, ClosedOrders and QueryOrders list it."""
    spec = exchange.specs[order.symbol]
    price = order.limit_price if order.limit_price is not None else Decimal(0)
    info: dict[str, object] = {
        "refid": None,
        "userref": order.order_userref or 0,
        "status": _REST_STATUS.get(order.status, order.status),
        "opentm": order.opened,
        "starttm": 0,
        "expiretm": 0,
        "descr": {
            "pair": spec.altname,
            "type": order.side,
            "ordertype": order.order_type,
            "price": str(price),
            "price2": "0",
            "leverage": "none",
            "order": f"{order.side} {order.qty} {spec.altname} @ {order.order_type} {price}",
            "close": "",
        },
        "vol": str(order.qty),
        "vol_exec": str(order.cum_qty),
        "cost": str(order.cum_cost),
        "fee": str(order.fee),
        "price": str(order.avg_price),
        "stopprice": "0",
        "limitprice": "0",
        "misc": "",
        "oflags": "fciq",
    }
    if order.cl_ord_id:
        info["cl_ord_id"] = order.cl_ord_id
    if order.closed is not None:
        info["closetm"] = order.closed
        info["reason"] = order.reason
    if with_trades:
        fills = exchange.fills_of(order.order_id)
        info["trades"] = [t for t, _ in trade_rows(fills, consolidate)]
    return info


def trade_rows(fills: list[SimFill], consolidate: bool) -> list[tuple[str, SimFill]]:
    """REST trades of ``fills`` (oldest first) under their ids. Consolidated, the taker fills
    of one order become one trade (summed, at their average price) under an id of its own
    that no WebSocket ``exec_id`` carries: matching REST trades with WS fills then fails."""
    if not consolidate:
        return [(f.exec_id, f) for f in fills]
    rows: list[tuple[str, SimFill]] = []
    takers: dict[str, int] = {}  # order id -> index of its consolidated row
    for fill in fills:
        if fill.liquidity != "t":
            rows.append((fill.exec_id, fill))
            continue
        index = takers.get(fill.order_id)
        if index is None:
            takers[fill.order_id] = len(rows)
            rows.append(("C" + fill.exec_id[1:], fill))
            continue
        trade_id, first = rows[index]
        qty, cost = first.qty + fill.qty, first.cost + fill.cost
        merged = dataclasses.replace(
            first, qty=qty, cost=cost, fee=first.fee + fill.fee, price=cost / qty
        )
        rows[index] = (trade_id, merged)
    return rows


def trade_row(exchange: Exchange, fill: SimFill) -> dict[str, object]:
    """A fill as TradesHistory lists it."""
    return {
        "ordertxid": fill.order_id,
        "postxid": f"P{fill.trade_id}",
        "pair": exchange.specs[fill.symbol].rest_name,
        "time": fill.time,
        "type": fill.side,
        "ordertype": exchange.account.orders[fill.order_id].order_type,
        "price": str(fill.price),
        "cost": str(fill.cost),
        "fee": str(fill.fee),
        "vol": str(fill.qty),
        "margin": "0",
        "misc": "",
        "trade_id": fill.trade_id,
        "maker": fill.liquidity == "m",
    }


def delisted_trade(run_tag: str, at: float) -> tuple[str, dict[str, object], float]:
    """A trade of a pair Kraken has since delisted (AssetPairs no longer knows it), at ``at``:
    the oldest row of the account's history, as on a real account."""
    row: dict[str, object] = {
        "ordertxid": "ODLIST-LUNA0-000000", "postxid": "P0", "pair": "LUNAUSD",
        "time": at, "type": "buy", "ordertype": "market", "price": "0.5000",
        "cost": "5.00000", "fee": "0.02000", "vol": "10.00000000", "margin": "0",
        "misc": "", "trade_id": 1, "maker": False,
    }  # fmt: skip
    return f"TDLIST-{run_tag}-LUNA00", row, at


def ledger_row(entry: LedgerEntry, rest_asset: Callable[[str], str]) -> dict[str, object]:
    """A ledger entry as Ledgers lists it (``rest_asset`` names the asset)."""
    return {
        "refid": entry.ref_id,
        "time": entry.time,
        "type": entry.type,
        "subtype": "",
        "aclass": "currency",
        "asset": rest_asset(entry.asset),
        "amount": str(entry.amount),
        "fee": str(entry.fee),
        "balance": str(entry.balance),
    }


def consolidated(params: Mapping[str, str]) -> bool:
    """Kraken consolidates a taker order's fills unless asked ``consolidate_taker=false``."""
    return params.get("consolidate_taker", "true").lower() not in ("false", "0")


def wanted(order: SimOrder, params: Mapping[str, str]) -> bool:
    """The ``userref`` and ``cl_ord_id`` filters of OpenOrders and ClosedOrders."""
    if params.get("cl_ord_id") and order.cl_ord_id != params["cl_ord_id"]:
        return False
    userref = params.get("userref")
    return not userref or str(order.order_userref) == userref


def offset(params: Mapping[str, str]) -> int:
    """The ``ofs`` of a paged query."""
    try:
        return max(0, int(params.get("ofs", "0")))
    except ValueError as exc:
        raise ApiError("EGeneral:Invalid arguments:ofs") from exc


def number(params: Mapping[str, str], name: str) -> Decimal | None:
    """The decimal parameter ``name`` (None when absent), in fixed point as Kraken reads it.

    Exponent form (``1.234E-7``, what ``str(Decimal)`` writes below 1e-6), ``NaN``,
    ``Infinity`` or anything else is refused: ``EGeneral:Invalid arguments:<name>``.
    """
    text = params.get(name)
    if not text:
        return None
    if _FIXED_POINT.fullmatch(text) is None:
        raise ApiError(f"EGeneral:Invalid arguments:{name}")
    return Decimal(text)


def window(params: Mapping[str, str]) -> Callable[[float], bool]:
    """Whether a time is after the query's ``start`` and at or before its ``end`` (each
    optional, epoch seconds in fixed point); a bad one is refused even if no row is asked."""
    start, end = number(params, "start"), number(params, "end")
    after = float("-inf") if start is None else float(start)
    until = float("inf") if end is None else float(end)
    return lambda time: after < time <= until
