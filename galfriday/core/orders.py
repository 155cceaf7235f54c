"""The order state machine: Kraken ``executions`` reports in, order events out (sans-IO).

Status moves only forward: ``pending_new`` -> ``new`` -> ``partially_filled`` -> a final state
(``filled``, ``canceled``, ``expired``). A report that would move an order backwards or from
one final state to another changes no status and yields an :class:`OrderAnomaly`; it never
raises. Fills are money and are always recorded, whatever the status (a ``trade`` can arrive
after the ``canceled`` of the rest of its order), once per ``exec_id``.

Kraken's trap: a ``trade`` that completes an order still says ``partially_filled``; only the
separate ``filled`` report is final. :attr:`OrderView.remaining` tells how much is left.

A ``new`` report whose ``order_status`` is ``partially_filled`` (how an executions snapshot
describes a partly filled resting order) means ``partially_filled``, not a step back.

An ``amended`` report (the user's amend) or a ``restated`` one (the engine's) gives an open
order new terms in place: its ``order_qty`` (the new total, fills included) and
``limit_price`` replace the old ones, ids and fills stay. Such a report moves the status only
forward; a lower ``order_status`` in it is the order as it stood, not a step back (no anomaly).

A snapshot's trades (``snap_trades``) and REST history's are history: one already known
changes nothing and is no anomaly; a new one is counted as a fill, but moves no status of an
order already known (the order reports carry its status).

Cumulative figures: ``cum_qty``/``cum_cost`` are the larger of the fills we saw and the
exchange's own cumulative figures (a report carrying larger ones reveals fills we missed);
they never go down, and a missed fill that arrives later (REST backfill) is not counted again.
``avg_price`` is ``cum_cost / cum_qty`` unless the exchange states it.

Pure: no I/O, no clock, no trio. Time comes in as ``received_at`` (frame time, seconds).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from decimal import Decimal
from typing import Final

import msgspec

from galfriday.core.sequencing import MessageCache
from galfriday.events import FillEvent, OrderAnomaly, OrderStatus, OrderUpdate, OrderView
from galfriday.kraken.wire import ExecutionReport

__all__ = ["OrderEvent", "OrderTracker"]

OrderEvent = OrderUpdate | FillEvent | OrderAnomaly

_RANK: Final = {
    OrderStatus.PENDING_NEW: 0,
    OrderStatus.NEW: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
    OrderStatus.FILLED: 3,
    OrderStatus.CANCELED: 3,
    OrderStatus.EXPIRED: 3,
}
_STATUS_OF_EXEC: Final = {
    "pending_new": OrderStatus.PENDING_NEW,
    "new": OrderStatus.NEW,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
}
_RESTATEMENTS: Final = frozenset({"amended", "restated"})
_ZERO: Final = Decimal(0)
DEFAULT_FILL_TTL: Final = 7 * 24 * 3600.0
DEFAULT_MAX_FILLS: Final = 200_000
DEFAULT_MAX_CLOSED: Final = 10_000


class _Order(msgspec.Struct, kw_only=True):
    """Mutable working copy of one order; published as an immutable :class:`OrderView`."""

    order_id: str
    status: OrderStatus
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    cum_qty: Decimal = _ZERO
    cum_cost: Decimal = _ZERO
    fill_qty: Decimal = _ZERO  # the fills seen, which may trail the exchange's cumulative
    fill_cost: Decimal = _ZERO
    avg_price: Decimal | None = None
    fees: dict[str, Decimal] = {}
    cl_ord_id: str | None = None
    order_userref: int | None = None
    updated: datetime | None = None

    def view(self) -> OrderView:
        return OrderView(
            order_id=self.order_id,
            status=self.status,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            order_qty=self.order_qty,
            limit_price=self.limit_price,
            cum_qty=self.cum_qty,
            cum_cost=self.cum_cost,
            avg_price=self.avg_price,
            fees=tuple(sorted(self.fees.items())),
            cl_ord_id=self.cl_ord_id,
            order_userref=self.order_userref,
            updated=self.updated,
        )


class OrderTracker:
    """Every order of the account that the private stream told us about.

    Args:
        fill_ttl: how long fill ids are remembered for deduplication, in frame seconds.
        max_fills: the most fill ids remembered.
        max_closed: the most orders in a final state kept; the oldest closed go first.
    """

    def __init__(
        self,
        fill_ttl: float = DEFAULT_FILL_TTL,
        max_fills: int = DEFAULT_MAX_FILLS,
        max_closed: int = DEFAULT_MAX_CLOSED,
    ) -> None:
        self._orders: dict[str, _Order] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._fills = MessageCache(fill_ttl, max_fills)
        self._max_closed = max_closed
        self.fills = 0

    def get(self, order_id: str) -> OrderView | None:
        order = self._orders.get(order_id)
        return order.view() if order else None

    def open_orders(self) -> list[OrderView]:
        """Orders not in a final state, oldest first."""
        return [o.view() for o in self._orders.values() if not o.status.final]

    def fill_ids(self) -> frozenset[str]:
        """The ``exec_id`` of every fill remembered for deduplication."""
        return frozenset(str(key) for key in self._fills.remembered())

    def would_change(self, report: ExecutionReport) -> bool:
        """True if ``report`` carries news: a fill not seen, a status further along, a larger
        cumulative, new terms from an amend, or an order not known. (Applying a report is
        idempotent either way.)"""
        order = self._orders.get(report.order_id or "")
        if order is None:
            return True
        if report.exec_type == "trade" and not self.knows_fill(report.exec_id):
            return True
        if report.exec_type in _RESTATEMENTS and _new_terms(order, report):
            return True
        target = _target_status(report)
        if target is not None and _RANK[target] > _RANK[order.status]:
            return True
        return report.cum_qty is not None and report.cum_qty > order.cum_qty

    def knows_fill(self, exec_id: str | None) -> bool:
        """True if a fill with this ``exec_id`` was applied (and is still remembered)."""
        return exec_id is not None and exec_id in self._fills

    def orders(self) -> list[OrderView]:
        """Every order held, open and recently closed."""
        return [o.view() for o in self._orders.values()]

    def apply(
        self, report: ExecutionReport, received_at: float, *, history: bool = False
    ) -> list[OrderEvent]:
        """Apply one execution report; return what changed. ``history``: the report comes
        from a snapshot or from REST history, where a trade is history, not news."""
        history = history and report.exec_type == "trade"
        if history and self.knows_fill(report.exec_id):
            return []
        order_id = report.order_id
        if not order_id:
            return [
                OrderAnomaly(
                    kind="missing_order_id",
                    order_id=None,
                    detail=f"{report.exec_type} report without order_id",
                    received_at=received_at,
                )
            ]
        events: list[OrderEvent] = []
        order = self._orders.get(order_id)
        before = order.view() if order else None
        if order is None:
            order = _Order(order_id=order_id, status=OrderStatus.PENDING_NEW)
            self._orders[order_id] = order
        _copy_fields(order, report)
        if report.exec_type == "trade":
            fill = self._fill(order, report, received_at, events)
            if fill is not None:
                events.append(fill)
        self._raise_cumulative(order, report, received_at, events)
        target = None if history and before is not None else _target_status(report)
        if report.exec_type in _RESTATEMENTS and target is not None and before is not None:
            target = target if _RANK[target] > _RANK[order.status] else None
        if target is not None and target != order.status:
            if before is None or _RANK[target] > _RANK[order.status]:
                order.status = target
            else:
                events.append(
                    OrderAnomaly(
                        kind="invalid_transition",
                        order_id=order_id,
                        detail=f"{order.status} -> {target} ({report.exec_type}) ignored",
                        received_at=received_at,
                    )
                )
        after = order.view()
        if after != before:
            previous = before.status if before else None
            events.append(
                OrderUpdate(
                    order=after,
                    exec_type=report.exec_type,
                    previous=previous,
                    received_at=received_at,
                )
            )
        if order.status.final:
            self._retire(order_id)
        return events

    def _fill(
        self, order: _Order, report: ExecutionReport, received_at: float, events: list[OrderEvent]
    ) -> FillEvent | None:
        qty, price = report.last_qty, report.last_price
        if qty is None or price is None or qty <= 0:
            events.append(
                OrderAnomaly(
                    kind="bad_fill",
                    order_id=order.order_id,
                    detail=f"trade {report.exec_id} without last_qty/last_price",
                    received_at=received_at,
                )
            )
            return None
        exec_id = report.exec_id or f"{order.order_id}:{report.trade_id}"
        if self._fills.seen(exec_id, received_at):
            events.append(
                OrderAnomaly(
                    kind="duplicate_fill",
                    order_id=order.order_id,
                    detail=f"exec_id {exec_id} seen before",
                    received_at=received_at,
                )
            )
            return None
        cost = report.cost if report.cost is not None else qty * price
        self.fills += 1
        order.fill_qty += qty
        order.fill_cost += cost
        if order.fill_qty > order.cum_qty:  # else a late fill already inside the cumulative
            order.cum_qty = order.fill_qty
            order.cum_cost = max(order.cum_cost, order.fill_cost)
            order.avg_price = order.cum_cost / order.cum_qty
        fees = tuple((fee.asset, fee.qty) for fee in report.fees)
        for asset, amount in fees:
            order.fees[asset] = order.fees.get(asset, _ZERO) + amount
        return FillEvent(
            order_id=order.order_id,
            exec_id=exec_id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            cost=report.cost,
            fees=fees,
            liquidity=report.liquidity_ind,
            trade_id=report.trade_id,
            timestamp=report.timestamp,
            received_at=received_at,
        )

    def _raise_cumulative(
        self, order: _Order, report: ExecutionReport, received_at: float, events: list[OrderEvent]
    ) -> None:
        cum_qty = report.cum_qty
        if cum_qty is None or cum_qty < order.cum_qty:
            return
        if cum_qty == order.cum_qty:
            if report.avg_price is not None and cum_qty > 0:
                order.avg_price = report.avg_price
            return
        events.append(
            OrderAnomaly(
                kind="cum_qty_mismatch",
                order_id=order.order_id,
                detail=f"exchange cum_qty {cum_qty} > fills seen {order.cum_qty}",
                received_at=received_at,
            )
        )
        order.cum_qty = cum_qty
        if report.cum_cost is not None and report.cum_cost > order.cum_cost:
            order.cum_cost = report.cum_cost
        order.avg_price = report.avg_price or order.cum_cost / cum_qty

    def _retire(self, order_id: str) -> None:
        closed = self._closed
        closed[order_id] = None
        closed.move_to_end(order_id)
        while len(closed) > self._max_closed:
            old, _ = closed.popitem(last=False)
            self._orders.pop(old, None)


def _target_status(report: ExecutionReport) -> OrderStatus | None:
    """The status a report asks for: by ``exec_type`` first, else its ``order_status``."""
    status = _STATUS_OF_EXEC.get(report.exec_type)
    if status in (OrderStatus.PENDING_NEW, OrderStatus.NEW) and (
        report.order_status == "partially_filled"
    ):
        return OrderStatus.PARTIALLY_FILLED
    if status is not None:
        return status
    if report.exec_type == "trade":
        return OrderStatus.PARTIALLY_FILLED
    if report.order_status:
        try:
            return OrderStatus(report.order_status)
        except ValueError:
            return None
    return None


def _new_terms(order: _Order, report: ExecutionReport) -> bool:
    """True if ``report`` states a quantity or limit price the order does not have."""
    return (report.order_qty is not None and report.order_qty != order.order_qty) or (
        report.limit_price is not None and report.limit_price != order.limit_price
    )


def _copy_fields(order: _Order, report: ExecutionReport) -> None:
    """Take every descriptive field the report carries; sparse reports carry few."""
    if report.symbol is not None:
        order.symbol = report.symbol
    if report.side is not None:
        order.side = report.side
    if report.order_type is not None:
        order.order_type = report.order_type
    if report.order_qty is not None:
        order.order_qty = report.order_qty
    if report.limit_price is not None:
        order.limit_price = report.limit_price
    if report.cl_ord_id is not None:
        order.cl_ord_id = report.cl_ord_id
    if report.order_userref is not None:
        order.order_userref = report.order_userref
    if report.timestamp is not None:
        order.updated = report.timestamp
