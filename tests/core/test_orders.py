from __future__ import annotations

from decimal import Decimal

import msgspec

from galfriday.core.orders import OrderTracker
from galfriday.events import FillEvent, OrderAnomaly, OrderStatus, OrderUpdate
from galfriday.kraken.wire import ExecutionReport, ExecutionsMessage, Fee, FrameDecoder
from tests.examples import ws_examples

D = Decimal


def _report(exec_type: str, **fields: object) -> ExecutionReport:
    return ExecutionReport(exec_type=exec_type, order_id=fields.pop("order_id", "O1"), **fields)  # type: ignore[arg-type]


def _trade(exec_id: str, qty: str, price: str, **fields: object) -> ExecutionReport:
    return _report(
        "trade",
        exec_id=exec_id,
        last_qty=D(qty),
        last_price=D(price),
        order_status="partially_filled",
        **fields,
    )


def _updates(events: list[object]) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate)]


def _anomalies(events: list[object]) -> list[str]:
    return [e.kind for e in events if isinstance(e, OrderAnomaly)]


def _new_order(tracker: OrderTracker, qty: str = "1.0") -> None:
    tracker.apply(
        _report(
            "pending_new",
            symbol="BTC/USD",
            side="buy",
            order_type="limit",
            order_qty=D(qty),
            limit_price=D("100"),
        ),
        0.0,
    )
    tracker.apply(_report("new"), 0.0)


def test_documented_sequence_pending_new_new_trade() -> None:
    decoder = FrameDecoder()
    tracker = OrderTracker()
    examples = ws_examples()
    events: list[object] = []
    for name in ("exec_pending_new", "exec_new", "exec_trade"):
        message = decoder.decode(examples[name])
        assert isinstance(message, ExecutionsMessage)
        for report in message.data:
            events += tracker.apply(report, received_at=1.0)
    statuses = [(u.previous, u.order.status) for u in _updates(events)]
    assert statuses == [
        (None, OrderStatus.PENDING_NEW),
        (OrderStatus.PENDING_NEW, OrderStatus.NEW),
        (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED),
    ]
    order = tracker.get("OK4GJX-KSTLS-7DZZO5")
    assert order is not None
    assert (order.symbol, order.side, order.order_qty) == ("BTC/USD", "sell", D("0.005"))
    assert order.cum_qty == D("0.005") and order.avg_price == D("26599.9")
    assert order.remaining == 0
    assert order.fees == (("USD", D("0.3458")),)
    fills = [e for e in events if isinstance(e, FillEvent)]
    assert len(fills) == 1 and fills[0].exec_id == "TGBB7L-HT5LX-J3BZ4A"


def test_completing_trade_says_partially_filled_until_the_separate_filled() -> None:
    tracker = OrderTracker()
    _new_order(tracker, "1.0")
    tracker.apply(_trade("E1", "1.0", "100"), 1.0)
    order = tracker.get("O1")
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED
    assert order.remaining == 0
    events = tracker.apply(_report("filled", order_status="filled", cum_qty=D("1.0")), 2.0)
    assert _updates(events)[0].order.status is OrderStatus.FILLED
    assert tracker.open_orders() == []


def test_duplicate_fill_is_reported_and_not_counted_twice() -> None:
    tracker = OrderTracker()
    _new_order(tracker)
    tracker.apply(_trade("E1", "0.4", "100"), 1.0)
    events = tracker.apply(_trade("E1", "0.4", "100"), 1.5)
    assert _anomalies(events) == ["duplicate_fill"]
    assert not [e for e in events if isinstance(e, FillEvent)]
    order = tracker.get("O1")
    assert order is not None and order.cum_qty == D("0.4")


def test_cum_qty_and_avg_price_follow_the_fills() -> None:
    tracker = OrderTracker()
    _new_order(tracker, "3")
    tracker.apply(_trade("E1", "1", "100", fees=[Fee(asset="USD", qty=D("0.1"))]), 1.0)
    tracker.apply(_trade("E2", "2", "103", fees=[Fee(asset="USD", qty=D("0.2"))]), 2.0)
    order = tracker.get("O1")
    assert order is not None
    assert order.cum_qty == D(3) and order.cum_cost == D(306) and order.avg_price == D(102)
    assert order.fees == (("USD", D("0.3")),)


def test_exchange_cumulative_above_ours_reveals_a_missed_fill() -> None:
    tracker = OrderTracker()
    _new_order(tracker, "3")
    events = tracker.apply(_report("filled", cum_qty=D(3), cum_cost=D(300), avg_price=D(100)), 1.0)
    assert _anomalies(events) == ["cum_qty_mismatch"]
    order = tracker.get("O1")
    assert order is not None and order.cum_qty == D(3) and order.avg_price == D(100)


def test_final_state_never_regresses_and_the_attempt_is_reported() -> None:
    tracker = OrderTracker()
    _new_order(tracker)
    tracker.apply(_report("canceled", order_status="canceled"), 1.0)
    for stale in ("new", "pending_new", "expired"):
        events = tracker.apply(_report(stale), 2.0)
        assert _anomalies(events) == ["invalid_transition"]
        order = tracker.get("O1")
        assert order is not None and order.status is OrderStatus.CANCELED


def test_fill_arriving_after_cancel_is_still_recorded() -> None:
    tracker = OrderTracker()
    _new_order(tracker, "2")
    tracker.apply(_report("canceled"), 1.0)
    events = tracker.apply(_trade("E9", "0.5", "100"), 1.1)
    assert [e.qty for e in events if isinstance(e, FillEvent)] == [D("0.5")]
    order = tracker.get("O1")
    assert order is not None
    assert order.status is OrderStatus.CANCELED and order.cum_qty == D("0.5")


def test_out_of_order_new_after_partial_fill_does_not_regress() -> None:
    tracker = OrderTracker()
    tracker.apply(_report("pending_new", order_qty=D(2)), 0.0)
    tracker.apply(_trade("E1", "1", "100"), 1.0)
    events = tracker.apply(_report("new"), 2.0)
    assert _anomalies(events) == ["invalid_transition"]
    order = tracker.get("O1")
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED


def test_sparse_report_for_an_unknown_order_creates_it() -> None:
    tracker = OrderTracker()
    events = tracker.apply(_report("new", order_id="O7"), 0.0)
    update = _updates(events)[0]
    assert update.previous is None and update.order.status is OrderStatus.NEW
    assert update.order.symbol is None and update.order.remaining is None


def test_amend_and_restate_change_quantity_and_price() -> None:
    tracker = OrderTracker()
    _new_order(tracker, "1")
    events = tracker.apply(_report("amended", order_qty=D("2"), limit_price=D("99.5")), 1.0)
    assert _updates(events)[0].order.order_qty == D(2)
    events = tracker.apply(_report("restated", limit_price=D("99.4"), reason="engine"), 2.0)
    assert _updates(events)[0].order.limit_price == D("99.4")


def test_report_without_order_id_is_an_anomaly() -> None:
    events = OrderTracker().apply(ExecutionReport(exec_type="new"), 0.0)
    assert _anomalies(events) == ["missing_order_id"]


def test_trade_without_quantity_is_a_bad_fill() -> None:
    tracker = OrderTracker()
    _new_order(tracker)
    events = tracker.apply(_report("trade", exec_id="E1"), 1.0)
    assert "bad_fill" in _anomalies(events)


def test_report_that_changes_nothing_publishes_nothing() -> None:
    tracker = OrderTracker()
    _new_order(tracker)
    assert tracker.apply(_report("status"), 1.0) == []


def test_closed_orders_are_bounded() -> None:
    tracker = OrderTracker(max_closed=2)
    for i in range(4):
        tracker.apply(_report("new", order_id=f"O{i}"), 0.0)
        tracker.apply(_report("canceled", order_id=f"O{i}"), 0.0)
    assert [o.order_id for o in tracker.orders()] == ["O2", "O3"]


def test_order_views_are_immutable_snapshots() -> None:
    tracker = OrderTracker()
    _new_order(tracker, "2")
    before = tracker.get("O1")
    tracker.apply(_trade("E1", "1", "100"), 1.0)
    assert before is not None and before.cum_qty == 0
    assert msgspec.structs.replace(before, cum_qty=D(1)).cum_qty == 1


def test_a_fill_learnt_after_the_exchange_cumulative_is_not_counted_twice() -> None:
    # The soak's finding: the stream's trade was lost, the "filled" report raised cum_qty to
    # the exchange's figure, then REST backfill brought the trade itself.
    tracker = OrderTracker()
    _new_order(tracker, "0.5")
    tracker.apply(_report("filled", order_status="filled", cum_qty=D("0.5"), cum_cost=D("50")), 2.0)
    events = tracker.apply(_trade("T1", "0.5", "100"), 3.0)
    assert [e.exec_id for e in events if isinstance(e, FillEvent)] == ["T1"]  # recorded once
    order = tracker.get("O1")
    assert order is not None
    assert (order.cum_qty, order.cum_cost, order.status) == (D("0.5"), D("50"), OrderStatus.FILLED)
    assert tracker.fills == 1


def test_missed_and_late_fills_add_up_to_the_exchange_cumulative() -> None:
    tracker = OrderTracker()
    _new_order(tracker, "1.0")
    tracker.apply(_trade("T1", "0.2", "100", cum_qty=D("0.6"), cum_cost=D("60")), 2.0)
    tracker.apply(_trade("T0", "0.4", "100"), 3.0)  # the missed one, late: already counted
    order = tracker.get("O1")
    assert order is not None and order.cum_qty == D("0.6")
    tracker.apply(_trade("T2", "0.1", "100"), 4.0)  # a new one goes on top
    order = tracker.get("O1")
    assert order is not None and order.cum_qty == D("0.7") and order.cum_cost == D("70")


def test_would_change_tells_news_from_repeats() -> None:
    tracker = OrderTracker()
    _new_order(tracker, "1.0")
    assert not tracker.would_change(_report("new", order_status="new"))
    assert not tracker.would_change(_report("pending_new", order_status="pending_new"))
    assert tracker.would_change(_trade("T1", "0.5", "100"))
    tracker.apply(_trade("T1", "0.5", "100"), 2.0)
    assert not tracker.would_change(_trade("T1", "0.5", "100"))
    assert tracker.would_change(_report("filled", order_status="filled", cum_qty=D("1.0")))
    assert tracker.would_change(_report("new", order_id="O2"))  # an order not known


def test_a_snapshot_of_a_partly_filled_resting_order_is_no_step_back() -> None:
    # Kraken's snapshot describes a partly filled resting order as new/partially_filled; taking
    # it for "new" wrote an invalid_transition anomaly at every reconnect.
    tracker = OrderTracker()
    _new_order(tracker)
    tracker.apply(_trade("T1", "0.4", "100"), 1.0)
    events = tracker.apply(
        _report("new", order_status="partially_filled", cum_qty=D("0.4")), 2.0, history=True
    )
    assert _anomalies(events) == [] and _updates(events) == []
    order = tracker.get("O1")
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED


def test_a_partly_filled_order_first_seen_in_a_snapshot_is_partially_filled() -> None:
    tracker = OrderTracker()
    tracker.apply(
        _report("new", order_status="partially_filled", order_qty=D("1"), cum_qty=D("0.4")),
        0.0,
        history=True,
    )
    order = tracker.get("O1")
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED


def test_a_snapshots_known_trade_changes_nothing_and_is_no_anomaly() -> None:
    tracker = OrderTracker()
    _new_order(tracker)
    tracker.apply(_trade("T1", "1.0", "100"), 1.0)
    tracker.apply(_report("filled", cum_qty=D("1.0")), 1.0)
    events = tracker.apply(_trade("T1", "1.0", "100"), 2.0, history=True)
    assert events == []
    order = tracker.get("O1")
    assert order is not None and order.status is OrderStatus.FILLED


def test_a_snapshots_new_trade_of_a_known_order_counts_but_moves_no_status() -> None:
    tracker = OrderTracker()
    _new_order(tracker)
    tracker.apply(_report("canceled"), 1.0)
    events = tracker.apply(_trade("T9", "0.5", "100"), 2.0, history=True)
    assert [e.exec_id for e in events if isinstance(e, FillEvent)] == ["T9"]
    assert _anomalies(events) == []
    order = tracker.get("O1")
    assert order is not None and order.status is OrderStatus.CANCELED
