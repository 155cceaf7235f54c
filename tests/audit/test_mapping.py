"""Each audited event maps to exactly the rows the engine wrote for it by hand before the
mapping (the expected rows, stored through the loose keyword path, must store identically).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from galfriday.audit import mapping
from galfriday.audit.rows import AuditRow
from galfriday.events import (
    Alert,
    BalanceAdjusted,
    BalanceChange,
    BalanceRecorded,
    BookChecks,
    ConnectionState,
    ConnectionStateChanged,
    Discrepancy,
    FillEvent,
    FrameRefused,
    GapDetected,
    HealthChanged,
    LedgerEntryLearnt,
    OrderAnomaly,
    OrderStatus,
    OrderUpdate,
    OrderView,
    PnlUpdate,
    ReconciliationReport,
    ResyncStarted,
    ReviewItem,
    Severity,
    TradePrint,
)
from galfriday.kraken.rest import RestCall
from tests.audit.rowcheck import WALL, same_as_today, stored


def test_a_connection_state_change_is_a_connection_event() -> None:
    event = ConnectionStateChanged(
        connection="private",
        old=ConnectionState.CONNECTED,
        new=ConnectionState.AUTHENTICATED,
        reason="token ok",
        received_at=WALL,
    )
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
    same_as_today(mapping.rows(event), [today])


def test_a_gap_is_a_gap_row() -> None:
    event = GapDetected(stream="executions", first=7, last=9, received_at=WALL)
    today = AuditRow(
        "gaps", {"at_wall": WALL, "stream": "executions", "first_missing": 7, "last_missing": 9}
    )
    same_as_today(mapping.rows(event), [today])


def test_a_resync_carries_its_attempt_number() -> None:
    event = ResyncStarted(
        stream="book", symbol="BTC/USD", reason="checksum", attempt=3, received_at=WALL
    )
    today = AuditRow(
        "resyncs",
        {"at_wall": WALL, "stream": "book", "symbol": "BTC/USD", "reason": "checksum",
         "attempt": 3},
    )  # fmt: skip
    same_as_today(mapping.rows(event), [today])


def test_an_overrun_resync_is_a_first_attempt_of_the_whole_stream() -> None:
    event = ResyncStarted(
        stream="public", symbol=None, reason="overrun: processor fell behind", received_at=WALL
    )
    today = AuditRow(
        "resyncs",
        {"at_wall": WALL, "stream": "public", "symbol": None,
         "reason": "overrun: processor fell behind"},
    )  # fmt: skip
    same_as_today(mapping.rows(event), [today])


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
    same_as_today(mapping.rows(update), today)


def test_an_order_seen_first_has_no_previous_status() -> None:
    order = OrderView(order_id="O1", status=OrderStatus.PENDING_NEW)
    update = OrderUpdate(order=order, exec_type="pending_new", previous=None, received_at=WALL)
    event, now = mapping.rows(update)
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
    today = AuditRow(
        "fills",
        {"exec_id": "T1", "order_id": "O1", "symbol": "BTC/USD", "side": "sell",
         "qty": fill.qty, "price": fill.price, "cost": fill.cost, "fees": fill.fees,
         "liquidity": "m", "trade_id": 12345, "at_exchange": fill.timestamp,
         "at_wall": WALL},
    )  # fmt: skip
    same_as_today(mapping.rows(fill), [today])


def test_an_order_anomaly_is_an_anomaly_row() -> None:
    anomaly = OrderAnomaly(
        kind="duplicate_fill", order_id="O1", detail="T1 again", received_at=WALL
    )
    today = AuditRow(
        "order_anomalies",
        {"at_wall": WALL, "kind": "duplicate_fill", "order_id": "O1", "detail": "T1 again"},
    )
    same_as_today(mapping.rows(anomaly), [today])


PAIRS = ("BTC/USD", "ETH/USD", "BTC/EUR")


def test_a_ledger_balance_change_is_the_entry_and_the_anomaly() -> None:
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
    ]  # fmt: skip
    same_as_today(mapping.rows(change), today)  # the balance itself: BalanceRecorded


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
    ]  # fmt: skip
    same_as_today(mapping.rows(change), today)


def test_a_balance_recorded_is_the_balance_and_the_positions_of_its_pairs() -> None:
    recorded = BalanceRecorded(
        asset="ETH", balance=Decimal("2"), earn=Decimal("1"), symbols=("ETH/USD",),
        received_at=WALL,
    )  # fmt: skip
    rows = mapping.rows(recorded)
    today = [
        AuditRow("balances", {"asset": "ETH", "balance": Decimal("2"), "earn": Decimal("1"),
                              "updated_wall": WALL}),
        AuditRow("positions", {"symbol": "ETH/USD", "base_asset": "ETH",
                               "quantity": Decimal("2"), "updated_wall": WALL}),
    ]  # fmt: skip
    same_as_today(rows, today)


def test_a_rest_ledger_entry_is_a_ledger_row() -> None:
    record = LedgerEntryLearnt(
        ledger_id="L9",
        ref_id="R9",
        ledger_type="trade",
        asset="BTC",
        amount=Decimal("-0.1"),
        fee=Decimal("0"),
        balance=Decimal("1.4"),
        received_at=WALL,
    )
    today = AuditRow(
        "balance_ledger",
        {"at_wall": WALL, "ledger_id": "L9", "ref_id": "R9", "asset": "BTC",
         "ledger_type": "trade", "amount": record.amount, "fee": record.fee,
         "balance": record.balance},
    )  # fmt: skip
    same_as_today(mapping.rows(record), [today])


def _pnl(realised: str, at: float = WALL) -> PnlUpdate:
    return PnlUpdate(
        symbol="BTC/USD",
        exec_id="T1",
        position=Decimal("0.5"),
        average_cost=Decimal("65000.1"),
        realised=Decimal(realised),
        fees=Decimal("1.30"),
        other_fees=(("KFEE", Decimal("12.5")),),
        mark=Decimal("65010"),
        unrealised=Decimal("-4.95"),
        received_at=at,
    )


def test_a_pnl_update_is_the_symbols_pnl_now() -> None:
    today = AuditRow(
        "pnl",
        {"symbol": "BTC/USD", "position": Decimal("0.5"), "average_cost": Decimal("65000.1"),
         "realised": Decimal("12.5"), "fees": Decimal("1.30"),
         "other_fees": (("KFEE", Decimal("12.5")),), "mark": Decimal("65010"),
         "unrealised": Decimal("-4.95"), "updated_wall": WALL},
    )  # fmt: skip
    same_as_today(mapping.rows(_pnl("12.5")), [today])
    assert stored(mapping.rows(_pnl("12.5")))["pnl"] == [
        ("BTC/USD", "0.5", "65000.1", "12.5", "1.30", '[["KFEE","12.5"]]', "65010", "-4.95", WALL)
    ]


def test_a_later_pnl_update_replaces_the_symbols_row() -> None:
    rows = [*mapping.rows(_pnl("1")), *mapping.rows(_pnl("2", WALL + 1))]
    assert stored(rows)["pnl"] == [
        ("BTC/USD", "0.5", "65000.1", "2", "1.30", '[["KFEE","12.5"]]', "65010", "-4.95", WALL + 1)
    ]


def test_an_alert_is_an_alert_row() -> None:
    alert = Alert(severity=Severity.HIGH, source="marketdata", message="m", received_at=WALL)
    today = AuditRow(
        "alerts",
        {"at_wall": WALL, "severity": Severity.HIGH, "source": "marketdata", "message": "m"},
    )
    same_as_today(mapping.rows(alert), [today])


def test_a_rest_call_is_a_row_in_milliseconds() -> None:
    call = RestCall(
        method="Balance", started=WALL, duration=0.125, outcome="ok", attempt=1, waited=0.5
    )
    today = AuditRow(
        "rest_calls",
        {"at_wall": WALL, "method": "Balance", "duration_ms": 125.0, "outcome": "ok",
         "attempt": 1, "waited_ms": 500.0},
    )  # fmt: skip
    same_as_today([mapping.rest_call_row(call)], [today])


def test_a_refused_frame_is_a_decode_error() -> None:
    refused = FrameRefused(
        connection="public", path="$.data[0].qty", reason="Expected `int`, got `str`",
        raw="{...}", received_at=WALL,
    )  # fmt: skip
    today = AuditRow(
        "decode_errors",
        {"at_wall": WALL, "connection": "public", "path": "$.data[0].qty",
         "reason": "Expected `int`, got `str`", "raw": "{...}"},
    )  # fmt: skip
    same_as_today(mapping.rows(refused), [today])


def test_book_checks_are_a_book_check_row() -> None:
    checks = BookChecks(symbol="BTC/USD", verified=90, mismatched=1, unverified=2, received_at=WALL)
    today = AuditRow(
        "book_checks",
        {"at_wall": WALL, "symbol": "BTC/USD", "verified": 90, "mismatched": 1, "unverified": 2},
    )
    same_as_today(mapping.rows(checks), [today])


def test_events_that_are_no_audit_facts_have_no_rows() -> None:
    trade = TradePrint(symbol="BTC/USD", side="buy", price=Decimal(1), qty=Decimal(1), trade_id=1)
    health = HealthChanged(connection="public", old="healthy", new="degraded")
    assert mapping.rows(trade) == () and mapping.rows(health) == ()
    assert TradePrint not in mapping.AUDITED and OrderUpdate in mapping.AUDITED


def test_every_table_but_the_counters_is_filled_from_some_event() -> None:
    # REST calls and health snapshots come from counters, not events (built where they are).
    from galfriday.audit.tables import TABLES

    events = [
        ConnectionStateChanged(connection="public", old=ConnectionState.CONNECTED,
                               new=ConnectionState.SUBSCRIBED, reason="", received_at=WALL),
        GapDetected(stream="balances", first=1, last=2, received_at=WALL),
        ResyncStarted(stream="book", symbol="BTC/USD", reason="x", received_at=WALL),
        FrameRefused(connection="rest", path="$", reason="x", raw="", received_at=WALL),
        BookChecks(symbol="BTC/USD", verified=1, mismatched=0, unverified=0, received_at=WALL),
        OrderUpdate(order=_order(), exec_type="new", previous=None, received_at=WALL),
        FillEvent(exec_id="E", order_id="O", symbol="BTC/USD", side="buy", qty=Decimal(1),
                  price=Decimal(1), cost=Decimal(1), fees=(), liquidity="m", received_at=WALL),
        OrderAnomaly(kind="k", order_id=None, detail="d", received_at=WALL),
        BalanceChange(asset="BTC", balance=Decimal(1), ledger_id="L", unexplained=Decimal(1),
                      received_at=WALL),
        BalanceRecorded(asset="BTC", balance=Decimal(1), symbols=("BTC/USD",), received_at=WALL),
        Alert(severity=Severity.LOW, source="s", message="m", received_at=WALL),
        Discrepancy(kind="k", subject="s", severity=Severity.LOW, internal=None, exchange=None,
                    run_id="r", received_at=WALL),
        BalanceAdjusted(run_id="r", subject="USD", kind="balance", old=Decimal(1), new=Decimal(2),
                        reason="x", received_at=WALL),
        ReviewItem(item_id="i", run_id="r", kind="k", subject="s", severity=Severity.LOW,
                   internal=None, exchange=None, created_at=WALL, received_at=WALL),
        ReconciliationReport(run_id="r", kind="manual", status="clean", received_at=WALL),
        PnlUpdate(symbol="BTC/USD", exec_id="E", position=Decimal(1), average_cost=Decimal(1),
                  realised=Decimal(0), fees=Decimal(0), received_at=WALL),
    ]  # fmt: skip
    filled = {row.__table__ for event in events for row in mapping.rows(event)}
    assert set(TABLES) - filled == {"rest_calls", "health_snapshots"}
    stored([row for event in events for row in mapping.rows(event)])  # and all of them store


def test_the_rows_and_the_mapping_never_import_io_or_clocks() -> None:
    from tests.test_package import IO_MODULES, PACKAGE, _imports

    audit = PACKAGE / "audit"
    for path in [audit / "tables.py", *sorted((audit / "mapping").glob("*.py"))]:
        assert not (_imports(path) & IO_MODULES), path
