"""Which audit rows each engine event is recorded as: the one place that decides it.

Rules:
- Pure functions: an event (and, where the event does not carry it, the little more a row
  needs, passed explicitly) in, typed rows (:mod:`galfriday.audit.tables`) out. No I/O, no
  clock: a row's time is its event's ``received_at`` (or the ``wall`` passed in).
- Every producer hands what these return to the audit writer
  (:meth:`~galfriday.audit.writer.AuditWriter.write_row`); none builds rows of its own.
- :func:`event_rows` maps the events whose rows need nothing beyond the event (and the
  followed pairs, for balances); the other functions say in their signature what they need.

By event:

==========================  ==========================================================
``ConnectionStateChanged``  :func:`connection_row`
``GapDetected``             :func:`gap_row`
``ResyncStarted``           :func:`resync_row` (with the attempt number)
``OrderUpdate``             :func:`order_rows`: the order event and the order now
``FillEvent``               :func:`fill_row`
``OrderAnomaly``            :func:`anomaly_row`
``BalanceChange``           :func:`balance_rows` (with the followed pairs): the ledger
                            entry, an unexplained move, the balance, the positions
``Alert``                   :func:`alert_row`
``Discrepancy``             :func:`discrepancy_row`, :func:`review_row` (with the run id)
``ReconciliationReport``    :func:`reconciliation_row` (with calls, duration, details)
==========================  ==========================================================

Rows that come from no event: :func:`holding_rows` (a balance set outside the stream),
:func:`ledger_row` (a REST ledger entry), :func:`correction_row`, :func:`explained_row` and
the review decision's :func:`decision_rows`, :func:`outcome_unknown_rows` (an order sent
without an answer), :func:`rest_call_row`, and the ``decode_errors`` rows
(:func:`malformed_row`, :func:`failed_frame_row`, :func:`skipped_entry_row`). Health
snapshots and book checks are counters, built as their structs directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import msgspec

from galfriday.audit.tables import (
    AlertRow,
    BalanceAnomalyRow,
    BalanceLedgerRow,
    BalanceRow,
    ConnectionEventRow,
    DecodeErrorRow,
    DiscrepancyRow,
    FillRow,
    GapRow,
    OrderAnomalyRow,
    OrderEventRow,
    OrderRow,
    PositionAdjustmentRow,
    PositionRow,
    ReconciliationEventRow,
    RestCallRow,
    ResyncRow,
    ReviewItemRow,
    Row,
)
from galfriday.events import (
    Alert,
    BalanceChange,
    ConnectionStateChanged,
    Discrepancy,
    Event,
    FillEvent,
    GapDetected,
    OrderAnomaly,
    OrderUpdate,
    ReconciliationReport,
    ResyncStarted,
    Severity,
)

if TYPE_CHECKING:
    from galfriday.errors import MalformedFrame
    from galfriday.kraken.convert import LedgerRecord
    from galfriday.kraken.rest import RestCall
    from galfriday.kraken.wire import SkippedEntry
    from galfriday.reconcile.compare import Correction, Explained, ReconcileResult

__all__ = [
    "alert_row",
    "anomaly_row",
    "applied_review_row",
    "balance_rows",
    "connection_row",
    "correction_row",
    "decision_rows",
    "discrepancy_row",
    "event_rows",
    "explained_row",
    "failed_frame_row",
    "fill_row",
    "gap_row",
    "holding_rows",
    "ledger_row",
    "malformed_row",
    "order_rows",
    "outcome_unknown_rows",
    "reconciliation_row",
    "rest_call_row",
    "resync_row",
    "review_id",
    "review_row",
    "run_details",
    "skipped_entry_row",
]

ZERO: Final = Decimal(0)
REASON_CHARS: Final = 500  # a decode error's or an anomaly's reason is cut to this
RAW_CHARS: Final = 200  # a frame's copy in decode_errors
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


# --- connections and integrity -------------------------------------------------------------


def connection_row(event: ConnectionStateChanged) -> ConnectionEventRow:
    """A connection's state change."""
    return ConnectionEventRow(
        at_wall=event.received_at,
        connection=event.connection,
        old_state=event.old,
        new_state=event.new,
        reason=event.reason,
    )


def gap_row(event: GapDetected) -> GapRow:
    """Sequence numbers that never arrived."""
    return GapRow(
        at_wall=event.received_at,
        stream=event.stream,
        first_missing=event.first,
        last_missing=event.last,
    )


def resync_row(event: ResyncStarted, attempt: int = 1) -> ResyncRow:
    """A resync; ``attempt``: how many times this stream (or book) has been rebuilt in a row
    (a book's failed resyncs, the private stream's recoveries; 1 for an overrun)."""
    return ResyncRow(
        at_wall=event.received_at,
        stream=event.stream,
        symbol=event.symbol,
        reason=event.reason,
        attempt=attempt,
    )


def malformed_row(error: MalformedFrame, connection: str, wall: float) -> DecodeErrorRow:
    """A frame that did not decode: where, why, and its first characters."""
    return DecodeErrorRow(
        at_wall=wall, connection=connection, path=error.path, reason=error.reason, raw=error.raw
    )


def failed_frame_row(error: Exception, raw: str, connection: str, wall: float) -> DecodeErrorRow:
    """A frame that decoded but broke something of ours while it was applied."""
    return DecodeErrorRow(
        at_wall=wall,
        connection=connection,
        path="$",
        reason=f"{type(error).__name__}: {error}"[:REASON_CHARS],
        raw=raw[:RAW_CHARS],
    )


def skipped_entry_row(entry: SkippedEntry, connection: str, wall: float) -> DecodeErrorRow:
    """An asset or pair left out of ``instrument`` (``connection``: its socket) or of REST
    ``AssetPairs``/``Assets`` (``connection`` ``"rest"``) because it did not decode."""
    return DecodeErrorRow(
        at_wall=wall,
        connection=connection,
        path=entry.path,
        reason=f"{entry.kind} {entry.name}: {entry.reason}",
        raw=entry.raw,
    )


def rest_call_row(call: RestCall) -> RestCallRow:
    """One REST call, its times in milliseconds."""
    return RestCallRow(
        at_wall=call.started,
        method=call.method,
        duration_ms=call.duration * 1000,
        outcome=call.outcome,
        attempt=call.attempt,
        waited_ms=call.waited * 1000,
    )


# --- orders, fills, balances -----------------------------------------------------------------


def order_rows(update: OrderUpdate) -> tuple[OrderEventRow, OrderRow]:
    """The order's move (``order_events``) and the order as it is now (``orders``)."""
    order, wall = update.order, update.received_at
    event = OrderEventRow(
        at_wall=wall,
        order_id=order.order_id,
        exec_type=update.exec_type,
        status=order.status,
        previous_status=update.previous,
        cum_qty=order.cum_qty,
        avg_price=order.avg_price,
    )
    now = OrderRow(
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        order_qty=order.order_qty,
        limit_price=order.limit_price,
        status=order.status,
        cum_qty=order.cum_qty,
        cum_cost=order.cum_cost,
        avg_price=order.avg_price,
        cl_ord_id=order.cl_ord_id,
        order_userref=order.order_userref,
        updated_wall=wall,
    )
    return event, now


def fill_row(fill: FillEvent) -> FillRow:
    """One execution (``at_exchange``: the exchange's time of it, if it sent one)."""
    return FillRow(
        exec_id=fill.exec_id,
        order_id=fill.order_id,
        symbol=fill.symbol,
        side=fill.side,
        qty=fill.qty,
        price=fill.price,
        cost=fill.cost,
        fees=fill.fees,
        liquidity=fill.liquidity,
        trade_id=fill.trade_id,
        at_exchange=fill.timestamp,
        at_wall=fill.received_at,
    )


def anomaly_row(anomaly: OrderAnomaly) -> OrderAnomalyRow:
    """Something in the order flow that could not be applied or looks wrong."""
    return OrderAnomalyRow(
        at_wall=anomaly.received_at,
        kind=anomaly.kind,
        order_id=anomaly.order_id,
        detail=anomaly.detail,
    )


def balance_rows(change: BalanceChange, pairs: Iterable[str]) -> list[Row]:
    """A balance change: its ledger entry (if it came from one), the move the stream does not
    explain (if any), then the balance and the positions of the followed ``pairs`` it makes
    (:func:`holding_rows`)."""
    wall = change.received_at
    rows: list[Row] = []
    if change.ledger_id is not None:
        rows.append(
            BalanceLedgerRow(
                at_wall=wall,
                ledger_id=change.ledger_id,
                ref_id=change.ref_id,
                asset=change.asset,
                ledger_type=change.ledger_type,
                amount=change.amount,
                fee=change.fee,
                balance=change.balance,
            )
        )
    if change.unexplained is not None:
        rows.append(
            BalanceAnomalyRow(
                at_wall=wall,
                asset=change.asset,
                source="ledger" if change.ledger_id else "snapshot",
                ledger_id=change.ledger_id,
                unexplained=change.unexplained,
                balance=change.balance,
            )
        )
    rows.extend(holding_rows(change.asset, change.balance, change.earn, pairs, wall))
    return rows


def holding_rows(
    asset: str, balance: Decimal, earn: Decimal, pairs: Iterable[str], wall: float
) -> list[BalanceRow | PositionRow]:
    """``asset``'s balance now (spot ``balance``, ``earn`` in earn wallets), and the
    position of every followed pair whose base asset it is (``BTC`` for ``BTC/USD``)."""
    rows: list[BalanceRow | PositionRow] = [
        BalanceRow(asset=asset, balance=balance, earn=earn, updated_wall=wall)
    ]
    for symbol in pairs:
        if symbol.split("/", 1)[0] == asset:
            rows.append(
                PositionRow(symbol=symbol, base_asset=asset, quantity=balance, updated_wall=wall)
            )
    return rows


def ledger_row(record: LedgerRecord, wall: float) -> BalanceLedgerRow:
    """A ledger entry learnt from REST (a backfill), not from the stream."""
    return BalanceLedgerRow(
        at_wall=wall,
        ledger_id=record.ledger_id,
        ref_id=record.ref_id,
        asset=record.asset,
        ledger_type=record.ledger_type,
        amount=record.amount,
        fee=record.fee,
        balance=record.balance,
    )


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


# --- reconciliation and operations -----------------------------------------------------------


def alert_row(alert: Alert) -> AlertRow:
    """An alert raised."""
    return AlertRow(
        at_wall=alert.received_at,
        severity=alert.severity,
        source=alert.source,
        message=alert.message,
    )


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


# --- by event --------------------------------------------------------------------------------


def event_rows(event: Event, pairs: Iterable[str] = ()) -> Sequence[Row]:
    """The rows of an event whose rows need nothing more (``pairs``: the followed pairs, for
    a :class:`~galfriday.events.BalanceChange`); empty for any other event (market data,
    health, and those needing more: see the module docstring)."""
    if isinstance(event, BalanceChange):
        return balance_rows(event, pairs)
    single = _SINGLE.get(type(event))
    if single is not None:
        return (single(event),)
    if isinstance(event, OrderUpdate):
        return order_rows(event)
    return ()


_SINGLE: Final[dict[type[Event], Callable[[Any], Row]]] = {
    ConnectionStateChanged: connection_row,
    GapDetected: gap_row,
    FillEvent: fill_row,
    OrderAnomaly: anomaly_row,
    Alert: alert_row,
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]
