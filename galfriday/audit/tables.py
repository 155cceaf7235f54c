"""The audit rows: one frozen struct per table of ``schema/``, named for what a row is.

Rules:
- One struct per table, its name in the class variable ``__table__``; its fields are the
  table's columns (all but an autoincrement ``id INTEGER PRIMARY KEY``), in the schema's order.
  A column that is ``NOT NULL`` without a default is a required field; a nullable column
  defaults to ``None``; a column with a SQL default has the same default here.
  ``tests/audit/test_tables.py`` checks all of that against the migrations, so a column added
  to the schema without its field (or the other way round) fails the tests.
- Fields are typed as the engine holds them: ``Decimal`` for money and quantities (stored as
  exact text), ``float`` epoch seconds for ``*_wall``, the engine's enums, tuples for JSON
  lists (``fees``), a mapping for the one JSON object (``by_channel``, as the schema says).
  The store converts values (:func:`~galfriday.audit.rows.sql_value`); nothing here does I/O.
- :data:`Row` is the union of them all; :data:`TABLES` maps each table name to its struct.

Which event gives which row is :mod:`galfriday.audit.mapping`'s business, not this module's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Final, TypeAlias, get_args

import msgspec

from galfriday.events import ConnectionState, OrderStatus, Severity

__all__ = [
    "TABLES",
    "AlertRow",
    "BalanceAnomalyRow",
    "BalanceLedgerRow",
    "BalanceRow",
    "BookCheckRow",
    "ConnectionEventRow",
    "DecodeErrorRow",
    "DiscrepancyRow",
    "FillRow",
    "GapRow",
    "HealthSnapshotRow",
    "OrderAnomalyRow",
    "OrderEventRow",
    "OrderRow",
    "PnlRow",
    "PositionAdjustmentRow",
    "PositionRow",
    "ReconciliationEventRow",
    "RestCallRow",
    "ResyncRow",
    "ReviewItemRow",
    "Row",
    "table_of",
]

ZERO: Final = Decimal(0)


class _Row(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of every audit row (no reference cycles, so not tracked by the GC)."""

    __table__: ClassVar[str]


# --- 001: connections and integrity ----------------------------------------------------------


class ConnectionEventRow(_Row, frozen=True, kw_only=True):
    """A connection changed state."""

    __table__: ClassVar[str] = "connection_events"
    at_wall: float
    connection: str
    old_state: ConnectionState
    new_state: ConnectionState
    reason: str = ""


class HealthSnapshotRow(_Row, frozen=True, kw_only=True):
    """A connection's health at one evaluation (``state``: healthy, degraded, unhealthy)."""

    __table__: ClassVar[str] = "health_snapshots"
    at_wall: float
    connection: str
    state: str
    messages_per_s: float
    reconnects: int
    errors: int
    overruns: int
    last_message_age: float | None = None
    detail: str = ""
    by_channel: Mapping[str, float] = msgspec.field(default_factory=dict)  # a JSON object


class GapRow(_Row, frozen=True, kw_only=True):
    """Sequence numbers ``first_missing``..``last_missing`` never arrived on ``stream``."""

    __table__: ClassVar[str] = "gaps"
    at_wall: float
    stream: str
    first_missing: int
    last_missing: int


class ResyncRow(_Row, frozen=True, kw_only=True):
    """A subscription rebuilt from a new snapshot (``symbol`` None: the whole stream)."""

    __table__: ClassVar[str] = "resyncs"
    at_wall: float
    stream: str
    symbol: str | None = None
    reason: str
    attempt: int = 1


class BookCheckRow(_Row, frozen=True, kw_only=True):
    """One book's checksum verdicts since the previous report."""

    __table__: ClassVar[str] = "book_checks"
    at_wall: float
    symbol: str
    verified: int
    mismatched: int
    unverified: int


class DecodeErrorRow(_Row, frozen=True, kw_only=True):
    """Something from the exchange that did not decode (``raw``: its first 200 characters)."""

    __table__: ClassVar[str] = "decode_errors"
    at_wall: float
    connection: str
    path: str
    reason: str
    raw: str


class RestCallRow(_Row, frozen=True, kw_only=True):
    """One REST call (``outcome``: ``ok`` or the error)."""

    __table__: ClassVar[str] = "rest_calls"
    at_wall: float
    method: str
    duration_ms: float
    outcome: str
    attempt: int
    waited_ms: float = 0.0


# --- 001: orders, fills, balances ------------------------------------------------------------


class OrderEventRow(_Row, frozen=True, kw_only=True):
    """An order moved (``previous_status`` None: first seen)."""

    __table__: ClassVar[str] = "order_events"
    at_wall: float
    order_id: str
    exec_type: str
    status: OrderStatus
    previous_status: OrderStatus | None = None
    cum_qty: Decimal
    avg_price: Decimal | None = None


class OrderAnomalyRow(_Row, frozen=True, kw_only=True):
    """Something in the order flow that could not be applied or looks wrong."""

    __table__: ClassVar[str] = "order_anomalies"
    at_wall: float
    kind: str
    order_id: str | None = None
    detail: str


class FillRow(_Row, frozen=True, kw_only=True):
    """One execution (written once per ``exec_id``)."""

    __table__: ClassVar[str] = "fills"
    exec_id: str
    order_id: str
    symbol: str | None = None
    side: str | None = None
    qty: Decimal
    price: Decimal
    cost: Decimal | None = None
    fees: tuple[tuple[str, Decimal], ...]  # JSON: [["USD", "0.3458"]]
    liquidity: str | None = None
    trade_id: int | None = None
    at_exchange: datetime | None = None
    at_wall: float


class BalanceLedgerRow(_Row, frozen=True, kw_only=True):
    """One ledger entry (written once per ``ledger_id``)."""

    __table__: ClassVar[str] = "balance_ledger"
    at_wall: float
    ledger_id: str | None = None
    ref_id: str | None = None
    asset: str
    ledger_type: str | None = None
    amount: Decimal | None = None
    fee: Decimal | None = None
    balance: Decimal


class OrderRow(_Row, frozen=True, kw_only=True):
    """An order as galfriday knows it now (replaces the row with its ``order_id``)."""

    __table__: ClassVar[str] = "orders"
    order_id: str
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    status: OrderStatus
    cum_qty: Decimal
    cum_cost: Decimal
    avg_price: Decimal | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    updated_wall: float


class BalanceRow(_Row, frozen=True, kw_only=True):
    """An asset's balance now: ``balance`` spot (tradable), ``earn`` in earn wallets."""

    __table__: ClassVar[str] = "balances"
    asset: str
    balance: Decimal
    updated_wall: float
    earn: Decimal = ZERO


class PositionRow(_Row, frozen=True, kw_only=True):
    """A followed pair's base-asset holding now."""

    __table__: ClassVar[str] = "positions"
    symbol: str
    base_asset: str
    quantity: Decimal
    updated_wall: float


# --- 003: reconciliation ---------------------------------------------------------------------


class ReconciliationEventRow(_Row, frozen=True, kw_only=True):
    """One reconciliation run (``status``: clean, discrepancies, failed; ``report`` JSON)."""

    __table__: ClassVar[str] = "reconciliation_events"
    id: str
    at_wall: float
    type: str
    status: str
    discrepancies: int = 0
    auto_corrected: int = 0
    manual_review: int = 0
    explained: int = 0
    rest_calls: int = 0
    duration_ms: float = 0.0
    error: str | None = None
    report: str = "{}"


class PositionAdjustmentRow(_Row, frozen=True, kw_only=True):
    """A balance or position set by a run (``adjustment_type``: position, balance,
    explained, review)."""

    __table__: ClassVar[str] = "position_adjustments"
    reconciliation_id: str
    subject: str
    adjustment_type: str
    old_value: Decimal
    new_value: Decimal
    reason: str
    at_wall: float


class DiscrepancyRow(_Row, frozen=True, kw_only=True):
    """A difference a run found between galfriday and the exchange."""

    __table__: ClassVar[str] = "discrepancies"
    reconciliation_id: str
    kind: str
    subject: str
    severity: Severity
    internal: str | None = None
    exchange: str | None = None
    detail: str = ""
    at_wall: float


class ReviewItemRow(_Row, frozen=True, kw_only=True):
    """An item waiting for a person (``status``: open, resolved, applied)."""

    __table__: ClassVar[str] = "review_queue"
    id: str
    reconciliation_id: str
    kind: str
    subject: str
    severity: Severity
    internal: str | None = None
    exchange: str | None = None
    created_wall: float
    status: str = "open"
    decision: str | None = None
    note: str | None = None
    resolved_wall: float | None = None
    applied_wall: float | None = None


class AlertRow(_Row, frozen=True, kw_only=True):
    """An alert raised (also on the bus and the webhook)."""

    __table__: ClassVar[str] = "alerts"
    at_wall: float
    severity: Severity
    source: str
    message: str


# --- 004 ------------------------------------------------------------------------------------


class BalanceAnomalyRow(_Row, frozen=True, kw_only=True):
    """A balance move the private stream does not explain (``source``: ledger, snapshot)."""

    __table__: ClassVar[str] = "balance_anomalies"
    at_wall: float
    asset: str
    source: str
    ledger_id: str | None = None
    unexplained: Decimal
    balance: Decimal


# --- 008 ------------------------------------------------------------------------------------


class PnlRow(_Row, frozen=True, kw_only=True):
    """A symbol's P&L by average cost as of its last fill (replaces the row with its
    ``symbol``): quote-currency figures; ``position`` signed (negative: more sold than
    bought); ``other_fees`` per asset, not converted; ``unrealised`` at ``mark`` then."""

    __table__: ClassVar[str] = "pnl"
    symbol: str
    position: Decimal
    average_cost: Decimal | None = None
    realised: Decimal
    fees: Decimal
    other_fees: tuple[tuple[str, Decimal], ...] = ()  # a JSON list
    mark: Decimal | None = None
    unrealised: Decimal | None = None
    updated_wall: float


Row: TypeAlias = (
    ConnectionEventRow
    | HealthSnapshotRow
    | GapRow
    | ResyncRow
    | BookCheckRow
    | DecodeErrorRow
    | RestCallRow
    | OrderEventRow
    | OrderAnomalyRow
    | FillRow
    | BalanceLedgerRow
    | OrderRow
    | BalanceRow
    | PositionRow
    | ReconciliationEventRow
    | PositionAdjustmentRow
    | DiscrepancyRow
    | ReviewItemRow
    | AlertRow
    | BalanceAnomalyRow
    | PnlRow
)

TABLES: Final[dict[str, type[Row]]] = {cls.__table__: cls for cls in get_args(Row)}


def table_of(row: Row) -> str:
    """The table ``row`` belongs to."""
    return row.__table__
