"""A reconciliation run's events (built by :mod:`galfriday.reconcile.run`) map to exactly the
rows the service wrote by hand before the mapping (see tests/audit/test_mapping.py)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import TypeVar

from galfriday.audit import mapping
from galfriday.audit.rows import AuditRow
from galfriday.events import (
    BalanceAdjusted,
    Discrepancy,
    ReconciliationReport,
    ReviewItem,
    Severity,
)
from galfriday.reconcile import run
from galfriday.reconcile.compare import Correction, Explained, ReconcileResult
from tests.audit.rowcheck import WALL, same_as_today

RUN = "abc123000001"
T = TypeVar("T")


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


def _settled(kind: type[T]) -> list[T]:
    balances = {"BTC": Decimal("1"), "EUR": Decimal("1"), "USD": Decimal("100")}
    events = run.settle(RUN, _result(), balances, set(), WALL).events
    return [e for e in events if isinstance(e, kind)]


def test_a_discrepancy_is_a_discrepancy_of_its_run() -> None:
    [item] = _settled(Discrepancy)
    today = AuditRow(
        "discrepancies",
        {"reconciliation_id": RUN, "kind": "balance_mismatch", "subject": "USD",
         "severity": Severity.HIGH, "internal": "100", "exchange": "90",
         "detail": "ten missing", "at_wall": WALL},
    )  # fmt: skip
    same_as_today(mapping.rows(item), [today])


def test_a_discrepancy_for_review_is_an_open_item_with_a_stable_id() -> None:
    [item] = _settled(ReviewItem)
    today = AuditRow(
        "review_queue",
        {"id": hashlib.sha256(f"{RUN}/balance_mismatch/USD".encode()).hexdigest()[:10],
         "reconciliation_id": RUN, "kind": "balance_mismatch", "subject": "USD",
         "severity": Severity.HIGH, "internal": "100", "exchange": "90", "created_wall": WALL,
         "status": "open"},
    )  # fmt: skip
    same_as_today(mapping.rows(item), [today])


def test_corrections_and_explained_moves_are_adjustments_of_their_run() -> None:
    today = [
        AuditRow(
            "position_adjustments",
            {"reconciliation_id": RUN, "subject": "BTC", "adjustment_type": "explained",
             "old_value": Decimal("1"), "new_value": Decimal("1.5"),
             "reason": "ledger L1, L2 (deposit, trade)", "at_wall": WALL},
        ),
        AuditRow(
            "position_adjustments",
            {"reconciliation_id": RUN, "subject": "EUR", "adjustment_type": "balance",
             "old_value": Decimal("1"), "new_value": Decimal("1.5"), "reason": "small",
             "at_wall": WALL},
        ),
    ]  # fmt: skip
    rows = [row for event in _settled(BalanceAdjusted) for row in mapping.rows(event)]
    same_as_today(rows, today)


def test_a_finished_run_is_a_reconciliation_event_with_its_report_as_json() -> None:
    report = run.report(RUN, "scheduled", _result(), ["Ledgers"], 9, 812.5, WALL)
    assert report.report == (  # the JSON as the service encoded it
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
        {"id": RUN, "at_wall": WALL, "type": "scheduled",
         "status": "discrepancies", "discrepancies": 1, "auto_corrected": 1,
         "manual_review": 1, "explained": 1, "rest_calls": 9, "duration_ms": 812.5,
         "report": report.report},
    )  # fmt: skip
    same_as_today(mapping.rows(report), [today])


def test_a_failed_run_is_a_reconciliation_event_with_its_error_cut_short() -> None:
    report = ReconciliationReport(
        run_id="abc123000002", kind="startup", status="failed", rest_calls=2,
        duration_ms=30.0, error="x" * 600, received_at=WALL,
    )  # fmt: skip
    today = AuditRow(
        "reconciliation_events",
        {"id": "abc123000002", "at_wall": WALL, "type": "startup", "status": "failed",
         "rest_calls": 2, "duration_ms": 30.0, "error": "x" * 500},
    )  # fmt: skip
    same_as_today(mapping.rows(report), [today])


def test_accepting_the_exchanges_balance_is_an_adjustment_of_the_items_run() -> None:
    item = {"id": "r1", "reconciliation_id": RUN, "kind": "balance_mismatch", "subject": "USD",
            "exchange": "90", "decision": "accept-exchange", "note": "checked"}  # fmt: skip
    adjusted = run.decision_adjustment(item, {"USD": Decimal("100")}, WALL + 2)
    assert adjusted is not None
    today = AuditRow(
        "position_adjustments",
        {"reconciliation_id": RUN, "subject": "USD", "adjustment_type": "review",
         "old_value": Decimal("100"), "new_value": Decimal("90"), "reason": "review r1: checked",
         "at_wall": WALL + 2},
    )  # fmt: skip
    same_as_today(mapping.rows(adjusted), [today])
    keep = {**item, "decision": "keep-internal"}
    assert run.decision_adjustment(keep, {"USD": Decimal("100")}, WALL + 2) is None
