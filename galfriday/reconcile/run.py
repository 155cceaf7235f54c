"""One reconciliation run, the decisions: from REST answers and the account's state to what
is compared, and from the comparison to what is recorded, corrected and queued (pure).

The shell (:mod:`galfriday.live.reconciliation`) asks the exchange and hands the answers here:

- :func:`exchange_view` turns them into the :class:`~galfriday.reconcile.compare.ExchangeView`
  (spot balances only: earn holdings under suffixed codes and fee credits are not compared;
  fills only from the engine's first run on; orders and trades of the last ``settle`` seconds
  marked recent);
- :func:`ledger_verdicts` sorts the ledger entries since the previous run: known to the stream,
  already inside a later stream total, newer than the ``Balance`` answer (their asset waits), or
  missed (to explain);
- :func:`internal_view` is galfriday's side;
- :func:`settle` turns a :class:`~galfriday.reconcile.compare.ReconcileResult` into events:
  adjustments (each with the balance it sets), discrepancies, review items (not twice for one
  already waiting), alerts for critical and high ones, and the run's report;
- :func:`retry_delay` is the schedule after failures, :func:`decision_adjustment` what a
  person's decision sets.

Pure: no I/O, no clock, no trio; times come in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import msgspec

from galfriday.core.orders import OrderTracker
from galfriday.core.portfolio import Portfolio
from galfriday.events import (
    Alert,
    BalanceAdjusted,
    Discrepancy,
    Event,
    ReconciliationReport,
    ReviewItem,
    Severity,
)
from galfriday.kraken.answers import RestLedgerEntry, RestOrder, RestTrade
from galfriday.kraken.convert import ledger_record
from galfriday.kraken.symbols import SymbolMap, UnknownSymbol
from galfriday.reconcile.compare import (
    ExchangeOrder,
    ExchangeView,
    InternalOrder,
    InternalView,
    LedgerEntry,
    Limits,
    ReconcileResult,
    Thresholds,
)

__all__ = [
    "FEE_CREDITS",
    "Answers",
    "ReconcileConfig",
    "Settled",
    "decision_adjustment",
    "exchange_view",
    "internal_view",
    "ledger_verdicts",
    "retry_delay",
    "review_id",
    "settle",
    "spot_balances",
]

FEE_CREDITS: Final = frozenset({"KFEE", "FEE"})  # REST and WS v2 names of Kraken fee credits
REVIEWED_BALANCES: Final = frozenset(
    {
        "balance_mismatch",
        "quantity_mismatch",
        "position_missing_internally",
        "position_missing_exchange",
    }
)
_JSON: Final = msgspec.json.Encoder(decimal_format="string")


@dataclass(frozen=True)
class ReconcileConfig:
    interval: float = 3600.0
    retry_base: float = 30.0
    retry_max: float = 600.0
    alert_after_failures: int = 3
    review_poll: float = 5.0
    # An order opened or closed, or a trade made, this close before a run may still be on its
    # way over the stream: a disagreement about it waits for the next run instead of review.
    settle: float = 5.0
    history_pages: int = 10  # pages of one history window a run may read (each costs 2)
    thresholds: Thresholds = field(default_factory=Thresholds)
    limits: Limits = field(default_factory=Limits)


def retry_delay(failures: int, config: ReconcileConfig) -> float:
    """Seconds before the next try after ``failures`` failed runs in a row: ``retry_base``
    doubling, at most ``retry_max``."""
    return min(config.retry_max, config.retry_base * 2.0 ** min(max(failures, 1) - 1, 30))


@dataclass
class Answers:
    """What a run asked the exchange (balances in REST codes, orders by id, trades by id)."""

    balance: dict[str, Decimal]
    orders: dict[str, RestOrder]  # open, closed within the window, and queried
    unknown: set[str]  # ids QueryOrders said it does not know
    trades: dict[str, RestTrade]
    not_covered: list[str] = field(default_factory=list)  # history windows not read through
    ledger: dict[str, RestLedgerEntry] | None = None  # since the previous run (None: first)


def spot_balances(balances: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Balances (in WS names) that compare with the stream's spot balances: not the earn
    holdings Kraken lists under suffixed codes (``BTC.F``, ``DOT.S``: the stream counts those
    in earn wallets), not fee credits (``KFEE``)."""
    return {
        asset: amount
        for asset, amount in balances.items()
        if "." not in asset and asset not in FEE_CREDITS
    }


def exchange_view(
    answers: Answers, names: SymbolMap, now: float, settle: float, fills_since: float
) -> ExchangeView:
    """The exchange's side of the comparison."""
    balances = spot_balances({names.ws_asset(a): v for a, v in answers.balance.items()})
    since = now - settle
    recent = {
        order_id
        for order_id, order in answers.orders.items()
        if (order.closetm or order.opentm or 0.0) >= since
    }
    for trade_id, trade in answers.trades.items():
        if trade.time >= since:
            recent.update((trade_id, trade.ordertxid))
    return ExchangeView(
        balances=balances,
        orders={i: _exchange_order(i, o, names) for i, o in answers.orders.items()},
        # Fills from before this engine's first run are history the balances already hold
        # (and more than a snapshot's last 50): only later ones can have been missed.
        fills=frozenset(t for t, trade in answers.trades.items() if trade.time >= fills_since),
        recent=frozenset(recent),
        unknown=frozenset(answers.unknown),
    )


def _exchange_order(order_id: str, order: RestOrder, names: SymbolMap) -> ExchangeOrder:
    pair = order.descr.pair
    try:
        symbol = names.ws_symbol(pair) if pair else None
    except UnknownSymbol:
        symbol = None
    return ExchangeOrder(
        order_id=order_id, status=order.status, filled=order.vol_exec, symbol=symbol
    )


@dataclass
class LedgerVerdicts:
    missed: list[LedgerEntry] = field(default_factory=list)  # to explain
    late: set[str] = field(default_factory=set)  # assets to defer: entries after Balance
    reflected: list[str] = field(default_factory=list)  # inside a later stream total


def ledger_verdicts(
    entries: Mapping[str, RestLedgerEntry], portfolio: Portfolio, names: SymbolMap, now: float
) -> LedgerVerdicts:
    """Sort the ledger entries since the previous run (see the module docstring). Entries of
    earn wallets and fee credits are not spot and are left out."""
    verdicts = LedgerVerdicts()
    for ledger_id, entry in sorted(entries.items(), key=lambda kv: kv[1].time):
        record = ledger_record(ledger_id, entry, names)
        asset = record.asset
        if portfolio.knows_ledger(ledger_id) or not spot_balances({asset: Decimal(0)}):
            continue
        if record.time >= now:
            verdicts.late.add(asset)
        elif portfolio.reflects(asset, record.time):
            verdicts.reflected.append(ledger_id)
        else:
            verdicts.missed.append(
                LedgerEntry(
                    ledger_id=ledger_id,
                    asset=asset,
                    amount=record.amount,
                    fee=record.fee,
                    kind=record.ledger_type,
                )
            )
    return verdicts


def internal_view(
    orders: OrderTracker, portfolio: Portfolio, pairs: tuple[str, ...], unsettled: Set[str]
) -> InternalView:
    """galfriday's side of the comparison (``unsettled``: what moved during the fetch)."""
    return InternalView(
        balances=spot_balances(portfolio.balances),
        symbols=pairs,
        orders={
            o.order_id: InternalOrder(order_id=o.order_id, status=o.status.value, filled=o.cum_qty)
            for o in orders.orders()
        },
        fills=orders.fill_ids(),
        unsettled=frozenset(unsettled),
    )


@dataclass
class Settled:
    """What a run records: events to emit (in order) and the balances to set."""

    events: list[Event] = field(default_factory=list)
    balances: list[tuple[str, Decimal]] = field(default_factory=list)  # (asset, new spot)


def review_id(run_id: str, kind: str, subject: str) -> str:
    """A review item's id: short, and the same when a capture of the run is replayed."""
    return hashlib.sha256(f"{run_id}/{kind}/{subject}".encode()).hexdigest()[:10]


def settle(
    run_id: str,
    result: ReconcileResult,
    balances: Mapping[str, Decimal],
    queued: Set[tuple[str, str]],
    wall: float,
) -> Settled:
    """The events of a run's findings (``balances``: the spot balances before it; ``queued``:
    (kind, subject) of review items still open, not queued or alerted twice)."""
    out = Settled()
    current = dict(balances)

    def adjust(subject: str, kind: str, old: Decimal, new: Decimal, reason: str) -> None:
        out.events.append(
            BalanceAdjusted(
                run_id=run_id,
                subject=subject,
                kind=kind,
                old=old,
                new=new,
                reason=reason,
                received_at=wall,
            )
        )
        asset = subject.split("/", 1)[0]
        current[asset] = new
        out.balances.append((asset, new))

    for explained in result.explained:
        old = current.get(explained.asset, Decimal(0))
        reason = f"ledger {', '.join(explained.ledger_ids)} ({', '.join(explained.kinds)})"
        adjust(explained.asset, "explained", old, old + explained.delta, reason)
    for c in result.corrections:
        adjust(c.subject, c.kind, c.old, c.new, c.reason)
    for item in result.discrepancies:
        out.events.append(msgspec.structs.replace(item, run_id=run_id, received_at=wall))
    for item in result.review:
        if (item.kind, item.subject) in queued:
            continue  # already waiting for a person
        out.events.append(
            ReviewItem(
                item_id=review_id(run_id, item.kind, item.subject),
                run_id=run_id,
                kind=item.kind,
                subject=item.subject,
                severity=item.severity,
                internal=item.internal,
                exchange=item.exchange,
                created_at=wall,
                received_at=wall,
            )
        )
        if item.severity in (Severity.CRITICAL, Severity.HIGH):
            message = f"{item.kind} {item.subject}: ours {item.internal}, exchange {item.exchange}"
            out.events.append(
                Alert(severity=item.severity, source="reconcile", message=message, received_at=wall)
            )
    return out


def report(
    run_id: str,
    kind: str,
    result: ReconcileResult,
    not_covered: list[str],
    rest_calls: int,
    duration_ms: float,
    wall: float,
) -> ReconciliationReport:
    """The run's report event (its JSON ``report`` holds every finding)."""
    document = {
        "discrepancies": [_finding(d) for d in result.discrepancies],
        "explained": [msgspec.to_builtins(e) for e in result.explained],
        "corrections": [msgspec.to_builtins(c) for c in result.corrections],
        "by_severity": {s.value: result.count(s) for s in Severity},
        "deferred": list(result.deferred),
        # History windows not read to their end within the call budget: what is in them
        # beyond the pages read was not compared.
        "not_covered": not_covered,
    }
    return ReconciliationReport(
        run_id=run_id,
        kind=kind,
        status="discrepancies" if result.discrepancies else "clean",
        discrepancies=len(result.discrepancies),
        corrected=len(result.corrections),
        review=len(result.review),
        explained=len(result.explained),
        rest_calls=rest_calls,
        duration_ms=duration_ms,
        report=_JSON.encode(document).decode(),
        received_at=wall,
    )


def _finding(item: Discrepancy) -> dict[str, Any]:
    found: dict[str, Any] = msgspec.to_builtins(item)
    found.pop("run_id", None)  # the report's own
    return found


def decision_adjustment(
    row: Mapping[str, Any], balances: Mapping[str, Decimal], wall: float
) -> BalanceAdjusted | None:
    """What a person's decision on a review item sets: accepting the exchange's value of a
    balance or a position sets it; anything else sets nothing."""
    if row["decision"] != "accept-exchange" or row["kind"] not in REVIEWED_BALANCES:
        return None
    subject = str(row["subject"])
    old = balances.get(subject.split("/", 1)[0], Decimal(0))
    return BalanceAdjusted(
        run_id=str(row["reconciliation_id"]),
        subject=subject,
        kind="review",
        old=old,
        new=Decimal(str(row["exchange"])),
        reason=f"review {row['id']}: {row.get('note') or ''}",
        received_at=wall,
    )
