"""The rows of the engine's streams: connections, integrity, orders, fills, balances, alerts.

Pure: events (and what a row needs beyond its event, passed explicitly) in, typed rows out.
See :mod:`galfriday.audit.mapping` for the rules and the map of events to functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from galfriday.audit.tables import (
    AlertRow,
    BalanceAnomalyRow,
    BalanceLedgerRow,
    BalanceRow,
    ConnectionEventRow,
    DecodeErrorRow,
    FillRow,
    GapRow,
    OrderAnomalyRow,
    OrderEventRow,
    OrderRow,
    PositionRow,
    RestCallRow,
    ResyncRow,
    Row,
)
from galfriday.events import (
    Alert,
    BalanceChange,
    ConnectionStateChanged,
    FillEvent,
    GapDetected,
    OrderAnomaly,
    OrderUpdate,
    ResyncStarted,
)

if TYPE_CHECKING:
    from galfriday.errors import MalformedFrame
    from galfriday.kraken.convert import LedgerRecord
    from galfriday.kraken.rest import RestCall
    from galfriday.kraken.wire import SkippedEntry

__all__ = [
    "RAW_CHARS",
    "REASON_CHARS",
    "alert_row",
    "anomaly_row",
    "balance_rows",
    "connection_row",
    "failed_frame_row",
    "fill_row",
    "gap_row",
    "holding_rows",
    "ledger_row",
    "malformed_row",
    "order_rows",
    "rest_call_row",
    "resync_row",
    "skipped_entry_row",
]

REASON_CHARS: Final = 500  # a decode error's or an anomaly's reason is cut to this
RAW_CHARS: Final = 200  # a frame's copy in decode_errors


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


# --- operations --------------------------------------------------------------------------------


def alert_row(alert: Alert) -> AlertRow:
    """An alert raised."""
    return AlertRow(
        at_wall=alert.received_at,
        severity=alert.severity,
        source=alert.source,
        message=alert.message,
    )
