"""Which audit rows each engine event is recorded as: the one place that decides it.

Rules:
- Pure functions: an event in, typed rows (:mod:`galfriday.audit.tables`) out. No I/O, no
  clock: a row's time is its event's ``received_at``. Every event that is an audit fact
  carries what its rows need, so :func:`rows` needs nothing else.
- The engine's :class:`~galfriday.live.recorder.Recorder` hands every event it is given to
  :func:`rows` and what comes back to the audit writer; a replay does the same, so a replayed
  session's rows are built by the very same code as the live session's.
- Rows that come from no event: a REST call (:func:`rest_call_row`) and a health snapshot
  (:class:`~galfriday.audit.tables.HealthSnapshotRow`, built where the counters are).

By event:

==========================  ==========================================================
``ConnectionStateChanged``  ``connection_events``
``GapDetected``             ``gaps``
``ResyncStarted``           ``resyncs``
``FrameRefused``            ``decode_errors``
``BookChecks``              ``book_checks``
``OrderUpdate``             ``order_events`` and ``orders`` (the order now)
``FillEvent``               ``fills``
``OrderAnomaly``            ``order_anomalies``
``BalanceChange``           ``balance_ledger`` (if from a ledger entry) and
                            ``balance_anomalies`` (if the stream does not explain it)
``LedgerEntryLearnt``       ``balance_ledger`` (a REST entry the stream never delivered)
``BalanceRecorded``         ``balances`` and the ``positions`` of its pairs
``Alert``                   ``alerts``
``Discrepancy``             ``discrepancies``
``BalanceAdjusted``         ``position_adjustments``
``ReviewItem``              ``review_queue`` (a new item, or one decided or applied)
``ReconciliationReport``    ``reconciliation_events``
``PnlUpdate``               ``pnl`` (the symbol's P&L as of its last fill)
==========================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from galfriday.audit.tables import (
    AlertRow,
    BalanceAnomalyRow,
    BalanceLedgerRow,
    BalanceRow,
    BookCheckRow,
    ConnectionEventRow,
    DecodeErrorRow,
    DiscrepancyRow,
    FillRow,
    GapRow,
    OrderAnomalyRow,
    OrderEventRow,
    OrderRow,
    PnlRow,
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
    BalanceAdjusted,
    BalanceChange,
    BalanceRecorded,
    BookChecks,
    ConnectionStateChanged,
    Discrepancy,
    Event,
    FillEvent,
    FrameRefused,
    GapDetected,
    LedgerEntryLearnt,
    OrderAnomaly,
    OrderUpdate,
    PnlUpdate,
    ReconciliationReport,
    ResyncStarted,
    ReviewItem,
)

if TYPE_CHECKING:
    from galfriday.kraken.rest import RestCall

__all__ = ["AUDITED", "REASON_CHARS", "rest_call_row", "rows"]

REASON_CHARS: Final = 500  # a failed run's error is cut to this


def rows(event: Event) -> tuple[Row, ...]:
    """The audit rows of ``event``; none for an event that is no audit fact (market data,
    health changes, a recovery's end...)."""
    build = _BUILD.get(type(event))
    return () if build is None else build(event)


# --- connections and integrity -------------------------------------------------------------


def _connection(event: ConnectionStateChanged) -> tuple[Row, ...]:
    return (
        ConnectionEventRow(
            at_wall=event.received_at,
            connection=event.connection,
            old_state=event.old,
            new_state=event.new,
            reason=event.reason,
        ),
    )


def _gap(event: GapDetected) -> tuple[Row, ...]:
    return (
        GapRow(
            at_wall=event.received_at,
            stream=event.stream,
            first_missing=event.first,
            last_missing=event.last,
        ),
    )


def _resync(event: ResyncStarted) -> tuple[Row, ...]:
    return (
        ResyncRow(
            at_wall=event.received_at,
            stream=event.stream,
            symbol=event.symbol,
            reason=event.reason,
            attempt=event.attempt,
        ),
    )


def _refused(event: FrameRefused) -> tuple[Row, ...]:
    return (
        DecodeErrorRow(
            at_wall=event.received_at,
            connection=event.connection,
            path=event.path,
            reason=event.reason,
            raw=event.raw,
        ),
    )


def _book_checks(event: BookChecks) -> tuple[Row, ...]:
    return (
        BookCheckRow(
            at_wall=event.received_at,
            symbol=event.symbol,
            verified=event.verified,
            mismatched=event.mismatched,
            unverified=event.unverified,
        ),
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


def _order(event: OrderUpdate) -> tuple[Row, ...]:
    order, wall = event.order, event.received_at
    return (
        OrderEventRow(
            at_wall=wall,
            order_id=order.order_id,
            exec_type=event.exec_type,
            status=order.status,
            previous_status=event.previous,
            cum_qty=order.cum_qty,
            avg_price=order.avg_price,
        ),
        OrderRow(
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
        ),
    )


def _fill(event: FillEvent) -> tuple[Row, ...]:
    return (
        FillRow(
            exec_id=event.exec_id,
            order_id=event.order_id,
            symbol=event.symbol,
            side=event.side,
            qty=event.qty,
            price=event.price,
            cost=event.cost,
            fees=tuple(event.fees),
            liquidity=event.liquidity,
            trade_id=event.trade_id,
            at_exchange=event.timestamp,
            at_wall=event.received_at,
        ),
    )


def _anomaly(event: OrderAnomaly) -> tuple[Row, ...]:
    return (
        OrderAnomalyRow(
            at_wall=event.received_at,
            kind=event.kind,
            order_id=event.order_id,
            detail=event.detail,
        ),
    )


def _balance_change(event: BalanceChange) -> tuple[Row, ...]:
    # The balance and positions it makes come as the BalanceRecorded that follows it.
    wall, found = event.received_at, list[Row]()
    if event.ledger_id is not None:
        found.append(
            BalanceLedgerRow(
                at_wall=wall,
                ledger_id=event.ledger_id,
                ref_id=event.ref_id,
                asset=event.asset,
                ledger_type=event.ledger_type,
                amount=event.amount,
                fee=event.fee,
                balance=event.balance,
            )
        )
    if event.unexplained is not None:
        found.append(
            BalanceAnomalyRow(
                at_wall=wall,
                asset=event.asset,
                source="ledger" if event.ledger_id else "snapshot",
                ledger_id=event.ledger_id,
                unexplained=event.unexplained,
                balance=event.balance,
            )
        )
    return tuple(found)


def _ledger_learnt(event: LedgerEntryLearnt) -> tuple[Row, ...]:
    return (
        BalanceLedgerRow(
            at_wall=event.received_at,
            ledger_id=event.ledger_id,
            ref_id=event.ref_id,
            asset=event.asset,
            ledger_type=event.ledger_type,
            amount=event.amount,
            fee=event.fee,
            balance=event.balance,
        ),
    )


def _balance_recorded(event: BalanceRecorded) -> tuple[Row, ...]:
    wall = event.received_at
    balance = BalanceRow(
        asset=event.asset, balance=event.balance, earn=event.earn, updated_wall=wall
    )
    positions = (
        PositionRow(
            symbol=symbol, base_asset=event.asset, quantity=event.balance, updated_wall=wall
        )
        for symbol in event.symbols
    )
    return (balance, *positions)


def _pnl(event: PnlUpdate) -> tuple[Row, ...]:
    return (
        PnlRow(
            symbol=event.symbol,
            position=event.position,
            average_cost=event.average_cost,
            realised=event.realised,
            fees=event.fees,
            other_fees=event.other_fees,
            mark=event.mark,
            unrealised=event.unrealised,
            updated_wall=event.received_at,
        ),
    )


def _alert(event: Alert) -> tuple[Row, ...]:
    return (
        AlertRow(
            at_wall=event.received_at,
            severity=event.severity,
            source=event.source,
            message=event.message,
        ),
    )


# --- reconciliation and review ---------------------------------------------------------------


def _discrepancy(event: Discrepancy) -> tuple[Row, ...]:
    return (
        DiscrepancyRow(
            reconciliation_id=event.run_id,
            kind=event.kind,
            subject=event.subject,
            severity=event.severity,
            internal=event.internal,
            exchange=event.exchange,
            detail=event.detail,
            at_wall=event.received_at,
        ),
    )


def _adjusted(event: BalanceAdjusted) -> tuple[Row, ...]:
    return (
        PositionAdjustmentRow(
            reconciliation_id=event.run_id,
            subject=event.subject,
            adjustment_type=event.kind,
            old_value=event.old,
            new_value=event.new,
            reason=event.reason,
            at_wall=event.received_at,
        ),
    )


def _review(event: ReviewItem) -> tuple[Row, ...]:
    return (
        ReviewItemRow(
            id=event.item_id,
            reconciliation_id=event.run_id,
            kind=event.kind,
            subject=event.subject,
            severity=event.severity,
            internal=event.internal,
            exchange=event.exchange,
            created_wall=event.created_at,
            status=event.status,
            decision=event.decision,
            note=event.note,
            resolved_wall=event.resolved_at,
            applied_wall=event.applied_at,
        ),
    )


def _report(event: ReconciliationReport) -> tuple[Row, ...]:
    failed = event.status == "failed"
    return (
        ReconciliationEventRow(
            id=event.run_id,
            at_wall=event.received_at,
            type=event.kind,
            status=event.status,
            discrepancies=event.discrepancies,
            auto_corrected=event.corrected,
            manual_review=event.review,
            explained=event.explained,
            rest_calls=event.rest_calls,
            duration_ms=event.duration_ms,
            error=None if event.error is None else event.error[:REASON_CHARS],
            report="{}" if failed else event.report,
        ),
    )


_BUILD: Final[dict[type[Event], Callable[[Any], tuple[Row, ...]]]] = {
    ConnectionStateChanged: _connection,
    GapDetected: _gap,
    ResyncStarted: _resync,
    FrameRefused: _refused,
    BookChecks: _book_checks,
    OrderUpdate: _order,
    FillEvent: _fill,
    OrderAnomaly: _anomaly,
    BalanceChange: _balance_change,
    LedgerEntryLearnt: _ledger_learnt,
    BalanceRecorded: _balance_recorded,
    PnlUpdate: _pnl,
    Alert: _alert,
    Discrepancy: _discrepancy,
    BalanceAdjusted: _adjusted,
    ReviewItem: _review,
    ReconciliationReport: _report,
}

AUDITED: Final = frozenset(_BUILD)  # the event types that are audit facts
