"""The engine's own reads of the review queue, and what status reads of an engine."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from galfriday.audit import queries
from galfriday.audit.store import AuditStore
from galfriday.audit.tables import PnlRow, ReviewItemRow
from galfriday.events import Severity


def _item(item_id: str, kind: str, subject: str, status: str = "open") -> ReviewItemRow:
    return ReviewItemRow(
        id=item_id,
        reconciliation_id="run1",
        kind=kind,
        subject=subject,
        severity=Severity.HIGH,
        internal="1",
        exchange="2",
        created_wall=10.0,
        status=status,
    )


def test_open_review_keys_are_the_kind_and_subject_of_open_items_sorted() -> None:
    store = AuditStore(":memory:")
    store.write(
        [
            _item("a", "balance_mismatch", "USD"),
            _item("b", "balance_mismatch", "BTC"),
            _item("c", "order_missing", "O1", status="resolved"),
            _item("d", "fill_missing", "T1", status="applied"),
        ]
    )
    assert queries.open_review_keys(store) == [
        ["balance_mismatch", "BTC"],
        ["balance_mismatch", "USD"],
    ]


def test_resolved_rows_are_whole_rows_of_resolved_items_only() -> None:
    store = AuditStore(":memory:")
    store.write([_item("a", "balance_mismatch", "USD"), _item("b", "k", "s", "applied")])
    store.db.execute(
        "UPDATE review_queue SET status = 'resolved', decision = 'keep-internal',"
        " note = 'fine', resolved_wall = 11.0 WHERE id = 'a'"
    )
    [row] = queries.resolved_rows(store)
    assert row == {
        "id": "a",
        "reconciliation_id": "run1",
        "kind": "balance_mismatch",
        "subject": "USD",
        "severity": "high",
        "internal": "1",
        "exchange": "2",
        "created_wall": 10.0,
        "status": "resolved",
        "decision": "keep-internal",
        "note": "fine",
        "resolved_wall": 11.0,
        "applied_wall": None,
    }


def test_an_empty_database_has_no_state_to_report(tmp_path: Path) -> None:
    AuditStore(tmp_path / "g.db").close()
    conn = queries.open_database(tmp_path / "g.db")
    try:
        state = queries.engine_state(conn)
    finally:
        conn.close()
    assert state == {
        "last_seen": None,
        "connections": {},
        "books": [],
        "last_reconciliation": None,
        "open_review_items": 0,
        "open_orders": 0,
    }


def _pnl_database(path: Path) -> None:
    store = AuditStore(path)
    store.write(
        [
            PnlRow(symbol=symbol, position=Decimal(1), average_cost=Decimal(100),
                   realised=Decimal(5), fees=Decimal("0.2"), updated_wall=at)
            for symbol, at in (("XBT/EUR", 2.0), ("BTC/USD", 1.0), ("BTC/USD", 3.0))
        ]
    )  # fmt: skip
    store.close()


def test_pnl_rows_are_each_symbols_last_row_sorted_by_symbol(tmp_path: Path) -> None:
    _pnl_database(tmp_path / "g.db")
    conn = queries.open_database(tmp_path / "g.db")
    try:
        rows = queries.pnl_rows(conn)
    finally:
        conn.close()
    assert [(r["symbol"], r["updated_wall"]) for r in rows] == [("BTC/USD", 3.0), ("XBT/EUR", 2.0)]
    assert rows[0]["realised"] == "5" and rows[0]["unrealised"] is None


def test_a_database_without_the_pnl_table_has_no_pnl_rows(tmp_path: Path) -> None:
    _pnl_database(tmp_path / "g.db")
    with sqlite3.connect(tmp_path / "g.db") as raw:
        raw.execute("DROP VIEW v_pnl")
        raw.execute("DROP TABLE pnl")
    raw.close()
    conn = queries.open_database(tmp_path / "g.db")
    try:
        assert queries.pnl_rows(conn) == []
    finally:
        conn.close()
