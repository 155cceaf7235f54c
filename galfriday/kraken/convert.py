"""Converters from Kraken's REST answers to the core's types, in one place.

:func:`order_report` (a REST order as the execution report it stands for), :func:`trade_report`
(a REST trade as a ``trade`` report), :func:`ledger_record` (a ledger entry in WS v2 names),
:func:`ws_balances` and :func:`symbol_map`.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

import msgspec

from galfriday.errors import ExchangeError
from galfriday.kraken.answers import (
    AssetPairsAnswer,
    AssetsAnswer,
    OrderDescr,
    RestLedgerEntry,
    RestOrder,
    RestTrade,
    UnknownPair,
)
from galfriday.kraken.symbols import SymbolMap, UnknownSymbol
from galfriday.kraken.wire import ExecutionReport, Fee

__all__ = [
    "LedgerRecord",
    "ledger_record",
    "order_report",
    "symbol_map",
    "trade_report",
    "ws_balances",
]

_REST_STATUS: Final = {
    "pending": "pending_new",
    "open": "new",
    "closed": "filled",
    "canceled": "canceled",
    "expired": "expired",
}
_LIMIT_PRICE_IN_PRICE: Final = frozenset({"limit", "iceberg"})


class LedgerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A REST ledger entry in the engine's names (``asset`` is the WS v2 code)."""

    ledger_id: str
    ref_id: str
    time: float
    ledger_type: str
    asset: str
    amount: Decimal
    fee: Decimal
    balance: Decimal
    subtype: str = ""


def order_report(
    order_id: str, order: RestOrder, symbols: SymbolMap | None = None
) -> ExecutionReport:
    """A REST order as the status report it stands for.

    ``pending`` -> ``pending_new``; ``open`` -> ``new``, or, with ``vol_exec > 0``,
    ``order_status="partially_filled"`` (``exec_type="status"``); ``closed`` -> ``filled``;
    ``canceled``, ``expired`` as they are. ``vol``, ``vol_exec``, ``cost`` and the average
    ``price`` become ``order_qty``, ``cum_qty``, ``cum_cost`` and ``avg_price``; ``userref``
    0 (Kraken's "none") becomes None. The symbol is set when ``symbols`` knows the pair.

    Raises:
        ExchangeError: a status Kraken does not document (the report would be a guess).
    """
    status = _REST_STATUS.get(order.status)
    if status is None:
        raise ExchangeError(f"order {order_id}: unknown REST status {order.status!r}")
    exec_type = status
    if status == "new" and order.vol_exec > 0:
        exec_type, status = "status", "partially_filled"
    descr = order.descr
    return ExecutionReport(
        exec_type=exec_type,
        order_id=order_id,
        order_status=status,
        symbol=_known_symbol(descr.pair, symbols),
        side=descr.type,
        order_type=descr.ordertype,
        order_qty=order.vol,
        limit_price=_limit_price(descr),
        cum_qty=order.vol_exec,
        cum_cost=order.cost,
        avg_price=order.price if order.vol_exec > 0 else None,
        cl_ord_id=order.cl_ord_id,
        order_userref=order.userref or None,
    )


def _known_symbol(pair: str | None, symbols: SymbolMap | None) -> str | None:
    if pair is None or symbols is None:
        return None
    try:
        return symbols.ws_symbol(pair)
    except UnknownSymbol:
        return None


def _limit_price(descr: OrderDescr) -> Decimal | None:
    ordertype = descr.ordertype or ""
    if ordertype in _LIMIT_PRICE_IN_PRICE:
        price = descr.price
    elif ordertype.endswith("-limit"):
        price = descr.price2
    else:
        return None
    return price if price is not None and price > 0 else None


def trade_report(trade_id: str, trade: RestTrade, symbols: SymbolMap) -> ExecutionReport:
    """A REST trade (``TradesHistory``) as the ``trade`` execution report it stands for.

    ``exec_id`` is the REST trade id; the fee is in the pair's quote currency.

    Raises:
        UnknownPair: ``symbols`` does not know the trade's pair (skip and count the row).
    """
    try:
        symbol = symbols.ws_symbol(trade.pair)
    except UnknownSymbol as exc:
        raise UnknownPair(trade.pair, trade_id) from exc
    quote = symbol.partition("/")[2]
    liquidity = None if trade.maker is None else "m" if trade.maker else "t"
    return ExecutionReport(
        exec_type="trade",
        order_id=trade.ordertxid,
        exec_id=trade_id,
        trade_id=trade.trade_id,
        symbol=symbol,
        side=trade.type,
        order_type=trade.ordertype,
        last_qty=trade.vol,
        last_price=trade.price,
        cost=trade.cost,
        liquidity_ind=liquidity,
        fees=[Fee(asset=quote, qty=trade.fee)],
        timestamp=datetime.fromtimestamp(trade.time, UTC),
    )


def ledger_record(ledger_id: str, entry: RestLedgerEntry, symbols: SymbolMap) -> LedgerRecord:
    """A REST ledger entry with its asset in WS v2 names (``ZGBP`` -> ``GBP``)."""
    return LedgerRecord(
        ledger_id=ledger_id,
        ref_id=entry.refid,
        time=entry.time,
        ledger_type=entry.type,
        subtype=entry.subtype,
        asset=symbols.ws_asset(entry.asset),
        amount=entry.amount,
        fee=entry.fee,
        balance=entry.balance,
    )


def ws_balances(balances: Mapping[str, Decimal], symbols: SymbolMap) -> dict[str, Decimal]:
    """``Balance`` in WS v2 asset names (``XXBT`` -> ``BTC``, ``XBT.F`` -> ``BTC.F``)."""
    return {symbols.ws_asset(code): amount for code, amount in balances.items()}


def symbol_map(pairs: AssetPairsAnswer, assets: AssetsAnswer | None = None) -> SymbolMap:
    """The names of every pair from ``AssetPairs`` (and altnames from ``Assets``)."""
    altnames = {code: asset.altname for code, asset in (assets.assets if assets else {}).items()}
    return SymbolMap.from_asset_pairs(pairs.pairs, altnames)
