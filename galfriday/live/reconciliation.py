"""The reconciliation service: when to reconcile, asking the exchange, carrying out the verdict.

:meth:`ReconcileService.run` runs one reconciliation at start-up, then on a schedule (hourly by
default), after every private-stream reconnect and after the recovery from a sequence gap has
finished (it listens on the bus), and on demand (:meth:`ReconcileService.trigger`); never two
at once, and never while the private stream is down. A run asks REST (``Balance``,
``OpenOrders``, ``ClosedOrders`` and ``TradesHistory`` for the last 24 h, paged, ``QueryOrders``
for orders we hold open that those lack, ``Ledgers`` since the previous run) at the lowest
priority; everything it decides is in :mod:`galfriday.reconcile.run` and
:func:`~galfriday.reconcile.compare.reconcile`. It emits the findings (discrepancies,
adjustments, review items, alerts, the report) to the engine's sink and sets the balances the
verdict corrects.

A run that fails is recorded as failed and retried (30 s doubling, at most 10 minutes); three
failures in a row raise a critical alert. Decisions taken with ``galfriday review resolve``
are read from the database and applied within seconds.

Replay: a run and a decision are tape operations; run and review ids derive from the session
and the operation, times from the operation, and the open review items a run reads are
recorded, so ``galfriday replay`` reproduces every row of a run from a capture.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio
from loguru import logger

from galfriday.audit import queries
from galfriday.audit.store import AuditStore
from galfriday.bus import Bus
from galfriday.capture.tape import Tape
from galfriday.core.steps import DecisionApplied, ReconcileAnswered, ReconcileFailed, Step
from galfriday.errors import GalfridayError
from galfriday.events import (
    ConnectionState,
    ConnectionStateChanged,
    RecoveryFinished,
)
from galfriday.kraken import history
from galfriday.kraken.answers import decode_balance, decode_open_orders
from galfriday.kraken.rest import KrakenRest
from galfriday.kraken.symbols import SymbolMap
from galfriday.live.private import PrivateStream
from galfriday.reconcile.compare import ReconcileResult
from galfriday.reconcile.run import Answers, ReconcileConfig, retry_delay
from galfriday.state import EngineState

__all__ = ["ReconcileConfig", "ReconcileService"]

DAY = 24 * 3600.0
Reader = Callable[[Callable[[AuditStore], Any]], Awaitable[Any]]


class ReconcileService:
    """Reconciles one account; owns no connection, only REST calls and the private stream."""

    def __init__(
        self,
        rest: KrakenRest,
        account: PrivateStream,
        symbols: SymbolMap,
        pairs: tuple[str, ...],
        bus: Bus,
        state: EngineState,
        do: Callable[[Step], Any],
        read: Reader | None = None,
        tape: Tape | None = None,
    ) -> None:
        self.tape = tape or Tape()
        self.rest = rest
        self.account = account
        self.symbols = symbols
        self.pairs = pairs
        self.bus = bus
        self.state = state
        self.do = do
        self._read = read
        self._lock = trio.Lock()
        self._wake = trio.Event()
        self._reason = "scheduled"
        self._applied: set[str] = set()  # decisions applied, until their row says so
        self._fills_since: float | None = None  # the first run's time

    @property
    def config(self) -> ReconcileConfig:
        """The reconciliation's configuration; the state's, which the decisions read."""
        return self.state.reconcile_config

    @config.setter
    def config(self, config: ReconcileConfig) -> None:
        self.state.reconcile_config = config

    @property
    def runs(self) -> int:
        return self.state.runs

    @property
    def failures(self) -> int:
        return self.state.failures

    @property
    def last(self) -> ReconcileResult | None:
        return self.state.last

    @property
    def last_run_id(self) -> str | None:
        return self.state.last_run_id

    def trigger(self, reason: str = "manual") -> None:
        """Ask for a run as soon as possible."""
        self._reason = reason
        self._wake.set()

    def retry_delay(self) -> float:
        """Seconds before the next try after :attr:`failures` failed runs in a row."""
        return retry_delay(self.failures, self.config)

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
        clock, calls_before = trio.current_time(), self.rest.calls
        try:
            with self.account.watching() as moved:
                answers = await self._ask(started)
        except GalfridayError as exc:  # an outage, or an answer that cannot be read
            logger.warning("reconciliation {} failed ({} in a row): {}", run_id,
                           self.state.failures + 1, exc)  # fmt: skip
            self.do(
                ReconcileFailed(
                    run_id=run_id,
                    kind=kind,
                    error=str(exc),
                    rest_calls=self.rest.calls - calls_before,
                    duration_ms=(trio.current_time() - clock) * 1000,
                    wall=started,
                    mono=clock,
                )
            )
            return False
        if self._fills_since is None:
            self._fills_since = started
        queued = await self._open_review_keys()
        result: ReconcileResult = self.do(
            ReconcileAnswered(
                run_id=run_id,
                kind=kind,
                balance=answers.balance,
                orders=answers.orders,
                unknown=sorted(answers.unknown),
                trades=answers.trades,
                ledger=answers.ledger,
                not_covered=answers.not_covered,
                moved=sorted(moved),
                review_keys=sorted(queued),
                fills_since=self._fills_since,
                rest_calls=self.rest.calls - calls_before,
                duration_ms=(trio.current_time() - clock) * 1000,
                wall=started,
                mono=clock,
            )
        )
        if answers.not_covered:
            logger.warning("reconciliation {}: {} not read to the end of the window", run_id,
                           ", ".join(answers.not_covered))  # fmt: skip
        logger.info(
            "reconciliation {} ({}): {} discrepancies, {} corrected, {} to review, {} explained",
            run_id, kind, len(result.discrepancies), len(result.corrections), len(result.review),
            len(result.explained),
        )  # fmt: skip
        return True

    async def _ask(self, now: float) -> Answers:
        """The exchange's answers for a run that begins at ``now``."""
        rest, pages = self.rest, self.config.history_pages
        balance = decode_balance(await rest.private("Balance"))
        orders = dict(decode_open_orders(await rest.private("OpenOrders")).open)
        closed = await history.closed_orders(rest, start=now - DAY, max_pages=pages)
        orders.update(closed.rows)
        lacking = [
            o.order_id for o in self.account.orders.open_orders() if o.order_id not in orders
        ]
        queried, unknown = await history.query_orders(rest, lacking)
        orders.update(queried)
        trades = await history.trades_history(rest, start=now - DAY, max_pages=pages)
        answers = Answers(balance=balance, orders=orders, unknown=unknown, trades=trades.rows)
        windows = [("ClosedOrders", closed.covered), ("TradesHistory", trades.covered)]
        if self.state.ledger_since is not None:
            since = self.state.ledger_since
            ledger = await history.ledgers(rest, start=since, max_pages=pages)
            answers.ledger = ledger.rows
            windows.append(("Ledgers", ledger.covered))
        answers.not_covered = [name for name, covered in windows if not covered]
        return answers

    async def _open_review_keys(self) -> set[tuple[str, str]]:
        if self._read is None:
            return set()
        keys = await self._read(queries.open_review_keys)
        return {(str(k), str(s)) for k, s in keys}

    # --- review decisions --------------------------------------------------------------------

    async def _apply_decisions(self) -> None:
        while True:
            await trio.sleep(self.config.review_poll)
            await self.apply_pending_decisions()

    async def apply_pending_decisions(self) -> int:
        """Apply every decision taken with ``galfriday review resolve``; how many there were."""
        if self._read is None:
            return 0
        rows = [r for r in await self._read(queries.resolved_rows) if r["id"] not in self._applied]
        for row in rows:
            self.apply_decision(row)
        return len(rows)

    def apply_decision(self, row: dict[str, Any]) -> None:
        """Apply a person's decision on one review item to the internal state, and audit it."""
        with self.tape.op("decision", row=row) as op:
            self._applied.add(str(row["id"]))
            self.do(DecisionApplied(row=dict(op.args["row"]), wall=op.wall, mono=op.mono))
