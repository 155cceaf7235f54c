"""The engine's state: the state machines together, and the one place steps are applied.

:class:`EngineState` holds the market-data machine, the account machine (with keys), the names
of pairs and assets, and reconciliation's counters. :meth:`EngineState.receive` takes a frame,
:meth:`EngineState.apply` a :class:`~galfriday.core.steps.Step`; nothing else changes the state.
The live engine and ``galfriday replay`` both drive it, so a capture's frames and steps, applied
in their order, give the same state and the same events (hence the same audit rows).

P&L: :attr:`EngineState.pnl` (a :class:`~galfriday.core.pnl.PnlTracker`) counts every fill
the account machine emits: the state wraps the machine's sink in a
:class:`~galfriday.core.pnl.FillsToPnl`, which follows a counted fill with its symbol's
:class:`~galfriday.events.PnlUpdate`, and the market data machine's in a
:class:`~galfriday.core.pnl.LastTrades`. A machine belongs to the last state built around it
(a stream's own state gives way to the engine's: each fill is counted once).
:meth:`EngineState.mark` is a symbol's verified book mid, or its last public trade;
:meth:`EngineState.pnl_figures` is every symbol's P&L, unrealised at that mark.

Pure: no I/O, no clock, no trio (a frame that breaks a machine is logged).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from loguru import logger

from galfriday.core.account import AccountMachine, Todo
from galfriday.core.frames import Frame, Sink
from galfriday.core.marketdata import MarketDataMachine
from galfriday.core.pnl import FillsToPnl, LastTrades, PnlTracker, SymbolPnl
from galfriday.core.steps import (
    BackfillIncomplete,
    BookResync,
    DecisionApplied,
    LedgerAnswered,
    OrderPlaced,
    OrderRefused,
    OrdersAnswered,
    OrdersQueried,
    PairsLoaded,
    PrivateDisconnected,
    PrivateSubscribing,
    PublicConnected,
    ReconcileAnswered,
    ReconcileFailed,
    RecoveryBegan,
    RecoveryEnded,
    Step,
    SymbolsAdded,
    SymbolsRemoved,
    TradesAnswered,
    TradingStopped,
)
from galfriday.events import (
    Alert,
    FrameRefused,
    OrderAnomaly,
    ReconciliationReport,
    ReviewItem,
    Severity,
)
from galfriday.kraken.convert import symbol_map
from galfriday.kraken.symbols import SymbolMap
from galfriday.reconcile.compare import ReconcileResult, reconcile
from galfriday.reconcile.run import (
    Answers,
    LedgerVerdicts,
    ReconcileConfig,
    decision_adjustment,
    exchange_view,
    internal_view,
    ledger_verdicts,
    report,
    settle,
)

__all__ = ["EngineState"]


class EngineState:
    """Everything the engine knows, changed only by frames and steps.

    Args:
        marketdata: the public feed's machine.
        account: the private stream's machine (None without keys).
        names: pair and asset names (extended by :class:`~galfriday.core.steps.PairsLoaded`).
        pairs: the pairs whose positions are reconciled.
        reconcile: reconciliation's settings (None: no reconciliation).
        sink: where events go.
    """

    def __init__(
        self,
        marketdata: MarketDataMachine,
        account: AccountMachine | None,
        names: SymbolMap,
        pairs: tuple[str, ...],
        reconcile: ReconcileConfig | None,
        sink: Sink,
    ) -> None:
        self.marketdata = marketdata
        self.account = account
        self.names = names
        self.pairs = pairs
        self.reconcile_config = reconcile or ReconcileConfig()
        self.sink = sink
        self.runs = 0
        self.failures = 0
        self.last: ReconcileResult | None = None
        self.last_run_id: str | None = None
        self.ledger_since: float | None = None  # the last run's time: ledger read from there
        self.pnl = PnlTracker()
        self._wire_pnl()

    # --- P&L -------------------------------------------------------------------------------

    def _wire_pnl(self) -> None:
        """Wrap the machines' sinks (unwrapping another state's: this one takes over)."""
        public = self.marketdata.sink
        if isinstance(public, LastTrades):
            public = public.sink
        self.last_trades = LastTrades(public)
        self.marketdata.sink = self.last_trades
        if self.account is not None:
            private = self.account.sink
            if isinstance(private, FillsToPnl):
                private = private.sink
            self.account.sink = FillsToPnl(private, self.pnl, self.mark)

    def mark(self, symbol: str) -> Decimal | None:
        """The price ``symbol``'s position is valued at: the mid of its verified book, or
        without one (unverified, resyncing, a side empty, crossed) its last public trade;
        None when there is neither."""
        feed = self.marketdata.books.get(symbol)
        if feed is not None and feed.verified and not feed.resyncing:
            book = feed.book
            bid, ask = book.best_bid, book.best_ask
            if bid is not None and ask is not None and bid[0] < ask[0]:
                return book.price_of(bid[0] + ask[0]) / 2
        return self.last_trades.prices.get(symbol)

    def pnl_figures(self) -> dict[str, SymbolPnl]:
        """Every symbol a fill was counted for, sorted, to its P&L now: unrealised at its
        :meth:`mark` where there is one (see :class:`~galfriday.core.pnl.SymbolPnl`)."""
        marks = {s: m for s in self.pnl.symbols() if (m := self.mark(s)) is not None}
        return {figures.symbol: figures for figures in self.pnl.snapshots(marks)}

    # --- frames ----------------------------------------------------------------------------

    def receive_public(self, frame: Frame) -> tuple[str, str] | None:
        """One public frame; (symbol, reason) when that book needs a resync. A frame that
        breaks the machine (a bug of ours) is counted, logged and reported, never raised."""
        try:
            return self.marketdata.receive(frame)
        except Exception as exc:  # one bad frame must never stop the market data
            self.marketdata.stats.failed += 1
            self._broke(frame, exc)
            return None

    def receive_private(self, frame: Frame) -> Todo:
        """One private frame; what it asks of the shell. A frame that breaks the machine is
        counted, logged and reported, never raised."""
        if self.account is None:
            return Todo()
        try:
            return self.account.receive(frame)
        except Exception as exc:  # one bad frame must never stop the account stream
            self.account.failed_frames += 1
            self._broke(frame, exc)
            return Todo()

    def _broke(self, frame: Frame, exc: Exception) -> None:
        logger.opt(exception=exc).error("{} frame failed: {}", frame.connection, frame.raw[:200])
        self.sink.emit(frame.refused("$", f"{type(exc).__name__}: {exc}"[:500]))

    # --- steps -------------------------------------------------------------------------------

    def apply(self, step: Step) -> Any:
        """Apply one step; returns what its shell needs to know (see each branch)."""
        if isinstance(step, PublicConnected | BookResync | SymbolsAdded | SymbolsRemoved):
            return self._market(step)
        if isinstance(step, PairsLoaded):
            self._pairs(step)
            return None
        if isinstance(step, ReconcileAnswered | ReconcileFailed | DecisionApplied):
            return self._reconciliation(step)
        if isinstance(step, OrderRefused | TradingStopped):
            self._trading(step)
            return None
        return self._account(step)

    def _trading(self, step: OrderRefused | TradingStopped) -> None:
        """A strategy's order a rail refused, or a strategy that stopped trading."""
        if isinstance(step, OrderRefused):
            price = "market" if step.price is None else f"@ {step.price}"
            detail = f"{step.side} {step.qty} {step.symbol} {price}: {step.rule}"
            self.sink.emit(
                OrderAnomaly(
                    kind="rail_refused", order_id=None, detail=detail, received_at=step.wall
                )
            )
            return
        severity = Severity.CRITICAL if step.critical else Severity.MEDIUM
        self.sink.emit(
            Alert(severity=severity, source=step.source, message=step.reason, received_at=step.wall)
        )

    def _market(self, step: PublicConnected | BookResync | SymbolsAdded | SymbolsRemoved) -> Any:
        machine = self.marketdata
        if isinstance(step, PublicConnected):
            machine.connected()
            return None
        if isinstance(step, BookResync):  # True: send the unsubscribe and subscribe
            return machine.start_resync(step.symbol, step.reason, step.wall, step.mono)
        if isinstance(step, SymbolsAdded):  # the symbols to subscribe
            return machine.add_symbols(step.symbols)
        return machine.remove_symbols(step.symbols)  # the symbols to unsubscribe

    def _pairs(self, step: PairsLoaded) -> None:
        for entry in (*step.pairs.skipped, *step.assets.skipped):
            self.sink.emit(
                FrameRefused(
                    connection="rest",
                    path=entry.path,
                    reason=f"{entry.kind} {entry.name}: {entry.reason}",
                    raw=entry.raw,
                    received_at=step.wall,
                )
            )
        self.names.merge(symbol_map(step.pairs, step.assets))

    def _account(self, step: Step) -> Any:
        account = self.account
        if account is None:
            return None
        wall = step.wall
        if isinstance(step, PrivateSubscribing):
            account.subscribing(step.requests)
        elif isinstance(step, PrivateDisconnected):
            account.disconnected()
        elif isinstance(step, RecoveryBegan):  # from when the backfill must read
            return account.recovery_started(step.reason, wall)
        elif isinstance(step, RecoveryEnded):
            account.recovery_finished(step.reason, step.complete, wall)
        elif isinstance(step, TradesAnswered):
            account.apply_trades(step.trades, wall)
        elif isinstance(step, LedgerAnswered):
            account.learn_ledger(step.entries, wall)
        elif isinstance(step, OrdersAnswered):
            account.apply_orders(step.orders, set(step.unknown), wall)
        elif isinstance(step, BackfillIncomplete):
            account.backfill_incomplete(step.detail, wall)
        elif isinstance(step, OrderPlaced):
            account.placed(step.report, wall, step.mono)
        elif isinstance(step, OrdersQueried):
            account.queried(step.order_ids, step.mono, failed=step.failed)
        return None

    # --- reconciliation --------------------------------------------------------------------

    def _reconciliation(
        self, step: ReconcileAnswered | ReconcileFailed | DecisionApplied
    ) -> ReconcileResult | None:
        account = self.account
        if account is None:
            return None
        if isinstance(step, ReconcileAnswered):
            return self._reconciled(step, account)
        if isinstance(step, ReconcileFailed):
            self._failed(step)
            return None
        self._decision(step, account)
        return None

    def _reconciled(self, step: ReconcileAnswered, account: AccountMachine) -> ReconcileResult:
        """A run's answers in: compare, explain, correct, queue, report."""
        config, portfolio, at = self.reconcile_config, account.portfolio, step.wall
        answers = Answers(
            balance=step.balance,
            orders=step.orders,
            unknown=set(step.unknown),
            trades=step.trades,
            not_covered=step.not_covered,
            ledger=step.ledger,
        )
        verdicts = LedgerVerdicts()
        if step.ledger is not None:
            verdicts = ledger_verdicts(step.ledger, portfolio, self.names, at)
        for ledger_id in verdicts.reflected:
            portfolio.mark_ledger_seen(ledger_id, at)  # a later stream total includes it
        exchange = exchange_view(answers, self.names, at, config.settle, step.fills_since)
        unsettled = set(step.moved) | verdicts.late
        internal = internal_view(account.orders, portfolio, self.pairs, unsettled)
        result = reconcile(
            internal,
            exchange,
            verdicts.missed,
            thresholds=config.thresholds,
            limits=config.limits,
            at=at,
        )
        for entry in verdicts.missed:
            portfolio.mark_ledger_seen(entry.ledger_id, at)
        settled = settle(step.run_id, result, portfolio.balances, set(step.review_keys), at)
        for event in settled.events:
            self.sink.emit(event)
        for asset, balance in settled.balances:
            account.record_balance(asset, balance, at)
        self.sink.emit(
            report(
                step.run_id,
                step.kind,
                result,
                step.not_covered,
                step.rest_calls,
                step.duration_ms,
                at,
            )
        )
        self.failures, self.runs = 0, self.runs + 1
        self.last, self.last_run_id = result, step.run_id
        self.ledger_since = at
        return result

    def _failed(self, step: ReconcileFailed) -> None:
        self.failures += 1
        self.sink.emit(
            ReconciliationReport(
                run_id=step.run_id,
                kind=step.kind,
                status="failed",
                rest_calls=step.rest_calls,
                duration_ms=step.duration_ms,
                error=step.error[:500],
                received_at=step.wall,
            )
        )
        if self.failures >= self.reconcile_config.alert_after_failures:
            message = f"reconciliation failed {self.failures} times in a row: {step.error}"
            self.sink.emit(
                Alert(
                    severity=Severity.CRITICAL,
                    source="reconcile",
                    message=message,
                    received_at=step.wall,
                )
            )

    def _decision(self, step: DecisionApplied, account: AccountMachine) -> None:
        row, wall = step.row, step.wall
        adjustment = decision_adjustment(row, account.portfolio.balances, wall)
        if adjustment is not None:
            self.sink.emit(adjustment)
            account.record_balance(adjustment.subject.split("/", 1)[0], adjustment.new, wall)
        resolved = row.get("resolved_wall")
        self.sink.emit(
            ReviewItem(
                item_id=str(row["id"]),
                run_id=str(row["reconciliation_id"]),
                kind=str(row["kind"]),
                subject=str(row["subject"]),
                severity=Severity(row["severity"]),
                internal=row.get("internal"),
                exchange=row.get("exchange"),
                created_at=float(row["created_wall"]),
                status="applied",
                decision=row.get("decision"),
                note=row.get("note"),
                resolved_at=None if resolved is None else float(resolved),
                applied_at=wall,
                received_at=wall,
            )
        )
