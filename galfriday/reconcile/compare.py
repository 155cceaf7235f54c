"""Reconciliation, the pure part: compare galfriday's view with the exchange's (sans-IO).

:func:`reconcile` takes both views and the ledger entries the private stream may have missed,
and decides: which differences are *explained* by those ledger entries (applied, reported, not
blamed), which remain (:class:`~galfriday.events.Discrepancy`, graded by severity), which of
those are small enough to *correct* toward the exchange, and which go to a person (the review
queue).

Severity of a numeric difference, relative to the exchange's value (the truth), with the
default :class:`Thresholds`:

- zero against non-zero (either way): critical;
- above 10 %: critical; from 5 % to 10 %: high; from 1 % up to 5 %: medium; below 1 %: low.

A position missing on either side is critical. An untracked order, an order in another state
than ours, an order we hold open that the exchange does not know, and a fill we never saw are
high.

Corrections (configurable limits): a position difference of at most 0.01 units and a balance
difference of at most 0.001 units are set to the exchange's value; a position missing
internally is added when it is that small; a position is never deleted automatically. Every
other discrepancy goes to review.

Exact ``Decimal`` arithmetic throughout; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final, TypeAlias, TypeVar

import msgspec

from galfriday.events import Discrepancy, Severity

_V = TypeVar("_V")

__all__ = [
    "Correction",
    "ExchangeOrder",
    "ExchangeView",
    "Explained",
    "InternalOrder",
    "InternalView",
    "LedgerEntry",
    "Limits",
    "ReconcileResult",
    "Thresholds",
    "reconcile",
    "severity",
]

ZERO: Final = Decimal(0)
OPEN_STATES: Final = frozenset({"pending_new", "new", "partially_filled", "open", "pending"})


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    critical: Decimal = Decimal("0.10")
    high: Decimal = Decimal("0.05")
    medium: Decimal = Decimal("0.01")


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """How large a difference may be corrected automatically (absolute units)."""

    position: Decimal = Decimal("0.01")
    balance: Decimal = Decimal("0.001")


class ExchangeOrder(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    status: str  # REST: pending, open, closed, canceled, expired
    filled: Decimal = ZERO
    symbol: str | None = None


class InternalOrder(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    status: str  # WS: pending_new, new, partially_filled, filled, canceled, expired
    filled: Decimal = ZERO


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    ledger_id: str
    asset: str
    amount: Decimal
    fee: Decimal = ZERO
    kind: str = ""


class ExchangeView(msgspec.Struct, frozen=True, kw_only=True):
    balances: dict[str, Decimal]
    orders: dict[str, ExchangeOrder] = {}  # open, and closed within the window
    fills: frozenset[str] = frozenset()  # exec ids within the window
    # Orders and trades that changed on the exchange just before the run: the stream's report
    # of them may still be on its way, so a disagreement about them waits for the next run.
    recent: frozenset[str] = frozenset()
    # Orders we asked about that the exchange does not know (QueryOrders: EOrder:Invalid order).
    unknown: frozenset[str] = frozenset()


class InternalView(msgspec.Struct, frozen=True, kw_only=True):
    balances: dict[str, Decimal]
    symbols: tuple[str, ...] = ()  # pairs whose positions are reconciled
    orders: dict[str, InternalOrder] = {}
    fills: frozenset[str] = frozenset()
    # Assets and order ids the stream changed while the exchange's view was being fetched:
    # the exchange's answer may predate the change, so they are deferred to the next run.
    unsettled: frozenset[str] = frozenset()


class Explained(msgspec.Struct, frozen=True, kw_only=True):
    """A balance change the stream missed, explained by ledger entries."""

    asset: str
    delta: Decimal
    ledger_ids: tuple[str, ...]
    kinds: tuple[str, ...]


class Correction(msgspec.Struct, frozen=True, kw_only=True):
    """Set ``subject`` (an asset, or a pair for a position) from ``old`` to ``new``."""

    kind: str  # "balance" or "position"
    subject: str
    old: Decimal
    new: Decimal
    reason: str


_Finding: TypeAlias = tuple[Discrepancy, Correction | None]  # no correction: it goes to review


class ReconcileResult(msgspec.Struct, frozen=True, kw_only=True):
    discrepancies: tuple[Discrepancy, ...]
    explained: tuple[Explained, ...]
    corrections: tuple[Correction, ...]
    review: tuple[Discrepancy, ...]
    deferred: tuple[str, ...] = ()  # unsettled subjects not compared this time

    def count(self, level: Severity) -> int:
        return sum(1 for d in self.discrepancies if d.severity is level)


def severity(internal: Decimal, exchange: Decimal, thresholds: Thresholds) -> Severity | None:
    """The severity of ``internal`` differing from ``exchange``; None when they are equal."""
    if internal == exchange:
        return None
    if internal == ZERO or exchange == ZERO:
        return Severity.CRITICAL
    ratio = abs(internal - exchange) / abs(exchange)
    if ratio > thresholds.critical:
        return Severity.CRITICAL
    if ratio >= thresholds.high:
        return Severity.HIGH
    if ratio >= thresholds.medium:
        return Severity.MEDIUM
    return Severity.LOW


def reconcile(
    internal: InternalView,
    exchange: ExchangeView,
    missed_ledger: Iterable[LedgerEntry] = (),
    *,
    thresholds: Thresholds | None = None,
    limits: Limits | None = None,
    at: float = 0.0,
) -> ReconcileResult:
    """Compare, explain, grade, and decide what to correct and what to review.

    Subjects in ``internal.unsettled`` are left out of this run (and listed as deferred):
    comparing them would compare the stream's newer news with the exchange's older answer,
    and "correct" a right figure to a stale one. Orders and trades in ``exchange.recent`` that
    disagree are deferred too, rather than queued for review: the stream's report of them
    may still be on its way.
    """
    internal, exchange, missed_ledger, deferred = _set_aside_unsettled(
        internal, exchange, missed_ledger
    )
    thresholds = thresholds or Thresholds()
    limits = limits or Limits()
    balances = dict(internal.balances)
    explained = _explain(balances, exchange.balances, missed_ledger)
    findings = _balance_findings(
        balances, exchange.balances, internal.symbols, thresholds, limits, at
    )
    activity = [
        *_orders(internal.orders, exchange.orders, at, exchange.unknown),
        *_missing_fills(internal.fills, exchange.fills, at),
    ]
    waiting = [item.subject for item in activity if item.subject in exchange.recent]
    findings += [(item, None) for item in activity if item.subject not in exchange.recent]
    return ReconcileResult(
        discrepancies=tuple(item for item, _ in findings),
        explained=tuple(explained),
        corrections=tuple(fix for _, fix in findings if fix is not None),
        review=tuple(item for item, fix in findings if fix is None),
        deferred=tuple(sorted({*deferred, *waiting})),
    )


def _set_aside_unsettled(
    internal: InternalView, exchange: ExchangeView, missed_ledger: Iterable[LedgerEntry]
) -> tuple[InternalView, ExchangeView, Iterable[LedgerEntry], tuple[str, ...]]:
    """Both views and the missed ledger without ``internal.unsettled``'s subjects, and the
    subjects left out (those either view holds a balance or an order for), sorted."""
    unsettled = internal.unsettled
    if not unsettled:
        return internal, exchange, missed_ledger, ()
    held = set(internal.balances) | set(exchange.balances)
    held |= set(internal.orders) | set(exchange.orders)
    deferred = tuple(sorted(unsettled & held))
    internal = msgspec.structs.replace(
        internal,
        balances=_without(internal.balances, unsettled),
        orders=_without(internal.orders, unsettled),
    )
    exchange = msgspec.structs.replace(
        exchange,
        balances=_without(exchange.balances, unsettled),
        orders=_without(exchange.orders, unsettled),
    )
    missed_ledger = [e for e in missed_ledger if e.asset not in unsettled]
    return internal, exchange, missed_ledger, deferred


def _without(mapping: Mapping[str, _V], subjects: frozenset[str]) -> dict[str, _V]:
    return {k: v for k, v in mapping.items() if k not in subjects}


def _explain(
    balances: dict[str, Decimal],
    exchange: Mapping[str, Decimal],
    missed: Iterable[LedgerEntry],
) -> list[Explained]:
    """Apply ledger entries the stream missed to ``balances`` (in place), per asset."""
    by_asset: dict[str, list[LedgerEntry]] = {}
    for entry in missed:
        by_asset.setdefault(entry.asset, []).append(entry)
    out = []
    for asset, entries in sorted(by_asset.items()):
        delta = sum((e.amount - e.fee for e in entries), ZERO)
        balances[asset] = balances.get(asset, ZERO) + delta
        out.append(
            Explained(
                asset=asset,
                delta=delta,
                ledger_ids=tuple(e.ledger_id for e in entries),
                kinds=tuple(sorted({e.kind for e in entries})),
            )
        )
    return out


def _balance_findings(
    balances: Mapping[str, Decimal],
    exchange: Mapping[str, Decimal],
    symbols: Iterable[str],
    thresholds: Thresholds,
    limits: Limits,
    at: float,
) -> list[_Finding]:
    """Each asset whose balance differs, by asset: as a position of the pair it is the base of
    (one of ``symbols``), or else as a balance."""
    bases = {symbol.split("/", 1)[0]: symbol for symbol in symbols}
    findings = []
    for asset in sorted(set(balances) | set(exchange)):
        ours, theirs = balances.get(asset, ZERO), exchange.get(asset, ZERO)
        level = severity(ours, theirs, thresholds)
        if level is None:
            continue
        symbol = bases.get(asset)
        if symbol is not None:
            findings.append(_position(symbol, asset, ours, theirs, level, limits, at))
        else:
            findings.append(_balance(asset, ours, theirs, level, limits, at))
    return findings


def _position(
    symbol: str,
    asset: str,
    ours: Decimal,
    theirs: Decimal,
    level: Severity,
    limits: Limits,
    at: float,
) -> tuple[Discrepancy, Correction | None]:
    if theirs == ZERO:
        kind, level = "position_missing_exchange", Severity.CRITICAL
    elif ours == ZERO:
        kind, level = "position_missing_internally", Severity.CRITICAL
    else:
        kind = "quantity_mismatch"
    item = Discrepancy(
        kind=kind,
        subject=symbol,
        severity=level,
        internal=str(ours),
        exchange=str(theirs),
        received_at=at,
    )
    small = abs(ours - theirs) <= limits.position
    if kind == "position_missing_exchange" or not small:
        return item, None  # never delete a position automatically; large ones need a person
    reason = (
        "small position added"
        if kind == "position_missing_internally"
        else (f"difference {theirs - ours} within {limits.position}")
    )
    return item, Correction(kind="position", subject=symbol, old=ours, new=theirs, reason=reason)


def _balance(
    asset: str, ours: Decimal, theirs: Decimal, level: Severity, limits: Limits, at: float
) -> _Finding:
    item = Discrepancy(
        kind="balance_mismatch",
        subject=asset,
        severity=level,
        internal=str(ours),
        exchange=str(theirs),
        received_at=at,
    )
    if abs(ours - theirs) <= limits.balance:
        reason = f"difference {theirs - ours} within {limits.balance}"
        return item, Correction(kind="balance", subject=asset, old=ours, new=theirs, reason=reason)
    return item, None


def _orders(
    ours: Mapping[str, InternalOrder],
    theirs: Mapping[str, ExchangeOrder],
    at: float,
    unknown: frozenset[str] = frozenset(),
) -> list[Discrepancy]:
    out = [
        Discrepancy(
            kind="order_unknown_to_exchange",
            subject=order_id,
            severity=Severity.HIGH,
            internal=ours[order_id].status,
            exchange=None,
            received_at=at,
        )
        for order_id in sorted(unknown & set(ours))
        if order_id not in theirs
    ]
    for order_id in sorted(set(theirs) - set(ours)):
        order = theirs[order_id]
        if order.status in OPEN_STATES:
            out.append(
                Discrepancy(
                    kind="untracked_order",
                    subject=order_id,
                    severity=Severity.HIGH,
                    internal=None,
                    exchange=order.status,
                    detail=order.symbol or "",
                    received_at=at,
                )
            )
    for order_id in sorted(set(ours) & set(theirs)):
        mine, real = ours[order_id], theirs[order_id]
        if _same_state(mine.status, real.status) and mine.filled == real.filled:
            continue
        out.append(
            Discrepancy(
                kind="order_state_mismatch",
                subject=order_id,
                severity=Severity.HIGH,
                internal=f"{mine.status} filled {mine.filled}",
                exchange=f"{real.status} filled {real.filled}",
                received_at=at,
            )
        )
    return out


def _missing_fills(ours: frozenset[str], theirs: frozenset[str], at: float) -> list[Discrepancy]:
    return [
        Discrepancy(
            kind="fill_missing_internally",
            subject=exec_id,
            severity=Severity.HIGH,
            internal=None,
            exchange=exec_id,
            received_at=at,
        )
        for exec_id in sorted(theirs - ours)
    ]


def _same_state(ws_status: str, rest_status: str) -> bool:
    """Kraken's WS and REST spell order states differently."""
    if ws_status in OPEN_STATES:
        return rest_status in OPEN_STATES
    if ws_status == "filled":
        return rest_status in ("closed", "filled")
    return ws_status == rest_status
