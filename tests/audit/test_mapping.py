"""Each event maps to exactly the rows the engine wrote for it by hand before the mapping.

The expected rows are the keyword arguments today's producers pass to the writer (named in
each test), stored through the loose path; the mapped rows must store identically.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from galfriday.audit import mapping
from galfriday.audit.rows import AuditRow
from galfriday.errors import MalformedFrame
from galfriday.events import (
    Alert,
    BalanceChange,
    ConnectionState,
    ConnectionStateChanged,
    FillEvent,
    GapDetected,
    HealthChanged,
    OrderAnomaly,
    OrderStatus,
    OrderUpdate,
    OrderView,
    ResyncStarted,
    Severity,
    TradePrint,
)
from galfriday.kraken.convert import LedgerRecord
from galfriday.kraken.rest import RestCall
from galfriday.kraken.wire import SkippedEntry
from tests.audit.rowcheck import WALL, same_as_today, stored


def test_a_connection_state_change_is_a_connection_event() -> None:
    event = ConnectionStateChanged(
        connection="private",
        old=ConnectionState.CONNECTED,
        new=ConnectionState.AUTHENTICATED,
        reason="token ok",
        received_at=WALL,
    )
    # live/connection.py audit_state
    today = AuditRow(
        "connection_events",
        {
            "at_wall": WALL,
            "connection": "private",
            "old_state": "connected",
            "new_state": "authenticated",
            "reason": "token ok",
        },
    )
    same_as_today([mapping.connection_row(event)], [today])


def test_a_gap_is_a_gap_row() -> None:
    event = GapDetected(stream="executions", first=7, last=9, received_at=WALL)
    # live/private.py _sequenced
    today = AuditRow(
        "gaps", {"at_wall": WALL, "stream": "executions", "first_missing": 7, "last_missing": 9}
    )
    same_as_today([mapping.gap_row(event)], [today])


def test_a_resync_carries_its_attempt_number() -> None:
    event = ResyncStarted(stream="book", symbol="BTC/USD", reason="checksum", received_at=WALL)
    # live/notify.py announce_resync
    today = AuditRow(
        "resyncs",
        {"at_wall": WALL, "stream": "book", "symbol": "BTC/USD", "reason": "checksum",
         "attempt": 3},
    )  # fmt: skip
    same_as_today([mapping.resync_row(event, 3)], [today])


def test_an_overrun_resync_is_a_first_attempt_of_the_whole_stream() -> None:
    event = ResyncStarted(
        stream="public", symbol=None, reason="overrun: processor fell behind", received_at=WALL
    )
    # live/connection.py _read (no attempt: the column's default)
    today = AuditRow(
        "resyncs",
        {"at_wall": WALL, "stream": "public", "symbol": None,
         "reason": "overrun: processor fell behind"},
    )  # fmt: skip
    same_as_today([mapping.resync_row(event)], [today])


def _order() -> OrderView:
    return OrderView(
        order_id="OABC12-DEF34-GHI567",
        status=OrderStatus.PARTIALLY_FILLED,
        symbol="BTC/USD",
        side="buy",
        order_type="limit",
        order_qty=Decimal("0.50000000"),
        limit_price=Decimal("65000.1"),
        cum_qty=Decimal("0.20000000"),
        cum_cost=Decimal("13000.02"),
        avg_price=Decimal("65000.1"),
        fees=(("USD", Decimal("1.30")),),
        cl_ord_id="my-1",
        order_userref=42,
    )


def test_an_order_update_is_an_order_event_and_the_order_now() -> None:
    order = _order()
    update = OrderUpdate(order=order, exec_type="trade", previous=OrderStatus.NEW, received_at=WALL)
    # live/private.py _audit_order
    today = [
        AuditRow(
            "order_events",
            {"at_wall": WALL, "order_id": order.order_id, "exec_type": "trade",
             "status": order.status, "previous_status": OrderStatus.NEW,
             "cum_qty": order.cum_qty, "avg_price": order.avg_price},
        ),
        AuditRow(
            "orders",
            {"order_id": order.order_id, "symbol": "BTC/USD", "side": "buy",
             "order_type": "limit", "order_qty": order.order_qty,
             "limit_price": order.limit_price, "status": order.status,
             "cum_qty": order.cum_qty, "cum_cost": order.cum_cost,
             "avg_price": order.avg_price, "cl_ord_id": "my-1", "order_userref": 42,
             "updated_wall": WALL},
        ),
    ]  # fmt: skip
    same_as_today(mapping.order_rows(update), today)


def test_an_order_seen_first_has_no_previous_status() -> None:
    order = OrderView(order_id="O1", status=OrderStatus.PENDING_NEW)
    update = OrderUpdate(order=order, exec_type="pending_new", previous=None, received_at=WALL)
    event, now = mapping.order_rows(update)
    assert event.previous_status is None and now.order_qty is None
    _, orders = stored([event, now]).values()
    assert orders == [
        ("O1", None, None, None, None, None, "pending_new", "0", "0", None, None, None, WALL)
    ]


def test_a_fill_is_a_fill_row() -> None:
    fill = FillEvent(
        order_id="O1",
        exec_id="T1",
        symbol="BTC/USD",
        side="sell",
        qty=Decimal("0.00100000"),
        price=Decimal("26599.9"),
        cost=Decimal("26.5999"),
        fees=(("USD", Decimal("0.3458")),),
        liquidity="m",
        trade_id=12345,
        timestamp=datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC),
        received_at=WALL,
    )
    # live/private.py _apply_report
    today = AuditRow(
        "fills",
        {"exec_id": "T1", "order_id": "O1", "symbol": "BTC/USD", "side": "sell",
         "qty": fill.qty, "price": fill.price, "cost": fill.cost, "fees": fill.fees,
         "liquidity": "m", "trade_id": 12345, "at_exchange": fill.timestamp,
         "at_wall": WALL},
    )  # fmt: skip
    same_as_today([mapping.fill_row(fill)], [today])


def test_an_order_anomaly_is_an_anomaly_row() -> None:
    anomaly = OrderAnomaly(
        kind="duplicate_fill", order_id="O1", detail="T1 again", received_at=WALL
    )
    # live/private.py _apply_report and _anomaly
    today = AuditRow(
        "order_anomalies",
        {"at_wall": WALL, "kind": "duplicate_fill", "order_id": "O1", "detail": "T1 again"},
    )
    same_as_today([mapping.anomaly_row(anomaly)], [today])


PAIRS = ("BTC/USD", "ETH/USD", "BTC/EUR")


def test_a_ledger_balance_change_is_the_entry_the_anomaly_the_balance_and_positions() -> None:
    change = BalanceChange(
        asset="BTC",
        balance=Decimal("1.5"),
        earn=Decimal("0.25"),
        amount=Decimal("0.5"),
        fee=Decimal("0.0001"),
        ledger_id="L1",
        ref_id="R1",
        ledger_type="deposit",
        unexplained=Decimal("0.1"),
        received_at=WALL,
    )
    # live/private.py _balances and record_balance
    today = [
        AuditRow(
            "balance_ledger",
            {"at_wall": WALL, "ledger_id": "L1", "ref_id": "R1", "asset": "BTC",
             "ledger_type": "deposit", "amount": change.amount, "fee": change.fee,
             "balance": change.balance},
        ),
        AuditRow(
            "balance_anomalies",
            {"at_wall": WALL, "asset": "BTC", "source": "ledger", "ledger_id": "L1",
             "unexplained": change.unexplained, "balance": change.balance},
        ),
        AuditRow("balances", {"asset": "BTC", "balance": change.balance, "earn": change.earn,
                              "updated_wall": WALL}),
        AuditRow("positions", {"symbol": "BTC/USD", "base_asset": "BTC",
                               "quantity": change.balance, "updated_wall": WALL}),
        AuditRow("positions", {"symbol": "BTC/EUR", "base_asset": "BTC",
                               "quantity": change.balance, "updated_wall": WALL}),
    ]  # fmt: skip
    same_as_today(mapping.balance_rows(change, PAIRS), today)


def test_a_snapshot_balance_change_has_no_ledger_entry_and_its_anomaly_says_snapshot() -> None:
    change = BalanceChange(
        asset="USD", balance=Decimal("90"), unexplained=Decimal("-10"), received_at=WALL
    )
    today = [
        AuditRow(
            "balance_anomalies",
            {"at_wall": WALL, "asset": "USD", "source": "snapshot", "ledger_id": None,
             "unexplained": Decimal("-10"), "balance": Decimal("90")},
        ),
        AuditRow("balances", {"asset": "USD", "balance": Decimal("90"), "earn": Decimal(0),
                              "updated_wall": WALL}),
    ]  # fmt: skip
    same_as_today(mapping.balance_rows(change, PAIRS), today)


def test_a_balance_set_by_reconciliation_is_the_balance_and_its_positions() -> None:
    # live/private.py record_balance, called by reconcile/service.py _adjust
    rows = mapping.holding_rows("ETH", Decimal("2"), Decimal("1"), PAIRS, WALL)
    today = [
        AuditRow("balances", {"asset": "ETH", "balance": Decimal("2"), "earn": Decimal("1"),
                              "updated_wall": WALL}),
        AuditRow("positions", {"symbol": "ETH/USD", "base_asset": "ETH",
                               "quantity": Decimal("2"), "updated_wall": WALL}),
    ]  # fmt: skip
    same_as_today(rows, today)


def test_a_rest_ledger_entry_is_a_ledger_row() -> None:
    record = LedgerRecord(
        ledger_id="L9",
        ref_id="R9",
        time=WALL - 5,
        ledger_type="trade",
        asset="BTC",
        amount=Decimal("-0.1"),
        fee=Decimal("0"),
        balance=Decimal("1.4"),
    )
    # live/private.py backfill
    today = AuditRow(
        "balance_ledger",
        {"at_wall": WALL, "ledger_id": "L9", "ref_id": "R9", "asset": "BTC",
         "ledger_type": "trade", "amount": record.amount, "fee": record.fee,
         "balance": record.balance},
    )  # fmt: skip
    same_as_today([mapping.ledger_row(record, WALL)], [today])


def test_an_alert_is_an_alert_row() -> None:
    alert = Alert(severity=Severity.HIGH, source="marketdata", message="m", received_at=WALL)
    # live/marketdata.py _give_up, reconcile/service.py _alert
    today = AuditRow(
        "alerts",
        {"at_wall": WALL, "severity": Severity.HIGH, "source": "marketdata", "message": "m"},
    )
    same_as_today([mapping.alert_row(alert)], [today])


def test_a_rest_call_is_a_row_in_milliseconds() -> None:
    call = RestCall(
        method="Balance", started=WALL, duration=0.125, outcome="ok", attempt=1, waited=0.5
    )
    # live/engine.py _audit_rest
    today = AuditRow(
        "rest_calls",
        {"at_wall": WALL, "method": "Balance", "duration_ms": 125.0, "outcome": "ok",
         "attempt": 1, "waited_ms": 500.0},
    )  # fmt: skip
    same_as_today([mapping.rest_call_row(call)], [today])


def test_decode_errors_from_a_malformed_frame_a_failed_one_and_a_skipped_entry() -> None:
    malformed = MalformedFrame("Expected `int`, got `str`", "$.data[0].qty", '{"x":' + "1" * 300)
    failure = KeyError("BTC/USD")
    entry = SkippedEntry(
        kind="pair", name="XY/Z", path="$.data.pairs[7]", reason="bad", raw="{...}"
    )
    raw = "f" * 300
    rows = [
        mapping.malformed_row(malformed, "public", WALL),
        mapping.failed_frame_row(failure, raw, "private", WALL),
        mapping.skipped_entry_row(entry, "rest", WALL),
    ]
    # live/notify.py decode_or_audit; live/private.py and marketdata.py process;
    # live/marketdata.py _instrument and live/engine.py load_pairs
    today = [
        AuditRow(
            "decode_errors",
            {"at_wall": WALL, "connection": "public", "path": "$.data[0].qty",
             "reason": "Expected `int`, got `str`", "raw": malformed.raw},
        ),
        AuditRow(
            "decode_errors",
            {"at_wall": WALL, "connection": "private", "path": "$",
             "reason": f"{type(failure).__name__}: {failure}"[:500], "raw": raw[:200]},
        ),
        AuditRow(
            "decode_errors",
            {"at_wall": WALL, "connection": "rest", "path": "$.data.pairs[7]",
             "reason": "pair XY/Z: bad", "raw": "{...}"},
        ),
    ]  # fmt: skip
    same_as_today(rows, today)


def test_event_rows_maps_the_events_that_need_nothing_more() -> None:
    order = OrderUpdate(order=_order(), exec_type="new", previous=None, received_at=WALL)
    change = BalanceChange(asset="BTC", balance=Decimal(1), received_at=WALL)
    gap = GapDetected(stream="balances", first=1, last=1, received_at=WALL)
    assert list(mapping.event_rows(order)) == list(mapping.order_rows(order))
    assert mapping.event_rows(change, PAIRS) == mapping.balance_rows(change, PAIRS)
    assert mapping.event_rows(gap) == (mapping.gap_row(gap),)


def test_event_rows_gives_nothing_for_events_not_audited_on_their_own() -> None:
    trade = TradePrint(symbol="BTC/USD", side="buy", price=Decimal(1), qty=Decimal(1), trade_id=1)
    health = HealthChanged(connection="public", old="healthy", new="degraded")
    assert mapping.event_rows(trade) == () and mapping.event_rows(health) == ()


def test_the_rows_and_the_mapping_never_import_io_or_clocks() -> None:
    from tests.test_package import IO_MODULES, PACKAGE, _imports

    audit = PACKAGE / "audit"
    for path in [audit / "tables.py", *sorted((audit / "mapping").glob("*.py"))]:
        assert not (_imports(path) & IO_MODULES), path
