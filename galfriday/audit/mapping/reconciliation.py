"""The rows of reconciliation runs and of the review queue (a person's decisions, and the
order the gateway could not settle).

Pure: events (and what a row needs beyond its event, passed explicitly) in, typed rows out.
See :mod:`galfriday.audit.mapping` for the rules and the map of events to functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import msgspec

from galfriday.audit.mapping.streams import REASON_CHARS, alert_row
from galfriday.audit.tables import (
    AlertRow,
    DiscrepancyRow,
    OrderAnomalyRow,
    PositionAdjustmentRow,
    ReconciliationEventRow,
    ReviewItemRow,
)
from galfriday.events import Alert, Discrepancy, ReconciliationReport, Severity

if TYPE_CHECKING:
    from galfriday.reconcile.compare import Correction, Explained, ReconcileResult

__all__ = [
    "BALANCE_DECISIONS",
    "applied_review_row",
    "correction_row",
    "decision_rows",
    "discrepancy_row",
    "explained_row",
    "outcome_unknown_rows",
    "reconciliation_row",
    "review_id",
    "review_row",
    "run_details",
]

# Review kinds whose "accept-exchange" decision sets the balance to the exchange's figure.
BALANCE_DECISIONS: Final = frozenset(
    {
        "balance_mismatch",
        "quantity_mismatch",
        "position_missing_internally",
        "position_missing_exchange",
    }
)
_JSON: Final = msgspec.json.Encoder(decimal_format="string")


def discrepancy_row(item: Discrepancy, run_id: str) -> DiscrepancyRow:
    """A difference found by run ``run_id``."""
    return DiscrepancyRow(
        reconciliation_id=run_id,
        kind=item.kind,
        subject=item.subject,
        severity=item.severity,
        internal=item.internal,
        exchange=item.exchange,
        detail=item.detail,
        at_wall=item.received_at,
    )


def review_id(run_id: str, kind: str, subject: str) -> str:
    """A review item's id: short, and the same when a capture of the run is replayed."""
    return _digest(f"{run_id}/{kind}/{subject}")


def review_row(item: Discrepancy, run_id: str) -> ReviewItemRow:
    """A difference run ``run_id`` leaves to a person, queued open."""
    return ReviewItemRow(
        id=review_id(run_id, item.kind, item.subject),
        reconciliation_id=run_id,
        kind=item.kind,
        subject=item.subject,
        severity=item.severity,
        internal=item.internal,
        exchange=item.exchange,
        created_wall=item.received_at,
    )


def correction_row(correction: Correction, run_id: str, wall: float) -> PositionAdjustmentRow:
    """A balance or position run ``run_id`` set (then :func:`holding_rows` of the new one)."""
    return PositionAdjustmentRow(
        reconciliation_id=run_id,
        subject=correction.subject,
        adjustment_type=correction.kind,
        old_value=correction.old,
        new_value=correction.new,
        reason=correction.reason,
        at_wall=wall,
    )


def explained_row(
    explained: Explained, old: Decimal, run_id: str, wall: float
) -> PositionAdjustmentRow:
    """A balance moved by ledger entries the stream missed: from ``old`` by their delta."""
    return PositionAdjustmentRow(
        reconciliation_id=run_id,
        subject=explained.asset,
        adjustment_type="explained",
        old_value=old,
        new_value=old + explained.delta,
        reason=f"ledger {', '.join(explained.ledger_ids)} ({', '.join(explained.kinds)})",
        at_wall=wall,
    )


def decision_rows(
    item: Mapping[str, Any], old: Decimal, wall: float
) -> list[PositionAdjustmentRow | ReviewItemRow]:
    """A person's decision on a review item (its ``review_queue`` row as a mapping) applied:
    the adjustment, if it sets a balance (``old``: the balance now; the caller then records
    :func:`holding_rows` of the exchange's figure), and the item marked ``applied``."""
    rows: list[PositionAdjustmentRow | ReviewItemRow] = []
    if item["decision"] == "accept-exchange" and item["kind"] in BALANCE_DECISIONS:
        rows.append(
            PositionAdjustmentRow(
                reconciliation_id=str(item["reconciliation_id"]),
                subject=str(item["subject"]),
                adjustment_type="review",
                old_value=old,
                new_value=Decimal(str(item["exchange"])),
                reason=f"review {item['id']}: {item.get('note') or ''}",
                at_wall=wall,
            )
        )
    rows.append(applied_review_row(item, wall))
    return rows


def applied_review_row(item: Mapping[str, Any], wall: float) -> ReviewItemRow:
    """The review item (its ``review_queue`` row as a mapping) marked ``applied`` at ``wall``.

    Raises:
        msgspec.ValidationError: the mapping is not a review item.
    """
    return msgspec.convert(
        {**item, "status": "applied", "applied_wall": wall}, ReviewItemRow, strict=False
    )


def reconciliation_row(
    report: ReconciliationReport,
    *,
    rest_calls: int,
    duration_ms: float,
    details: str = "{}",
    error: str | None = None,
) -> ReconciliationEventRow:
    """One run: its counts, the REST calls and time it took, ``details`` (JSON,
    :func:`run_details`) and, for a failed run, the ``error``."""
    return ReconciliationEventRow(
        id=report.run_id,
        at_wall=report.received_at,
        type=report.kind,
        status=report.status,
        discrepancies=report.discrepancies,
        auto_corrected=report.corrected,
        manual_review=report.review,
        explained=report.explained,
        rest_calls=rest_calls,
        duration_ms=duration_ms,
        error=None if error is None else error[:REASON_CHARS],
        report=details,
    )


def run_details(result: ReconcileResult, not_covered: Sequence[str]) -> str:
    """A run's full report as JSON: what it found, explained and corrected, by severity,
    what it deferred, and the history windows not read to their end (``not_covered``:
    what lies in them beyond the pages read was not compared)."""
    return _JSON.encode(
        {
            "discrepancies": [msgspec.to_builtins(d) for d in result.discrepancies],
            "explained": [msgspec.to_builtins(e) for e in result.explained],
            "corrections": [msgspec.to_builtins(c) for c in result.corrections],
            "by_severity": {s.value: result.count(s) for s in Severity},
            "deferred": list(result.deferred),
            "not_covered": list(not_covered),
        }
    ).decode()


def outcome_unknown_rows(
    alert: Alert, cl_ord_id: str, described: str, reason: str
) -> tuple[OrderAnomalyRow, AlertRow, ReviewItemRow]:
    """An order sent without an answer and not found: the anomaly, the ``alert`` raised, and
    a review item (``described``: side, quantity, pair, type and price, as a person reads it).
    """
    wall = alert.received_at
    anomaly = OrderAnomalyRow(
        at_wall=wall,
        kind="order_outcome_unknown",
        order_id=None,
        detail=f"cl_ord_id {cl_ord_id}: {reason}"[:REASON_CHARS],
    )
    review = ReviewItemRow(
        id=_digest(f"gateway/{cl_ord_id}"),
        reconciliation_id="gateway",
        kind="order_outcome_unknown",
        subject=cl_ord_id,
        severity=Severity.CRITICAL,
        internal=described,
        exchange=None,
        created_wall=wall,
    )
    return anomaly, alert_row(alert), review


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]
