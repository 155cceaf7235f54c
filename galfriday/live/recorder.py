"""Where the core's events go in a running engine: the bus, the audit trail, the log.

:class:`Recorder` is the engine's :class:`~galfriday.core.frames.Sink`: every event is published
on the bus, and the events that are audit facts (an order's change, a fill, a balance, a ledger
entry, an anomaly, a gap, a refused frame, book checks, a resync, an alert) also become their
audit rows. Alerts and unexplained balance moves are logged. The state machines emit; only
this module decides where their events are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from loguru import logger

from galfriday.bus import Bus
from galfriday.events import (
    Alert,
    BalanceAdjusted,
    BalanceChange,
    BalanceRecorded,
    BookChecks,
    Discrepancy,
    Event,
    FillEvent,
    FrameRefused,
    GapDetected,
    LedgerEntryLearnt,
    OrderAnomaly,
    OrderUpdate,
    ReconciliationReport,
    ResyncStarted,
    ReviewItem,
    Severity,
)

__all__ = ["Recorder"]

AUDITED: Final = frozenset(
    {
        Alert,
        BalanceAdjusted,
        BalanceChange,
        BalanceRecorded,
        BookChecks,
        Discrepancy,
        FillEvent,
        FrameRefused,
        GapDetected,
        LedgerEntryLearnt,
        OrderAnomaly,
        OrderUpdate,
        ReconciliationReport,
        ResyncStarted,
        ReviewItem,
    }
)


class Recorder:
    """Publishes events and audits those that are audit facts.

    Args:
        bus: the engine's bus.
        write: queues an audit row (``write(table, **values)``; never blocks).
    """

    def __init__(self, bus: Bus, write: Callable[..., None]) -> None:
        self.bus = bus
        self.write = write

    def wants(self, kind: type[Event]) -> bool:
        return kind in AUDITED or self.bus.wanted(kind)

    def emit(self, event: Event) -> None:
        self.bus.publish(event)
        if type(event) in AUDITED:
            self._audit(event)

    def _audit(self, event: Any) -> None:
        wall = event.received_at
        if isinstance(event, OrderUpdate | FillEvent | OrderAnomaly):
            self._order(event)
        elif isinstance(event, BalanceChange | BalanceRecorded | LedgerEntryLearnt):
            self._balance(event)
        elif isinstance(event, Discrepancy | BalanceAdjusted | ReviewItem | ReconciliationReport):
            self._reconciliation(event)
        elif isinstance(event, GapDetected):
            self.write(
                "gaps",
                at_wall=wall,
                stream=event.stream,
                first_missing=event.first,
                last_missing=event.last,
            )
        elif isinstance(event, FrameRefused):
            self.write(
                "decode_errors",
                at_wall=wall,
                connection=event.connection,
                path=event.path,
                reason=event.reason,
                raw=event.raw,
            )
        elif isinstance(event, BookChecks):
            self.write(
                "book_checks",
                at_wall=wall,
                symbol=event.symbol,
                verified=event.verified,
                mismatched=event.mismatched,
                unverified=event.unverified,
            )
        elif isinstance(event, ResyncStarted):
            self.write(
                "resyncs",
                at_wall=wall,
                stream=event.stream,
                symbol=event.symbol,
                reason=event.reason,
                attempt=event.attempt,
            )
        elif isinstance(event, Alert):
            log = logger.error if event.severity is Severity.CRITICAL else logger.warning
            log("alert ({}): {}", event.source, event.message)
            self.write(
                "alerts",
                at_wall=wall,
                severity=event.severity,
                source=event.source,
                message=event.message,
            )

    def _order(self, event: OrderUpdate | FillEvent | OrderAnomaly) -> None:
        wall = event.received_at
        if isinstance(event, OrderUpdate):
            order = event.order
            self.write(
                "order_events",
                at_wall=wall,
                order_id=order.order_id,
                exec_type=event.exec_type,
                status=order.status,
                previous_status=event.previous,
                cum_qty=order.cum_qty,
                avg_price=order.avg_price,
            )
            self.write(
                "orders",
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
        elif isinstance(event, FillEvent):
            self.write(
                "fills",
                exec_id=event.exec_id,
                order_id=event.order_id,
                symbol=event.symbol,
                side=event.side,
                qty=event.qty,
                price=event.price,
                cost=event.cost,
                fees=event.fees,
                liquidity=event.liquidity,
                trade_id=event.trade_id,
                at_exchange=event.timestamp,
                at_wall=wall,
            )
        else:
            self.write(
                "order_anomalies",
                at_wall=wall,
                kind=event.kind,
                order_id=event.order_id,
                detail=event.detail,
            )

    def _balance(self, event: BalanceChange | BalanceRecorded | LedgerEntryLearnt) -> None:
        wall = event.received_at
        if isinstance(event, BalanceRecorded):
            self.write(
                "balances",
                asset=event.asset,
                balance=event.balance,
                earn=event.earn,
                updated_wall=wall,
            )
            for symbol in event.symbols:
                self.write(
                    "positions",
                    symbol=symbol,
                    base_asset=event.asset,
                    quantity=event.balance,
                    updated_wall=wall,
                )
            return
        if isinstance(event, LedgerEntryLearnt) or event.ledger_id is not None:
            self.write(
                "balance_ledger",
                at_wall=wall,
                ledger_id=event.ledger_id,
                ref_id=event.ref_id,
                asset=event.asset,
                ledger_type=event.ledger_type,
                amount=event.amount,
                fee=event.fee,
                balance=event.balance,
            )
        if isinstance(event, BalanceChange) and event.unexplained is not None:
            source = "ledger" if event.ledger_id else "snapshot"
            logger.warning(
                "{} moved by {} that the private stream does not explain ({})",
                event.asset,
                event.unexplained,
                source,
            )
            self.write(
                "balance_anomalies",
                at_wall=wall,
                asset=event.asset,
                source=source,
                ledger_id=event.ledger_id,
                unexplained=event.unexplained,
                balance=event.balance,
            )

    def _reconciliation(
        self, event: Discrepancy | BalanceAdjusted | ReviewItem | ReconciliationReport
    ) -> None:
        wall = event.received_at
        if isinstance(event, Discrepancy):
            self.write(
                "discrepancies",
                reconciliation_id=event.run_id,
                kind=event.kind,
                subject=event.subject,
                severity=event.severity,
                internal=event.internal,
                exchange=event.exchange,
                detail=event.detail,
                at_wall=wall,
            )
        elif isinstance(event, BalanceAdjusted):
            self.write(
                "position_adjustments",
                reconciliation_id=event.run_id,
                subject=event.subject,
                adjustment_type=event.kind,
                old_value=event.old,
                new_value=event.new,
                reason=event.reason,
                at_wall=wall,
            )
        elif isinstance(event, ReviewItem):
            self.write(
                "review_queue",
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
            )
        elif event.status == "failed":
            self.write(
                "reconciliation_events",
                id=event.run_id,
                at_wall=wall,
                type=event.kind,
                status=event.status,
                rest_calls=event.rest_calls,
                duration_ms=event.duration_ms,
                error=event.error,
            )
        else:
            self.write(
                "reconciliation_events",
                id=event.run_id,
                at_wall=wall,
                type=event.kind,
                status=event.status,
                discrepancies=event.discrepancies,
                auto_corrected=event.corrected,
                manual_review=event.review,
                explained=event.explained,
                rest_calls=event.rest_calls,
                duration_ms=event.duration_ms,
                report=event.report,
            )
