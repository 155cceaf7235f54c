"""The typed events consumers see on the bus.

Every event is a frozen msgspec struct. Money is ``Decimal``. Two clocks travel with events
that come from frames: ``received_at`` (wall clock, UTC epoch seconds, for records) and the
exchange's own ``timestamp`` where Kraken sends one. Events are facts that already happened;
a consumer never has to answer them.

Market data: :class:`BookUpdate`, :class:`TickerUpdate`, :class:`TradePrint`,
:class:`CandleUpdate`. Account: :class:`OrderUpdate`, :class:`FillEvent`,
:class:`BalanceChange`, :class:`OrderAnomaly`, :class:`PnlUpdate`. Connections and integrity:
:class:`ConnectionStateChanged`, :class:`HealthChanged`, :class:`GapDetected`,
:class:`ResyncStarted`. Reconciliation
and operations: :class:`Discrepancy`, :class:`ReconciliationReport`, :class:`Alert`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import msgspec

__all__ = [
    "Alert",
    "BalanceAdjusted",
    "BalanceChange",
    "BalanceRecorded",
    "BookChecks",
    "BookSide",
    "BookUpdate",
    "CandleUpdate",
    "ConnectionState",
    "ConnectionStateChanged",
    "Discrepancy",
    "Event",
    "FillEvent",
    "FrameRefused",
    "GapDetected",
    "HealthChanged",
    "LedgerEntryLearnt",
    "OrderAnomaly",
    "OrderStatus",
    "OrderUpdate",
    "OrderView",
    "PnlUpdate",
    "ReconciliationReport",
    "ResyncStarted",
    "ReviewItem",
    "Severity",
    "TickerUpdate",
    "TradePrint",
]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every bus event. ``received_at``: wall-clock epoch seconds of the cause."""

    received_at: float = 0.0


class Severity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# --- market data ---------------------------------------------------------------------------


class BookSide:
    """One side of a book's best levels, kept as scaled integers until someone reads them.

    Building Decimals is most of what publishing a book message costs, and most consumers
    read one level or none: :meth:`levels` converts on first use, exactly, and keeps the result.
    """

    __slots__ = ("_decimal", "_levels", "_pp", "_qp")

    def __init__(self, levels: list[tuple[int, int]], price_precision: int, qty_precision: int):
        self._levels = levels  # (price ticks, qty lots), best first
        self._pp = price_precision
        self._qp = qty_precision
        self._decimal: tuple[tuple[Decimal, Decimal], ...] | None = None

    def levels(self) -> tuple[tuple[Decimal, Decimal], ...]:
        if self._decimal is None:
            pp, qp = -self._pp, -self._qp
            self._decimal = tuple(
                (Decimal(p).scaleb(pp), Decimal(q).scaleb(qp)) for p, q in self._levels
            )
        return self._decimal

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BookSide) and self.levels() == other.levels()

    def __hash__(self) -> int:
        return hash(self.levels())

    def __repr__(self) -> str:
        return f"BookSide({self.levels()!r})"


class BookUpdate(Event, frozen=True, kw_only=True):
    """A book changed. ``verified`` is False from a checksum mismatch until the next snapshot.

    ``bids``/``asks`` are the best levels (price, qty) in Decimal, best first, at most as deep
    as the publisher chose (converted when first read).
    """

    symbol: str
    verified: bool
    bid_side: BookSide
    ask_side: BookSide
    snapshot: bool = False
    timestamp: str | None = None

    @property
    def bids(self) -> tuple[tuple[Decimal, Decimal], ...]:
        return self.bid_side.levels()

    @property
    def asks(self) -> tuple[tuple[Decimal, Decimal], ...]:
        return self.ask_side.levels()


class TickerUpdate(Event, frozen=True, kw_only=True):
    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    volume: Decimal | None
    timestamp: datetime | None = None


class TradePrint(Event, frozen=True, kw_only=True):
    """A public trade. ``gap_before`` counts trade ids that were skipped right before it."""

    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    trade_id: int
    gap_before: int = 0
    timestamp: datetime | None = None


class CandleUpdate(Event, frozen=True, kw_only=True):
    symbol: str
    interval: int
    interval_begin: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None = None


# --- account -------------------------------------------------------------------------------


class OrderStatus(enum.StrEnum):
    """Kraken's ``order_status``; ``filled``, ``canceled`` and ``expired`` are final."""

    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED})


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """An order as galfriday knows it at one moment. Unknown fields are ``None``."""

    order_id: str
    status: OrderStatus
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    cum_qty: Decimal = Decimal(0)
    cum_cost: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    fees: tuple[tuple[str, Decimal], ...] = ()
    cl_ord_id: str | None = None
    order_userref: int | None = None
    updated: datetime | None = None

    @property
    def remaining(self) -> Decimal | None:
        """Quantity not yet filled; ``None`` while ``order_qty`` is unknown."""
        if self.order_qty is None:
            return None
        return self.order_qty - self.cum_qty


class OrderUpdate(Event, frozen=True, kw_only=True):
    """An order moved: ``previous`` is ``None`` for an order seen for the first time."""

    order: OrderView
    exec_type: str
    previous: OrderStatus | None


class FillEvent(Event, frozen=True, kw_only=True):
    """One execution (``exec_type == "trade"``), deduplicated by ``exec_id``."""

    order_id: str
    exec_id: str
    symbol: str | None
    side: str | None
    qty: Decimal
    price: Decimal
    cost: Decimal | None
    fees: tuple[tuple[str, Decimal], ...]
    liquidity: str | None
    trade_id: int | None = None
    timestamp: datetime | None = None


class OrderAnomaly(Event, frozen=True, kw_only=True):
    """Something in the order stream that could not be applied as it came.

    ``kind``: ``invalid_transition`` (a status that would move an order backwards or from one
    final state to another), ``duplicate_fill``, ``missing_order_id``, ``bad_fill`` (a trade
    without quantity or price), ``cum_qty_mismatch`` (the exchange's cumulative quantity
    disagrees with the fills we saw).
    """

    kind: str
    order_id: str | None
    detail: str


class BalanceChange(Event, frozen=True, kw_only=True):
    """An asset's balance after one ledger entry (or a snapshot, with ``ledger_id`` None)."""

    asset: str
    balance: Decimal  # spot: what can be traded
    earn: Decimal = Decimal(0)  # held in earn wallets (staking, auto-earn), not tradable
    amount: Decimal | None = None
    fee: Decimal | None = None
    ledger_id: str | None = None
    ref_id: str | None = None
    ledger_type: str | None = None
    timestamp: datetime | None = None
    # How far the new balance is from what the stream explains (the previous balance plus this
    # entry, or a later snapshot against the balance it replaces); None when it adds up or
    # cannot be judged. Something moved funds the stream never told us about.
    unexplained: Decimal | None = None


# --- connections and integrity -------------------------------------------------------------


class ConnectionState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    AUTHENTICATED = "authenticated"
    SUBSCRIBED = "subscribed"


class ConnectionStateChanged(Event, frozen=True, kw_only=True):
    connection: str
    old: ConnectionState
    new: ConnectionState
    reason: str = ""


class HealthChanged(Event, frozen=True, kw_only=True):
    """A connection's health moved (``healthy``, ``degraded``, ``unhealthy``)."""

    connection: str
    old: str
    new: str
    reasons: tuple[str, ...] = ()


class GapDetected(Event, frozen=True, kw_only=True):
    """Sequence numbers ``first``..``last`` (inclusive) never arrived on ``stream``."""

    stream: str
    first: int
    last: int


class ResyncStarted(Event, frozen=True, kw_only=True):
    """A subscription is being rebuilt from a new snapshot (``symbol`` None: whole channel)."""

    stream: str
    symbol: str | None
    reason: str
    attempt: int = 1  # resyncs in a row without a verified update


class FrameRefused(Event, frozen=True, kw_only=True):
    """A frame (or an entry of one, or a REST answer's entry) that did not decode, or that
    broke a processor: counted and skipped."""

    connection: str
    path: str  # where in it, e.g. ``$.data[0].price``
    reason: str
    raw: str  # its first 200 characters


class BalanceRecorded(Event, frozen=True, kw_only=True):
    """An asset's balance as galfriday now holds it (after the stream, a snapshot or a
    correction): spot (tradable) and earn; ``symbols`` are the followed pairs whose position
    (base holding) it is."""

    asset: str
    balance: Decimal
    earn: Decimal = Decimal(0)
    symbols: tuple[str, ...] = ()


class LedgerEntryLearnt(Event, frozen=True, kw_only=True):
    """A ledger entry learnt from REST that the stream never delivered (kept for the record;
    the balances it touched came with a later total)."""

    ledger_id: str
    ref_id: str | None
    asset: str
    ledger_type: str | None
    amount: Decimal | None
    fee: Decimal | None
    balance: Decimal


class BookChecks(Event, frozen=True, kw_only=True):
    """One symbol's book messages since the previous report: verified, mismatched, unverified."""

    symbol: str
    verified: int
    mismatched: int
    unverified: int


class RecoveryFinished(Event, frozen=True, kw_only=True):
    """The private stream's recovery after a gap ended: resubscribed with fresh snapshots and
    backfilled from REST (``complete`` False: part of it failed; reconciliation checks)."""

    stream: str
    reason: str
    complete: bool


# --- reconciliation and operations ---------------------------------------------------------


class Discrepancy(Event, frozen=True, kw_only=True):
    """A difference between galfriday's view and the exchange's (found by run ``run_id``)."""

    kind: str
    subject: str
    severity: Severity
    internal: str | None
    exchange: str | None
    detail: str = ""
    run_id: str = ""


class BalanceAdjusted(Event, frozen=True, kw_only=True):
    """A balance (``subject`` an asset, or a pair for its base asset) set from ``old`` to
    ``new`` by reconciliation run ``run_id`` (``kind``: explained, balance, position, review)."""

    run_id: str
    subject: str
    kind: str
    old: Decimal
    new: Decimal
    reason: str


class ReviewItem(Event, frozen=True, kw_only=True):
    """An item of the review queue: what waits for a person, and what became of it
    (``status``: open, resolved, applied)."""

    item_id: str
    run_id: str  # the reconciliation run that found it ("gateway" for an order's fate)
    kind: str
    subject: str
    severity: Severity
    internal: str | None
    exchange: str | None
    created_at: float
    status: str = "open"
    decision: str | None = None
    note: str | None = None
    resolved_at: float | None = None
    applied_at: float | None = None


class ReconciliationReport(Event, frozen=True, kw_only=True):
    """One reconciliation run finished (``status``: clean, discrepancies, failed); ``report``
    is its full report as JSON, ``error`` why it failed."""

    run_id: str
    kind: str
    status: str
    discrepancies: int = 0
    corrected: int = 0
    review: int = 0
    explained: int = 0
    rest_calls: int = 0
    duration_ms: float = 0.0
    report: str = "{}"
    error: str | None = None


class Alert(Event, frozen=True, kw_only=True):
    severity: Severity
    source: str
    message: str


# --- P&L -----------------------------------------------------------------------------------


class PnlUpdate(Event, frozen=True, kw_only=True):
    """A symbol's P&L after fill ``exec_id`` (average cost; the rules are
    :mod:`galfriday.core.pnl`'s). Quote-currency figures: ``average_cost`` of the ``position``
    (base bought minus sold through the fills galfriday counted, negative when more was sold;
    None when flat), ``realised`` (before fees), ``fees``. ``other_fees``: fees in other
    assets (e.g. ``KFEE``), per asset, not converted. ``unrealised`` at ``mark`` (the book's
    mid, or the last public trade) as they stood at this fill; None without a mark."""

    symbol: str
    exec_id: str
    position: Decimal
    average_cost: Decimal | None
    realised: Decimal
    fees: Decimal
    other_fees: tuple[tuple[str, Decimal], ...] = ()
    mark: Decimal | None = None
    unrealised: Decimal | None = None
