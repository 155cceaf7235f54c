"""The order fold of ``amended`` (and ``restated``) reports: new terms in place."""

from __future__ import annotations

from decimal import Decimal

from galfriday.core.orders import OrderTracker
from galfriday.events import OrderAnomaly, OrderStatus, OrderUpdate
from galfriday.kraken.wire import ExecutionReport

D = Decimal


def _report(exec_type: str, **fields: object) -> ExecutionReport:
    return ExecutionReport(exec_type=exec_type, order_id="O1", **fields)  # type: ignore[arg-type]


def _tracker(qty: str = "1.0") -> OrderTracker:
    tracker = OrderTracker()
    opened = _report(
        "pending_new",
        symbol="BTC/USD",
        side="buy",
        order_type="limit",
        order_qty=D(qty),
        limit_price=D("100"),
    )
    tracker.apply(opened, 0.0)
    tracker.apply(_report("new"), 0.0)
    return tracker


def _partly_filled() -> OrderTracker:
    tracker = _tracker()
    trade = _report(
        "trade",
        exec_id="T1",
        last_qty=D("0.4"),
        last_price=D("100"),
        order_status="partially_filled",
    )
    tracker.apply(trade, 1.0)
    return tracker


def test_amended_report_gives_the_order_its_new_quantity_and_price() -> None:
    tracker = _tracker()
    events = tracker.apply(
        _report("amended", order_qty=D("2.0"), limit_price=D("99"), order_status="new"), 2.0
    )
    updates = [e for e in events if isinstance(e, OrderUpdate)]
    assert [u.exec_type for u in updates] == ["amended"]
    order = updates[0].order
    assert (order.order_qty, order.limit_price, order.status) == (
        D("2.0"),
        D("99"),
        OrderStatus.NEW,
    )


def test_amend_keeps_the_fills_so_remaining_follows_the_new_total() -> None:
    tracker = _partly_filled()
    tracker.apply(_report("amended", order_qty=D("0.5"), cum_qty=D("0.4")), 2.0)
    order = tracker.get("O1")
    assert order is not None
    assert (order.cum_qty, order.remaining) == (D("0.4"), D("0.1"))


def test_amended_report_saying_new_does_not_move_a_partly_filled_order_back() -> None:
    tracker = _partly_filled()
    events = tracker.apply(_report("amended", order_qty=D("0.8"), order_status="new"), 2.0)
    assert not [e for e in events if isinstance(e, OrderAnomaly)]
    order = tracker.get("O1")
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED


def test_amended_report_closing_the_order_moves_it_forward() -> None:
    tracker = _partly_filled()
    tracker.apply(_report("amended", order_qty=D("0.4"), order_status="canceled"), 2.0)
    order = tracker.get("O1")
    assert order is not None and order.status is OrderStatus.CANCELED


def test_repeated_amend_with_new_terms_is_news_and_the_same_terms_are_not() -> None:
    tracker = _tracker()
    amended = _report("amended", order_qty=D("2.0"), limit_price=D("99"))
    assert tracker.would_change(amended)
    tracker.apply(amended, 2.0)
    assert not tracker.would_change(amended)


def test_same_amended_report_twice_emits_one_update() -> None:
    tracker = _tracker()
    amended = _report("amended", order_qty=D("2.0"))
    tracker.apply(amended, 2.0)
    assert tracker.apply(amended, 2.0) == []
