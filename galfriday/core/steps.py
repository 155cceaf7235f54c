"""Steps: every input to the engine's state that is not a frame received.

Frames are one kind of input to the state machines; the other kind comes from the shell: a
subscription sent, a socket lost, a resync begun, the answers of a REST call, a person's
decision. Each is a :class:`Step`, a typed record with its wall and monotonic times. The live
shell builds a step, writes it to the capture and applies it
(:meth:`galfriday.state.EngineState.apply`); ``galfriday replay`` reads it back and applies the
same step at the same place among the frames. So the engine's state is a pure function of
the sequence of frames and steps: a replay needs no sockets, no tasks and no timing.

Steps are msgspec structs tagged by ``step``; :func:`encode_step` and :func:`decode_step` are
their bytes in a capture. New fields get defaults, so older captures keep decoding.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import msgspec

from galfriday.kraken.answers import (
    AssetPairsAnswer,
    AssetsAnswer,
    RestLedgerEntry,
    RestOrder,
    RestTrade,
)
from galfriday.kraken.wire import ExecutionReport

__all__ = [
    "BackfillIncomplete",
    "BookResync",
    "DecisionApplied",
    "LedgerAnswered",
    "OrderPlaced",
    "OrderRefused",
    "OrdersAnswered",
    "OrdersQueried",
    "PairsLoaded",
    "PrivateDisconnected",
    "PrivateSubscribing",
    "PublicConnected",
    "ReconcileAnswered",
    "ReconcileFailed",
    "RecoveryBegan",
    "RecoveryEnded",
    "Step",
    "SymbolsAdded",
    "SymbolsRemoved",
    "TradesAnswered",
    "TradingStopped",
    "decode_step",
    "encode_step",
]


class Step(msgspec.Struct, frozen=True, kw_only=True, tag_field="step"):
    """Base of every step: when it happened (wall: epoch seconds; mono: monotonic seconds)."""

    wall: float
    mono: float


# --- market data ------------------------------------------------------------------------------


class PublicConnected(Step, frozen=True, kw_only=True, tag="public_connected"):
    """A new public connection: every book awaits a snapshot."""


class BookResync(Step, frozen=True, kw_only=True, tag="book_resync"):
    """A resync of ``symbol``'s book is asked for (a mismatch, a silent book)."""

    symbol: str
    reason: str


class SymbolsAdded(Step, frozen=True, kw_only=True, tag="symbols_added"):
    symbols: list[str]


class SymbolsRemoved(Step, frozen=True, kw_only=True, tag="symbols_removed"):
    symbols: list[str]


class PairsLoaded(Step, frozen=True, kw_only=True, tag="pairs_loaded"):
    """REST ``AssetPairs`` and ``Assets``: the names of every pair and asset."""

    pairs: AssetPairsAnswer
    assets: AssetsAnswer


# --- the account ------------------------------------------------------------------------------


class PrivateSubscribing(Step, frozen=True, kw_only=True, tag="private_subscribing"):
    """Subscribes sent (req_id -> channel)."""

    requests: dict[int, str]


class PrivateDisconnected(Step, frozen=True, kw_only=True, tag="private_disconnected"):
    """The private socket is gone."""


class RecoveryBegan(Step, frozen=True, kw_only=True, tag="recovery_began"):
    reason: str


class RecoveryEnded(Step, frozen=True, kw_only=True, tag="recovery_ended"):
    reason: str
    complete: bool


class TradesAnswered(Step, frozen=True, kw_only=True, tag="trades_answered"):
    """REST trades (a recovery's backfill), one per fill."""

    trades: dict[str, RestTrade]


class LedgerAnswered(Step, frozen=True, kw_only=True, tag="ledger_answered"):
    """REST ledger entries (a recovery's backfill)."""

    entries: dict[str, RestLedgerEntry]


class OrdersAnswered(Step, frozen=True, kw_only=True, tag="orders_answered"):
    """REST order states (``QueryOrders``); ``unknown``: ids the exchange does not know."""

    orders: dict[str, RestOrder]
    unknown: list[str] = []


class BackfillIncomplete(Step, frozen=True, kw_only=True, tag="backfill_incomplete"):
    detail: str


class OrderPlaced(Step, frozen=True, kw_only=True, tag="order_placed"):
    """An order placed over REST, as the report it enters the tracker with."""

    report: ExecutionReport


class OrdersQueried(Step, frozen=True, kw_only=True, tag="orders_queried"):
    """A stale-order query was made (``failed``: it got no answer, try again soon)."""

    order_ids: list[str]
    failed: bool = False


# --- reconciliation -----------------------------------------------------------------------


class ReconcileAnswered(Step, frozen=True, kw_only=True, tag="reconcile_answered"):
    """Everything a reconciliation run learnt: the exchange's answers, what the stream moved
    while they came, the review items already waiting, and the run's own measurements."""

    run_id: str
    kind: str
    balance: dict[str, Decimal]
    orders: dict[str, RestOrder]
    unknown: list[str]
    trades: dict[str, RestTrade]
    ledger: dict[str, RestLedgerEntry] | None = None
    not_covered: list[str] = []
    moved: list[str] = []
    review_keys: list[tuple[str, str]] = []
    fills_since: float = 0.0
    rest_calls: int = 0
    duration_ms: float = 0.0


class ReconcileFailed(Step, frozen=True, kw_only=True, tag="reconcile_failed"):
    run_id: str
    kind: str
    error: str
    rest_calls: int = 0
    duration_ms: float = 0.0


class DecisionApplied(Step, frozen=True, kw_only=True, tag="decision_applied"):
    """A person's decision on a review item (its ``review_queue`` row)."""

    row: dict[str, Any]


class OrderRefused(Step, frozen=True, kw_only=True, tag="order_refused"):
    """A strategy's order refused by a rail before it was sent (``price``: None for market)."""

    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None
    rule: str


class TradingStopped(Step, frozen=True, kw_only=True, tag="trading_stopped"):
    """A strategy stopped trading: it raised, the kill switch tripped, or the run ended."""

    source: str  # "strategy" or "rails"
    reason: str
    critical: bool = True


AnyStep = (
    PublicConnected
    | BookResync
    | SymbolsAdded
    | SymbolsRemoved
    | PairsLoaded
    | PrivateSubscribing
    | PrivateDisconnected
    | RecoveryBegan
    | RecoveryEnded
    | TradesAnswered
    | LedgerAnswered
    | OrdersAnswered
    | BackfillIncomplete
    | OrderPlaced
    | OrdersQueried
    | ReconcileAnswered
    | ReconcileFailed
    | DecisionApplied
    | OrderRefused
    | TradingStopped
)

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(AnyStep)


def encode_step(step: Step) -> bytes:
    return _ENCODER.encode(step)


def decode_step(data: bytes) -> Step:
    """A step from its bytes.

    Raises:
        msgspec.DecodeError: not a step (the capture reader names the file and the byte).
    """
    step: Step = _DECODER.decode(data)
    return step
