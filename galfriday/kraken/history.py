"""Kraken's account history over REST, typed and paged: trades, ledger, closed orders, and
order queries that survive an order the exchange does not know.

``TradesHistory``, ``Ledgers`` and ``ClosedOrders`` answer the 50 newest rows of a window per
call, with ``count`` the total in the window. :func:`trades_history`, :func:`ledgers` and
:func:`closed_orders` page with ``ofs`` until the window is covered, or until ``max_pages``
calls were made (each page is a call on the counter: history pages cost 2), and say which
(:attr:`History.covered`): a caller reports a window it could not cover instead of trusting
it. Rows arriving while the pages are read shift the offsets: a row may come twice (the map
keeps one), none is skipped.

Trade ids are matched with WebSocket ``exec_id`` s, so trades are always asked for one per
fill (``consolidate_taker=false``: Kraken consolidates a taker's fills by default).

:func:`query_orders` asks ``QueryOrders`` 50 ids at a time; a batch refused with
``EOrder:Invalid order`` is asked again one id at a time, so one unknown order never hides the
others, and the ids the exchange does not know are returned apart.

The one Kraken module besides the REST client that does I/O (through it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Generic, TypeVar

import msgspec

from galfriday.errors import OrderRejected
from galfriday.kraken.answers import (
    ClosedOrders,
    Ledgers,
    RestLedgerEntry,
    RestOrder,
    RestTrade,
    TradesHistory,
    decode_closed_orders,
    decode_ledgers,
    decode_query_orders,
    decode_trades_history,
)
from galfriday.kraken.rest import KrakenRest

__all__ = [
    "MAX_PAGES",
    "PAGE",
    "History",
    "closed_orders",
    "ledgers",
    "query_orders",
    "trades_history",
]

PAGE: Final = 50  # rows Kraken answers per call
MAX_PAGES: Final = 20  # calls one window may take (1,000 rows)
BATCH: Final = 50  # ids per QueryOrders call

_R = TypeVar("_R")


class History(msgspec.Struct, Generic[_R], frozen=True, kw_only=True):
    """Rows of a window by id, and whether every row of the window was read."""

    rows: dict[str, _R]
    covered: bool
    pages: int


async def _paged(
    rest: KrakenRest,
    method: str,
    read: Callable[[object], tuple[dict[str, _R], int | None]],
    params: dict[str, object],
    max_pages: int,
) -> History[_R]:
    rows: dict[str, _R] = {}
    offset = 0
    for page in range(1, max_pages + 1):
        found, count = read(await rest.private(method, **params, ofs=offset or None))
        rows.update(found)
        offset += len(found)
        if len(found) < PAGE or count is None or offset >= count:
            return History(rows=rows, covered=True, pages=page)
    return History(rows=rows, covered=False, pages=max_pages)


def _trades(result: object) -> tuple[dict[str, RestTrade], int | None]:
    answer: TradesHistory = decode_trades_history(result)
    return answer.trades, answer.count


def _ledger(result: object) -> tuple[dict[str, RestLedgerEntry], int | None]:
    answer: Ledgers = decode_ledgers(result)
    return answer.ledger, answer.count


def _closed(result: object) -> tuple[dict[str, RestOrder], int | None]:
    answer: ClosedOrders = decode_closed_orders(result)
    return answer.closed, answer.count


async def trades_history(
    rest: KrakenRest, *, start: float | None = None, max_pages: int = MAX_PAGES
) -> History[RestTrade]:
    """Every trade after ``start`` (epoch seconds; all of them if None), one per fill."""
    params: dict[str, object] = {"consolidate_taker": False}
    if start is not None:
        params["start"] = int(start)
    return await _paged(rest, "TradesHistory", _trades, params, max_pages)


async def ledgers(
    rest: KrakenRest, *, start: float | None = None, max_pages: int = MAX_PAGES
) -> History[RestLedgerEntry]:
    """Every ledger entry after ``start`` (epoch seconds; all of them if None)."""
    params: dict[str, object] = {}
    if start is not None:
        params["start"] = int(start)
    return await _paged(rest, "Ledgers", _ledger, params, max_pages)


async def closed_orders(
    rest: KrakenRest, *, start: float | None = None, max_pages: int = MAX_PAGES
) -> History[RestOrder]:
    """Every order closed after ``start`` (epoch seconds; all of them if None)."""
    params: dict[str, object] = {"consolidate_taker": False}
    if start is not None:
        params["start"] = int(start)
    return await _paged(rest, "ClosedOrders", _closed, params, max_pages)


async def query_orders(
    rest: KrakenRest, order_ids: list[str], *, trades: bool = False
) -> tuple[dict[str, RestOrder], set[str]]:
    """``QueryOrders`` for any number of ids: (orders by id, ids the exchange does not know).

    Raises:
        GalfridayError: a call failed for another reason (an outage, an unreadable answer).
    """
    found: dict[str, RestOrder] = {}
    unknown: set[str] = set()

    async def ask(ids: list[str]) -> None:
        result = await rest.private(
            "QueryOrders", txid=",".join(ids), trades=trades, consolidate_taker=False
        )
        found.update(decode_query_orders(result))

    for start in range(0, len(order_ids), BATCH):
        batch = order_ids[start : start + BATCH]
        try:
            await ask(batch)
            continue
        except OrderRejected:
            if len(batch) == 1:
                unknown.update(batch)
                continue
        for order_id in batch:
            try:
                await ask([order_id])
            except OrderRejected:
                unknown.add(order_id)
    return found, unknown
