"""The audit writer task: rows from the trio thread into the database, never dropped.

Producers hand typed rows (:mod:`galfriday.audit.tables`) to :meth:`AuditWriter.write_row`
(never blocks: the engine's path) or :meth:`AuditWriter.write_typed` (waits while ``capacity``
rows wait). :meth:`AuditWriter.write_nowait` and :meth:`AuditWriter.write` take a table name
and loose column values the same two ways, until every producer is typed. The task writes rows
in batches (up to ``batch_rows`` rows or ``batch_seconds`` of waiting), each batch one
transaction, in ``trio.to_thread`` with a ``CapacityLimiter(1)`` so the trio thread never
blocks on disk.

Rules:
- A batch is never dropped. The store's connection waits ``busy_timeout`` for another
  process's lock; a batch that still fails for a reason of the world (busy, disk full, I/O
  error: :func:`~galfriday.audit.trouble.classify`) is kept and tried again after 0.05 s, the
  wait doubling up to 5 s, until it is written. Rows keep their order; new rows queue behind it.
- A row the schema refuses (a bug of ours) does not hold up the others: the batch is written
  row by row, the refused rows are logged and counted in :attr:`AuditWriter.failed`. A row for
  a table the schema lacks then raises ``ValueError`` (loud, as a bug must be), after the good
  rows are in.
- Memory is bounded. Past ``capacity`` rows waiting, the writer is in ``queue_full`` trouble;
  :meth:`write_row` still accepts rows up to ``hard_limit`` (twice the capacity by default)
  and past that refuses them: counted in :attr:`AuditWriter.lost`, logged critical once per
  episode, and reported in :attr:`AuditTrouble.rows_lost`. Nothing is lost silently.
- Trouble is visible: :attr:`AuditWriter.trouble` (``None`` when all is well) and the
  ``on_trouble`` callback, called on the trio thread (from the writer task, or from
  :meth:`write_row` for ``queue_full``) when trouble starts, changes kind, and clears
  (``None``). The callback must not block or raise.
- With :meth:`AuditWriter.keep_checkpoints` running beside :meth:`AuditWriter.run` (the
  engine runs both), a commit never waits for a WAL checkpoint (SQLite's automatic one runs
  inside the commit that crosses 1,000 pages: tens of milliseconds on that batch): it
  checkpoints in another thread on another connection once ``checkpoint_rows`` rows were
  committed since the last one; a failed checkpoint is logged and tried again at the next
  mark (the rows are in the WAL either way).
- Shutdown: cancelling :meth:`AuditWriter.run` writes what is left, shielded. A failing database
  gets ``stop_seconds`` of retries; what is still not written then is counted in
  :attr:`AuditWriter.unwritten` and logged critical.

How the engine uses it:

1. ``on_trouble(t)`` with ``t`` not ``None``: a critical alert (log and webhook: the ``alerts``
   table cannot be written), the engine UNHEALTHY (no new orders; the dead-man switch is left
   to run out). With ``None``: healthy again (an info alert).
2. A watchdog: while ``writer.trouble`` is set and ``trio.current_time() - trouble.since``
   passes the give-up time (e.g. 60 s), stop the engine with one clear line and a non-zero
   exit, rather than run on unrecorded.
3. After ``run`` returned: ``writer.unwritten > 0`` means rows were lost: exit non-zero.
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec
import trio
from loguru import logger

from galfriday.audit.rows import AnyRow, AuditRow, Rejected, row_table
from galfriday.audit.trouble import (
    RETRY_FIRST,
    AuditTrouble,
    TroubleKind,
    classify,
    next_delay,
)

if TYPE_CHECKING:
    from galfriday.audit.store import AuditStore

__all__ = ["AuditWriter"]

T = TypeVar("T")
STOP_SECONDS: Final = 5.0  # retries a failing database gets when the writer is stopped
CHECKPOINT_ROWS: Final = 1_000  # rows committed between two WAL checkpoints
_LOGGED_REJECTS: Final = 5  # refused rows logged one by one per batch


class AuditWriter:
    """The one task that writes to the audit database.

    Args:
        store: the database.
        capacity: rows that may wait before the writer reports ``queue_full``;
            :meth:`write_typed` waits while this many wait (backpressure).
        batch_rows: the most rows in one transaction.
        batch_seconds: how long a partial batch may wait for more rows.
        hard_limit: rows that may wait at all (default ``2 * capacity``); past it,
            :meth:`write_row` loses rows (counted, reported).
        stop_seconds: how long a stopping writer retries a failing database.
        on_trouble: called with the new :class:`AuditTrouble`, or ``None`` when it cleared.
        checkpoint_rows: rows committed between two WAL checkpoints (made beside the commits).
    """

    def __init__(
        self,
        store: AuditStore,
        capacity: int = 100_000,
        batch_rows: int = 5_000,
        batch_seconds: float = 0.005,
        *,
        hard_limit: int | None = None,
        stop_seconds: float = STOP_SECONDS,
        on_trouble: Callable[[AuditTrouble | None], None] | None = None,
        checkpoint_rows: int = CHECKPOINT_ROWS,
    ) -> None:
        self.store = store
        self.checkpoint_rows = checkpoint_rows
        self.checkpoints = 0  # WAL checkpoints made beside the commits
        self._uncheckpointed = 0  # rows committed since the last checkpoint began
        self._checkpoint_due = trio.Event()
        self.capacity = capacity
        self.hard_limit = 2 * capacity if hard_limit is None else hard_limit
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.stop_seconds = stop_seconds
        self.on_trouble = on_trouble
        # Called after each committed batch with (rows, seconds in the worker thread): the
        # metrics. Each must not block or raise.
        self.batch_observers: list[Callable[[int, float], None]] = []
        self.queued = 0  # rows accepted
        self.written = 0  # rows committed
        self.batches = 0
        self.failed = 0  # rows refused by the schema (bugs), never retried
        self.lost = 0  # rows refused past hard_limit
        self._queue: deque[AnyRow] = deque()
        self._batch: list[AnyRow] = []  # taken off the queue, not yet committed
        self._limiter = trio.CapacityLimiter(1)
        self._arrived = trio.lowlevel.ParkingLot()
        self._space = trio.lowlevel.ParkingLot()
        self._settled = trio.lowlevel.ParkingLot()
        self._failure: AuditTrouble | None = None  # the failing write, if any
        self._trouble: AuditTrouble | None = None  # as last reported
        self._episode_lost = 0
        self._stopped = False
        self._flushing = 0  # flush() calls waiting: the batch window closes at once for them

    @property
    def rows_waiting(self) -> int:
        """Rows accepted and not yet written (including a batch being retried)."""
        return len(self._batch) + len(self._queue)

    @property
    def unwritten(self) -> int:
        """Rows that never reached the database: still waiting, or lost. Read it after
        :meth:`run` returned; non-zero means the command must exit non-zero."""
        return self.rows_waiting + self.lost

    @property
    def trouble(self) -> AuditTrouble | None:
        """The current trouble (rows waiting as of now), or ``None`` when writes keep up."""
        trouble = self._trouble
        if trouble is None:
            return None
        return msgspec.structs.replace(
            trouble, rows_waiting=self.rows_waiting, rows_lost=self._episode_lost
        )

    def write_row(self, row: AnyRow) -> None:
        """Queue a typed row without waiting (the engine's path). Past ``hard_limit`` rows
        waiting the row is lost: counted in :attr:`lost` and reported as trouble, never
        silently."""
        if len(self._queue) >= self.hard_limit:
            self._lose()
            return
        self._accept(row)

    async def write_typed(self, row: AnyRow) -> None:
        """Queue a typed row, waiting while ``capacity`` rows wait."""
        await trio.lowlevel.checkpoint()
        while len(self._queue) >= self.capacity and not self._stopped:
            await self._space.park()
        self._accept(row)

    def write_nowait(self, table: str, **values: Any) -> None:
        """:meth:`write_row` of a loose row (``table``, column values); kept until every
        producer hands over typed rows."""
        self.write_row(AuditRow(table, values))

    async def write(self, table: str, **values: Any) -> None:
        """:meth:`write_typed` of a loose row (``table``, column values)."""
        await self.write_typed(AuditRow(table, values))

    def _lose(self) -> None:
        self.lost += 1
        self._episode_lost += 1
        if self._episode_lost == 1:
            logger.critical(
                "audit queue full ({:,} rows wait): audit rows are being lost",
                self.rows_waiting,
            )
        self._refresh()

    def _accept(self, row: AnyRow) -> None:
        self._queue.append(row)
        self.queued += 1
        if self._arrived:
            self._arrived.unpark_all()
        if self._trouble is None and len(self._queue) >= self.capacity:
            self._refresh()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write batches until cancelled, then write what is left (shielded) and return.

        Rows taken off the queue are never lost to a cancellation: the batch stays until it
        is committed, and a batch in the worker thread finishes.
        """
        task_status.started()
        try:
            while True:
                await self._gather()
                await self._write_batch(give_up_at=None)
        finally:
            with trio.CancelScope(shield=True):
                await self._write_rest()

    async def keep_checkpoints(self) -> None:
        """Run beside :meth:`run`, as a task of its own, until cancelled: commits stop
        checkpointing the WAL, and this checkpoints it whenever ``checkpoint_rows`` rows were
        committed since the last time, in a thread of its own (the commits go on meanwhile).
        Without it SQLite checkpoints inside the commits, as it does by default."""
        await self.read(lambda store: store.checkpoint_apart())  # between two batches
        limiter = trio.CapacityLimiter(1)
        while True:
            await self._checkpoint_due.wait()
            self._checkpoint_due = trio.Event()
            self._uncheckpointed = 0
            try:
                await trio.to_thread.run_sync(self.store.checkpoint, limiter=limiter)
            except sqlite3.Error as exc:
                logger.warning("audit database: WAL checkpoint failed (tried again later): {}", exc)
            else:
                self.checkpoints += 1

    async def _gather(self) -> None:
        """Wait for a row, then up to ``batch_seconds`` for a full batch; take the batch."""
        while not self._queue:
            await self._arrived.park()
        if len(self._queue) < self.batch_rows and not self._flushing:
            with trio.move_on_after(self.batch_seconds):
                while len(self._queue) < self.batch_rows and not self._flushing:
                    await self._arrived.park()
        self._take()

    def _take(self) -> None:
        take = self._queue.popleft
        self._batch = [take() for _ in range(min(self.batch_rows, len(self._queue)))]
        if self._space and len(self._queue) < self.capacity:
            self._space.unpark_all()
        if self._trouble is not None:
            self._refresh()

    async def _write_batch(self, give_up_at: float | None) -> bool:
        """Write the batch, retrying with backoff; ``False`` if ``give_up_at`` came first."""
        delay = RETRY_FIRST
        while not await self._attempt():
            if give_up_at is not None and trio.current_time() + delay > give_up_at:
                return False
            await trio.sleep(delay)
            delay = next_delay(delay)
        return True

    async def _attempt(self) -> bool:
        try:
            began = time.perf_counter()
            written, rejected = await trio.to_thread.run_sync(
                self._write_sync, self._batch, limiter=self._limiter
            )
            seconds = time.perf_counter() - began
        except Exception as exc:
            kind = classify(exc)
            if kind is None:
                raise
            self._fail(kind, exc)
            return False
        # No checkpoint from the thread's answer to here: a cancellation cannot split them.
        self._batch = []
        self.written += written
        self._uncheckpointed += written
        if self._uncheckpointed >= self.checkpoint_rows:
            self._checkpoint_due.set()
        self.failed += len(rejected)
        self.batches += 1
        for observe in self.batch_observers:
            observe(written, seconds)
        if self._failure is not None:
            took = trio.current_time() - self._failure.since
            logger.warning("audit database written again after {:.1f} s of trouble", took)
            self._failure = None
        self._refresh()
        self._settled.unpark_all()
        if rejected:
            _report(rejected)
        return True

    def _write_sync(self, batch: list[AnyRow]) -> tuple[int, list[Rejected]]:
        """In the worker thread: the batch in one go, or row by row if the schema refused it."""
        try:
            return self.store.write(batch), []
        except Exception as exc:
            if classify(exc) is not None:
                raise
        return self.store.write_each(batch)

    def _fail(self, kind: TroubleKind, exc: Exception) -> None:
        failure = self._failure
        if failure is None or failure.kind != kind:
            logger.critical(
                "audit database cannot be written ({}: {}); {:,} rows wait, retrying",
                kind,
                exc,
                self.rows_waiting,
            )
            self._failure = AuditTrouble(kind=kind, since=trio.current_time(), error=str(exc))
        else:
            self._failure = msgspec.structs.replace(failure, error=str(exc))
        self._refresh()

    def _refresh(self) -> None:
        """Work out the trouble now; tell ``on_trouble`` when it starts, changes or clears."""
        old = self._trouble
        new: AuditTrouble | None = self._failure
        if new is None:
            waiting = len(self._queue)
            still = old is not None and old.kind == "queue_full" and waiting >= self.capacity // 2
            if still:
                new = old
            elif waiting >= self.capacity:
                new = AuditTrouble(
                    kind="queue_full",
                    since=trio.current_time(),
                    error=f"more than {self.capacity:,} audit rows wait",
                )
        self._trouble = new
        if new is None:
            self._episode_lost = 0
        if (old is None) != (new is None) or (old and new and old.kind != new.kind):
            if new is None:
                logger.info("audit writer: trouble over")
            if self.on_trouble is not None:
                self.on_trouble(self.trouble)

    async def _write_rest(self) -> None:
        """Write every waiting row; a failing database gets ``stop_seconds`` of retries."""
        give_up_at = trio.current_time() + self.stop_seconds
        try:
            while self._batch or self._queue:
                if not self._batch:
                    self._take()
                if not await self._write_batch(give_up_at):
                    break
        finally:
            self._stopped = True
            self._settled.unpark_all()
            self._space.unpark_all()
            if self.unwritten:
                logger.critical(
                    "audit: {:,} rows were never written to {}", self.unwritten, self.store.path
                )

    async def read(self, query: Callable[[AuditStore], T]) -> T:
        """Run ``query(store)`` in the writer's worker thread, between batches."""
        return await trio.to_thread.run_sync(query, self.store, limiter=self._limiter)

    async def flush(self) -> None:
        """Wait until every row queued before this call is committed (or refused as a bug).

        Someone waiting is worth more than a fuller batch: the batch being gathered goes now
        rather than after ``batch_seconds``. On a failing database this waits as long as the
        failure lasts (or the writer stops).
        """
        target = self.queued
        self._flushing += 1
        self._arrived.unpark_all()
        try:
            while self.written + self.failed < target and not self._stopped:
                await self._settled.park()
        finally:
            self._flushing -= 1


def _report(rejected: list[Rejected]) -> None:
    """Log refused rows; a row for a table the schema lacks is a bug that must stop us."""
    for item in rejected[:_LOGGED_REJECTS]:
        logger.error("audit row for {} refused: {}", row_table(item.row), item.reason)
    if len(rejected) > _LOGGED_REJECTS:
        logger.error("audit: {} more rows refused", len(rejected) - _LOGGED_REJECTS)
    unknown = sorted({row_table(item.row) for item in rejected if item.unknown_table})
    if unknown:
        raise ValueError(f"audit table {unknown[0]!r} is not in the schema")
