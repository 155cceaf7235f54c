"""Reconciliation runs, review items and decisions map to exactly the rows the service and the
gateway wrote by hand before the mapping (see tests/audit/test_mapping.py)."""

from __future__ import annotations

import hashlib
import sqlite3
from decimal import Decimal
from typing import Any

from galfriday.audit import mapping
from galfriday.audit.rows import AuditRow
from galfriday.audit.store import AuditStore
from galfriday.audit.tables import ReviewItemRow
from galfriday.events import Alert, Discrepancy, ReconciliationReport, Severity
from galfriday.reconcile.compare import Correction, Explained, ReconcileResult
from tests.audit.rowcheck import WALL, same_as_today


def _discrepancy() -> Discrepancy:
    return Discrepancy(
        kind="balance_mismatch",
        subject="USD",
        severity=Severity.HIGH,
        internal="100",
        exchange="90",
        detail="ten missing",
        received_at=WALL,
    )


def test_a_discrepancy_is_a_discrepancy_of_its_run() -> None:
    item = _discrepancy()
    # reconcile/service.py _apply
    today = AuditRow(
        "discrepancies",
        {"reconciliation_id": "abc123000001", "kind": "balance_mismatch", "subject": "USD",
         "severity": Severity.HIGH, "internal": "100", "exchange": "90",
         "detail": "ten missing", "at_wall": WALL},
    )  # fmt: skip
    same_as_today([mapping.discrepancy_row(item, "abc123000001")], [today])


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def test_a_discrepancy_for_review_is_an_open_item_with_a_stable_id() -> None:
    item = _discrepancy()
    # reconcile/service.py _apply (the id: _review_id)
    today = AuditRow(
        "review_queue",
        {"id": _sha("abc123000001/balance_mismatch/USD"), "reconciliation_id": "abc123000001",
         "kind": "balance_mismatch", "subject": "USD", "severity": Severity.HIGH,
         "internal": "100", "exchange": "90", "created_wall": WALL, "status": "open"},
    )  # fmt: skip
    same_as_today([mapping.review_row(item, "abc123000001")], [today])


def _result() -> ReconcileResult:
    item = _discrepancy()
    return ReconcileResult(
        discrepancies=(item,),
        explained=(
            Explained(
                asset="BTC", delta=Decimal("0.5"), ledger_ids=("L1", "L2"),
                kinds=("deposit", "trade"),
            ),
        ),
        corrections=(
            Correction(
                kind="balance", subject="EUR", old=Decimal("1"), new=Decimal("1.5"),
                reason="small",
            ),
        ),
        review=(item,),
        deferred=("ETH",),
    )  # fmt: skip


def test_a_finished_run_is_a_reconciliation_event_with_its_report_as_json() -> None:
    report = ReconciliationReport(
        run_id="abc123000001",
        kind="scheduled",
        status="discrepancies",
        discrepancies=1,
        corrected=1,
        review=1,
        explained=1,
        received_at=WALL,
    )
    details = mapping.run_details(_result(), ["Ledgers"])
    # reconcile/service.py _record (the JSON as it encodes it)
    assert details == (
        '{"discrepancies":[{"received_at":1767225600.25,"kind":"balance_mismatch",'
        '"subject":"USD","severity":"high","internal":"100","exchange":"90",'
        '"detail":"ten missing"}],"explained":[{"asset":"BTC","delta":"0.5",'
        '"ledger_ids":["L1","L2"],"kinds":["deposit","trade"]}],"corrections":[{"kind":'
        '"balance","subject":"EUR","old":"1","new":"1.5","reason":"small"}],"by_severity":'
        '{"low":0,"medium":0,"high":1,"critical":0},"deferred":["ETH"],'
        '"not_covered":["Ledgers"]}'
    )
    today = AuditRow(
        "reconciliation_events",
        {"id": "abc123000001", "at_wall": WALL, "type": "scheduled",
         "status": "discrepancies", "discrepancies": 1, "auto_corrected": 1,
         "manual_review": 1, "explained": 1, "rest_calls": 9, "duration_ms": 812.5,
         "report": details},
    )  # fmt: skip
    row = mapping.reconciliation_row(report, rest_calls=9, duration_ms=812.5, details=details)
    same_as_today([row], [today])


def test_a_failed_run_is_a_reconciliation_event_with_its_error() -> None:
    report = ReconciliationReport(
        run_id="abc123000002", kind="startup", status="failed", received_at=WALL
    )
    # reconcile/service.py _failed
    today = AuditRow(
        "reconciliation_events",
        {"id": "abc123000002", "at_wall": WALL, "type": "startup", "status": "failed",
         "rest_calls": 2, "duration_ms": 30.0, "error": "x" * 500},
    )  # fmt: skip
    row = mapping.reconciliation_row(report, rest_calls=2, duration_ms=30.0, error="x" * 600)
    same_as_today([row], [today])


def test_corrections_and_explained_moves_are_adjustments_of_their_run() -> None:
    result = _result()
    # reconcile/service.py _apply -> _adjust
    today = [
        AuditRow(
            "position_adjustments",
            {"reconciliation_id": "run1", "subject": "BTC", "adjustment_type": "explained",
             "old_value": Decimal("1"), "new_value": Decimal("1.5"),
             "reason": "ledger L1, L2 (deposit, trade)", "at_wall": WALL},
        ),
        AuditRow(
            "position_adjustments",
            {"reconciliation_id": "run1", "subject": "EUR", "adjustment_type": "balance",
             "old_value": Decimal("1"), "new_value": Decimal("1.5"), "reason": "small",
             "at_wall": WALL},
        ),
    ]  # fmt: skip
    rows = [
        mapping.explained_row(result.explained[0], Decimal("1"), "run1", WALL),
        mapping.correction_row(result.corrections[0], "run1", WALL),
    ]
    same_as_today(rows, today)


def _resolved_item(decision: str) -> dict[str, Any]:
    """A review item as ``SELECT *`` gives it after ``galfriday review resolve``."""
    store = AuditStore(":memory:")
    store.write([mapping.review_row(_discrepancy(), "run1")])
    store.db.execute(
        "UPDATE review_queue SET status = 'resolved', decision = ?, note = 'checked',"
        " resolved_wall = ?",
        [decision, WALL + 1],
    )
    store.db.conn.row_factory = sqlite3.Row
    return dict(store.db.execute("SELECT * FROM review_queue").fetchone())


def test_accepting_the_exchanges_balance_is_an_adjustment_and_the_item_applied() -> None:
    item = _resolved_item("accept-exchange")
    # reconcile/service.py _apply_decision
    today = [
        AuditRow(
            "position_adjustments",
            {"reconciliation_id": "run1", "subject": "USD", "adjustment_type": "review",
             "old_value": Decimal("100"), "new_value": Decimal("90"),
             "reason": f"review {item['id']}: checked", "at_wall": WALL + 2},
        ),
        AuditRow("review_queue", {**item, "status": "applied", "applied_wall": WALL + 2}),
    ]  # fmt: skip
    rows = mapping.decision_rows(item, Decimal("100"), WALL + 2)
    same_as_today(rows, today)
    applied = rows[-1]
    assert isinstance(applied, ReviewItemRow) and applied.severity is Severity.HIGH


def test_keeping_our_figure_only_marks_the_item_applied() -> None:
    item = _resolved_item("keep-internal")
    today = [AuditRow("review_queue", {**item, "status": "applied", "applied_wall": WALL + 2})]
    same_as_today(mapping.decision_rows(item, Decimal("100"), WALL + 2), today)


def test_an_order_without_an_answer_is_an_anomaly_an_alert_and_a_review_item() -> None:
    alert = Alert(severity=Severity.CRITICAL, source="gateway", message="m", received_at=WALL)
    rows = mapping.outcome_unknown_rows(alert, "cl-7", "buy 0.1 BTC/USD limit @ 5", "timeout")
    # live/gateway.py _record_unknown
    today = [
        AuditRow(
            "order_anomalies",
            {"at_wall": WALL, "kind": "order_outcome_unknown", "order_id": None,
             "detail": "cl_ord_id cl-7: timeout"},
        ),
        AuditRow(
            "alerts",
            {"at_wall": WALL, "severity": Severity.CRITICAL, "source": "gateway",
             "message": "m"},
        ),
        AuditRow(
            "review_queue",
            {"id": _sha("gateway/cl-7"), "reconciliation_id": "gateway",
             "kind": "order_outcome_unknown", "subject": "cl-7",
             "severity": Severity.CRITICAL, "internal": "buy 0.1 BTC/USD limit @ 5",
             "exchange": None, "created_wall": WALL, "status": "open"},
        ),
    ]  # fmt: skip
    same_as_today(rows, today)
