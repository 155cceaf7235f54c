"""The reconciliation service: when to reconcile, fetching the exchange's view, acting on it.

:meth:`ReconcileService.run` runs one reconciliation at start-up, then on a schedule (hourly by
default), after every private-stream reconnect and after the recovery from a sequence gap has
finished (it listens on the bus; reconciling during the recovery would defer everything the
fresh snapshots touch), and on demand (:meth:`trigger`); never two at once, and never while
the private stream is down. A run:

1. fetches the exchange's view over REST (``Balance``, ``OpenOrders``, ``ClosedOrders`` and
   ``TradesHistory`` for the last 24 h, ``QueryOrders`` for orders we hold open that those
   lists lack, ``Ledgers`` since the previous run), through the REST client's call counter;
2. builds galfriday's view from the private stream (balances, orders, fills);
3. :func:`~galfriday.reconcile.compare.reconcile` decides; explained ledger entries and
   corrections are applied to the portfolio, review items are queued;
4. audits everything (``reconciliation_events`` with the report as JSON, ``discrepancies``,
   ``position_adjustments``, ``review_queue``, ``alerts``) and publishes the discrepancies and
   alerts on the bus.

A run that fails (REST down) is recorded as failed and retried with backoff (30 s, 60 s,
120 s, ..., at most 10 minutes apart); three failures in a row raise a critical alert. An order
we hold open that the exchange does not know is queried alone and goes to review, never fails
a run. Decisions taken with
``galfriday review resolve`` are picked up from the database and applied within seconds.

Replay: a run and a decision are tape operations; run and review ids derive from the session
and the operation, times from the operation, and the open review items a run reads are
recorded, so ``galfriday replay`` reproduces every row of a run from a capture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import msgspec
import trio
from loguru import logger

from galfriday.audit.store import AuditStore
from galfriday.bus import Bus
from galfriday.capture.tape import Tape
from galfriday.errors import GalfridayError
from galfriday.events import (
    Alert,
    ConnectionState,
    ConnectionStateChanged,
    ReconciliationReport,
    RecoveryFinished,
    Severity,
)
from galfriday.kraken import history
from galfriday.kraken.answers import RestOrder, RestTrade, decode_balance, decode_open_orders
from galfriday.kraken.convert import ledger_record, ws_balances
from galfriday.kraken.rest import KrakenRest
from galfriday.kraken.symbols import SymbolMap
from galfriday.live.private import PrivateStream
from galfriday.reconcile.compare import (
    ExchangeOrder,
    ExchangeView,
    InternalOrder,
    InternalView,
    LedgerEntry,
    Limits,
    ReconcileResult,
    Thresholds,
    reconcile,
)

__all__ = ["ReconcileConfig", "ReconcileService"]

DAY: Final = 24 * 3600.0
ZERO: Final = Decimal(0)
FEE_CREDITS: Final = frozenset({"KFEE", "FEE"})  # REST and WS v2 names of Kraken fee credits
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


class ReconcileService:
    """Reconciles one account; owns no connection, only REST calls and the private stream."""

    def __init__(
        self,
        config: ReconcileConfig,
        rest: KrakenRest,
        account: PrivateStream,
        symbols: SymbolMap,
        pairs: tuple[str, ...],
        bus: Bus,
        audit: Callable[..., None],
        read: Callable[[Callable[[AuditStore], Any]], Awaitable[Any]] | None = None,
        tape: Tape | None = None,
    ) -> None:
        self.config = config
        self.tape = tape or Tape()
        self.rest = rest
        self.account = account
        self.symbols = symbols
        self.pairs = pairs
        self.bus = bus
        self._audit = audit
        self._read = read
        self._lock = trio.Lock()
        self._wake = trio.Event()
        self._reason = "scheduled"
        self.failures = 0
        self.runs = 0
        self.last: ReconcileResult | None = None
        self.last_run_id: str | None = None
        self._applied: set[str] = set()  # decisions applied, until their row says so
        # Ledger entries before the first run are already in the balances snapshot.
        self._ledger_since: float | None = None
        self._fills_since: float | None = None  # the first run's time

    def trigger(self, reason: str = "manual") -> None:
        """Ask for a run as soon as possible."""
        self._reason = reason
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile at start-up (before reporting started), on schedule, on triggers; forever.

        A run waits while the private stream is down (nothing to compare, and its REST calls
        would only queue behind the reconnect); the reconnect itself triggers a run.
        """
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._listen)
            if self._read is not None:
                nursery.start_soon(self._apply_decisions)
            ok = await self.run_once("startup")
            task_status.started()
            while True:
                wait = self.config.interval if ok else self.retry_delay()
                with trio.move_on_after(wait):
                    await self._wake.wait()
                await self.account.wait_live()
                woken = self._wake.is_set()
                reason = self._reason if woken else ("scheduled" if ok else "retry")
                self._wake = trio.Event()
                self._reason = "scheduled"
                ok = await self.run_once(reason)

    def retry_delay(self) -> float:
        """Seconds before the next try after :attr:`failures` failed runs in a row:
        ``retry_base`` doubling, at most ``retry_max``."""
        exponent = min(self.failures - 1, 30)
        return min(self.config.retry_max, self.config.retry_base * 2.0**exponent)

    async def _listen(self) -> None:
        """Every private (re)subscription after start-up, and the end of every gap recovery,
        triggers a run (start-up has its own)."""
        subscription = self.bus.subscribe(ConnectionStateChanged, RecoveryFinished, capacity=256)
        async with subscription as events:
            async for event in events:
                if isinstance(event, RecoveryFinished):
                    self.trigger("gap")
                elif (
                    isinstance(event, ConnectionStateChanged)
                    and event.connection == "private"
                    and event.new is ConnectionState.SUBSCRIBED
                ):
                    self.trigger("reconnect")

    # --- one run ---------------------------------------------------------------------------

    async def run_once(self, kind: str) -> bool:
        """One reconciliation; returns False if it failed (it is then recorded as failed)."""
        async with self._lock:
            with self.tape.op("reconcile", kind=kind) as op:
                run_id = f"{self.tape.session[:6]}{op.id:06d}"
                return await self._run(op.args["kind"], run_id, op.wall)

    async def _run(self, kind: str, run_id: str, started: float) -> bool:
        clock = trio.current_time()
        calls_before = self.rest.calls
        try:
            with self.account.watching() as moved:
                fetched = await self._exchange_view(started)
        except GalfridayError as exc:  # an outage, or an answer that cannot be read
            self._failed(run_id, kind, started, clock, calls_before, exc)
            return False
        exchange, missed = fetched.view, fetched.missed
        if fetched.not_covered:
            logger.warning(
                "reconciliation {}: {} not read to the end of the window",
                run_id,
                ", ".join(fetched.not_covered),
            )
        unsettled = frozenset(moved | fetched.late)
        internal = msgspec.structs.replace(self._internal_view(), unsettled=unsettled)
        queued: set[tuple[str, str]] = set()
        if self._read is not None:
            read = self._read
            keys = await self.tape.read_input("open_review_keys", lambda: read(_open_review_keys))
            queued = {(str(k), str(s)) for k, s in keys}
        result = reconcile(
            internal,
            exchange,
            missed,
            thresholds=self.config.thresholds,
            limits=self.config.limits,
            at=started,
        )
        self._apply(run_id, result, missed, started, queued)
        self._record(run_id, kind, result, started, clock, calls_before, fetched.not_covered)
        self.failures = 0
        self.runs += 1
        self.last, self.last_run_id = result, run_id
        self._ledger_since = started
        return True

    async def _exchange_view(self, now: float) -> _Fetched:
        """The exchange's balances, orders, fills (with those that changed within ``settle``
        seconds before ``now`` or later marked recent: the stream's report of them may still be
        on its way) and the ledger entries the stream missed; the assets with ledger entries
        from after ``now`` (when Balance was asked: the answer may or may not include them, so
        those assets wait for the next run); and the history windows not read to their end."""
        rest, names, pages = self.rest, self.symbols, self.config.history_pages
        since = self._fills_since = now if self._fills_since is None else self._fills_since
        balances = spot_balances(ws_balances(decode_balance(await rest.private("Balance")), names))
        orders = dict(decode_open_orders(await rest.private("OpenOrders")).open)
        closed = await history.closed_orders(rest, start=now - DAY, max_pages=pages)
        orders.update(closed.rows)
        ours_open = [o.order_id for o in self.account.orders.open_orders()]
        queried, unknown = await history.query_orders(
            rest, [i for i in ours_open if i not in orders]
        )
        orders.update(queried)
        trades = await history.trades_history(rest, start=now - DAY, max_pages=pages)
        fetched = _Fetched(
            view=ExchangeView(
                balances=balances,
                orders={i: _exchange_order(i, o, names) for i, o in orders.items()},
                # Fills from before this engine's first run are history the balances already
                # hold (and more than a snapshot's last 50): only later ones can be missed.
                fills=frozenset(t for t, trade in trades.rows.items() if trade.time >= since),
                recent=frozenset(_recent(orders, trades.rows, now - self.config.settle)),
                unknown=frozenset(unknown),
            ),
            not_covered=[
                n for n, h in (("ClosedOrders", closed), ("TradesHistory", trades)) if not h.covered
            ],
        )
        if self._ledger_since is None:
            return fetched
        entries = await history.ledgers(rest, start=self._ledger_since, max_pages=pages)
        if not entries.covered:
            fetched.not_covered.append("Ledgers")
        portfolio = self.account.portfolio
        for ledger_id, entry in sorted(entries.rows.items(), key=lambda kv: kv[1].time):
            record = ledger_record(ledger_id, entry, names)
            asset = record.asset
            if portfolio.knows_ledger(ledger_id) or asset not in spot_balances({asset: ZERO}):
                continue  # known, or an earn wallet's or fee credits' entry: not spot
            if record.time >= now:
                fetched.late.add(asset)
            elif portfolio.reflects(asset, record.time):
                portfolio.mark_ledger_seen(ledger_id, now)  # a later stream total includes it
            else:
                fetched.missed.append(
                    LedgerEntry(
                        ledger_id=ledger_id,
                        asset=asset,
                        amount=record.amount,
                        fee=record.fee,
                        kind=record.ledger_type,
                    )
                )
        return fetched

    def _internal_view(self) -> InternalView:
        tracker = self.account.orders
        return InternalView(
            balances=spot_balances(dict(self.account.portfolio.balances)),
            symbols=self.pairs,
            orders={
                o.order_id: InternalOrder(
                    order_id=o.order_id, status=o.status.value, filled=o.cum_qty
                )
                for o in tracker.orders()
            },
            fills=tracker.fill_ids(),
        )

    def _apply(
        self,
        run_id: str,
        result: ReconcileResult,
        missed: list[LedgerEntry],
        wall: float,
        queued: set[tuple[str, str]],
    ) -> None:
        portfolio = self.account.portfolio
        for entry in missed:
            portfolio.mark_ledger_seen(entry.ledger_id, wall)
        for explained in result.explained:
            old = portfolio.balances.get(explained.asset, Decimal(0))
            reason = f"ledger {', '.join(explained.ledger_ids)} ({', '.join(explained.kinds)})"
            self._adjust(
                run_id, explained.asset, "explained", old, old + explained.delta, reason, wall
            )
        for correction in result.corrections:
            self._adjust(
                run_id,
                correction.subject,
                correction.kind,
                correction.old,
                correction.new,
                correction.reason,
                wall,
            )
        for item in result.discrepancies:
            self.bus.publish(item)
            self._audit(
                "discrepancies",
                reconciliation_id=run_id,
                kind=item.kind,
                subject=item.subject,
                severity=item.severity,
                internal=item.internal,
                exchange=item.exchange,
                detail=item.detail,
                at_wall=wall,
            )
        for item in result.review:
            if (item.kind, item.subject) in queued:
                continue  # already waiting for a person: not queued (or alerted) twice
            self._audit(
                "review_queue",
                id=_review_id(run_id, item.kind, item.subject),
                reconciliation_id=run_id,
                kind=item.kind,
                subject=item.subject,
                severity=item.severity,
                internal=item.internal,
                exchange=item.exchange,
                created_wall=wall,
                status="open",
            )
            if item.severity in (Severity.CRITICAL, Severity.HIGH):
                self._alert(
                    item.severity,
                    f"{item.kind} {item.subject}: ours {item.internal}, exchange {item.exchange}",
                    wall,
                )

    def _adjust(
        self,
        run_id: str,
        subject: str,
        kind: str,
        old: Decimal,
        new: Decimal,
        reason: str,
        wall: float,
    ) -> None:
        """Set a balance (``subject`` an asset, or a pair for its base asset), and audit it."""
        self._audit(
            "position_adjustments",
            reconciliation_id=run_id,
            subject=subject,
            adjustment_type=kind,
            old_value=old,
            new_value=new,
            reason=reason,
            at_wall=wall,
        )
        self.account.record_balance(subject.split("/", 1)[0], new, wall)

    def _record(
        self,
        run_id: str,
        kind: str,
        result: ReconcileResult,
        wall: float,
        clock: float,
        calls_before: int,
        not_covered: list[str],
    ) -> None:
        report = {
            "discrepancies": [msgspec.to_builtins(d) for d in result.discrepancies],
            "explained": [msgspec.to_builtins(e) for e in result.explained],
            "corrections": [msgspec.to_builtins(c) for c in result.corrections],
            "by_severity": {s.value: result.count(s) for s in Severity},
            "deferred": list(result.deferred),
            # History windows not read to their end within the call budget: what is in them
            # beyond the pages read was not compared.
            "not_covered": not_covered,
        }
        self._audit(
            "reconciliation_events",
            id=run_id,
            at_wall=wall,
            type=kind,
            status="discrepancies" if result.discrepancies else "clean",
            discrepancies=len(result.discrepancies),
            auto_corrected=len(result.corrections),
            manual_review=len(result.review),
            explained=len(result.explained),
            rest_calls=self.rest.calls - calls_before,
            duration_ms=(trio.current_time() - clock) * 1000,
            report=_JSON.encode(report).decode(),
        )
        self.bus.publish(
            ReconciliationReport(
                run_id=run_id,
                kind=kind,
                status="discrepancies" if result.discrepancies else "clean",
                discrepancies=len(result.discrepancies),
                corrected=len(result.corrections),
                review=len(result.review),
                explained=len(result.explained),
                received_at=wall,
            )
        )
        logger.info(
            "reconciliation {} ({}): {} discrepancies, {} corrected, {} to review, {} explained",
            run_id,
            kind,
            len(result.discrepancies),
            len(result.corrections),
            len(result.review),
            len(result.explained),
        )

    def _failed(
        self, run_id: str, kind: str, wall: float, clock: float, calls_before: int, exc: Exception
    ) -> None:
        self.failures += 1
        self._audit(
            "reconciliation_events",
            id=run_id,
            at_wall=wall,
            type=kind,
            status="failed",
            rest_calls=self.rest.calls - calls_before,
            duration_ms=(trio.current_time() - clock) * 1000,
            error=str(exc)[:500],
        )
        self.bus.publish(
            ReconciliationReport(run_id=run_id, kind=kind, status="failed", received_at=wall)
        )
        logger.warning("reconciliation {} failed ({} in a row): {}", run_id, self.failures, exc)
        if self.failures >= self.config.alert_after_failures:
            self._alert(
                Severity.CRITICAL,
                f"reconciliation failed {self.failures} times in a row: {exc}",
                wall,
            )

    def _alert(self, level: Severity, message: str, wall: float) -> None:
        self.bus.publish(
            Alert(severity=level, source="reconcile", message=message, received_at=wall)
        )
        self._audit("alerts", at_wall=wall, severity=level, source="reconcile", message=message)
        (logger.error if level is Severity.CRITICAL else logger.warning)("alert: {}", message)

    # --- review decisions --------------------------------------------------------------------

    async def _apply_decisions(self) -> None:
        while True:
            await trio.sleep(self.config.review_poll)
            await self.apply_pending_decisions()

    async def apply_pending_decisions(self) -> int:
        """Apply every decision taken with ``galfriday review resolve``; how many there were."""
        if self._read is None:
            return 0
        rows = [r for r in await self._read(_resolved_rows) if r["id"] not in self._applied]
        for row in rows:
            self.apply_decision(row)
        return len(rows)

    def apply_decision(self, row: dict[str, Any]) -> None:
        """Apply a person's decision on one review item to the internal state, and audit it."""
        with self.tape.op("decision", row=row) as op:
            self._apply_decision(op.args["row"], op.wall)

    def _apply_decision(self, row: dict[str, Any], wall: float) -> None:
        self._applied.add(str(row["id"]))
        if row["decision"] == "accept-exchange" and row["kind"] in (
            "balance_mismatch",
            "quantity_mismatch",
            "position_missing_internally",
            "position_missing_exchange",
        ):
            asset = str(row["subject"]).split("/", 1)[0]
            old = self.account.portfolio.balances.get(asset, Decimal(0))
            self._adjust(
                str(row["reconciliation_id"]),
                str(row["subject"]),
                "review",
                old,
                Decimal(str(row["exchange"])),
                f"review {row['id']}: {row.get('note') or ''}",
                wall,
            )
        self._audit("review_queue", **{**row, "status": "applied", "applied_wall": wall})


def spot_balances(balances: dict[str, Decimal]) -> dict[str, Decimal]:
    """The assets of a REST ``Balance`` answer (in WS names) that compare with the stream's
    spot balances: not the earn holdings Kraken lists under suffixed codes (``BTC.F``,
    ``DOT.S``: the stream counts those in earn wallets), not fee credits (``KFEE``)."""
    return {
        asset: amount
        for asset, amount in balances.items()
        if "." not in asset and asset not in FEE_CREDITS
    }


def _open_review_keys(store: AuditStore) -> list[list[str]]:
    cursor = store.db.execute(
        "SELECT kind, subject FROM review_queue WHERE status = 'open' ORDER BY kind, subject"
    )
    return [[str(kind), str(subject)] for kind, subject in cursor.fetchall()]


def _review_id(run_id: str, kind: str, subject: str) -> str:
    """A review item's id: short, and the same when a capture of the run is replayed."""
    return hashlib.sha256(f"{run_id}/{kind}/{subject}".encode()).hexdigest()[:10]


def _resolved_rows(store: AuditStore) -> list[dict[str, Any]]:
    cursor = store.db.execute("SELECT * FROM review_queue WHERE status = 'resolved'")
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _recent(orders: dict[str, RestOrder], trades: dict[str, RestTrade], since: float) -> set[str]:
    """Orders opened or closed, and trades (and their orders) made, at or after ``since``."""
    recent = {
        order_id
        for order_id, order in orders.items()
        if (order.closetm or order.opentm or 0.0) >= since
    }
    for trade_id, trade in trades.items():
        if trade.time >= since:
            recent.update((trade_id, trade.ordertxid))
    return recent


def _exchange_order(order_id: str, order: RestOrder, names: SymbolMap) -> ExchangeOrder:
    pair = order.descr.pair
    try:
        symbol = names.ws_symbol(pair) if pair else None
    except GalfridayError:
        symbol = None
    return ExchangeOrder(
        order_id=order_id, status=order.status, filled=order.vol_exec, symbol=symbol
    )


@dataclass
class _Fetched:
    """What a run learnt from the exchange (see :meth:`ReconcileService._exchange_view`)."""

    view: ExchangeView
    missed: list[LedgerEntry] = field(default_factory=list)
    late: set[str] = field(default_factory=set)
    not_covered: list[str] = field(default_factory=list)
