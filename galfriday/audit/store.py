"""The audit trail: one SQLite database, one writer.

:class:`AuditStore` is the synchronous part (sqlite-utils, WAL, migrations); it is only ever
used from one worker thread at a time. :class:`AuditWriter` is the trio part: producers hand it
:class:`AuditRow` values, and its task writes them in batches (up to ``batch_rows`` rows or
``batch_seconds`` of waiting), each batch in one transaction, in ``trio.to_thread`` with a
``CapacityLimiter(1)`` so the trio thread never blocks on disk. A batch is all or nothing: a
crash leaves no partial batch.

Migrations are the numbered ``*.sql`` files of ``schema/``, applied in order once each and
recorded in the ``migrations`` table. Values are converted on the way in: ``Decimal`` becomes
its exact text, ``datetime`` ISO 8601, enums their value, sequences JSON. Rows for tables with
a key (current state such as ``orders``) replace the row with the same key; ``fills`` and the
ledger ignore a row whose id is already there, so replaying an event cannot duplicate it.

Shutdown: cancelling the writer's scope makes it write everything still queued (shielded)
before it returns.
"""

from __future__ import annotations

import enum
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec
import sqlite_utils
import trio
from loguru import logger

__all__ = ["AuditRow", "AuditStore", "AuditWriter", "schema_dir"]

_JSON: Final = msgspec.json.Encoder(decimal_format="string")
IGNORE_DUPLICATES: Final = {"fills": "exec_id", "balance_ledger": "ledger_id"}
UPSERT_KEYS: Final = {
    "orders": "order_id",
    "balances": "asset",
    "positions": "symbol",
    "reconciliation_events": "id",
    "review_queue": "id",
}


T = TypeVar("T")


def schema_dir() -> Path:
    """The ``schema/`` folder: beside the package in a source tree, inside it when installed."""
    source = Path(__file__).resolve().parent.parent.parent / "schema"
    return source if source.is_dir() else Path(__file__).resolve().parent.parent / "schema"


@dataclass(frozen=True)
class AuditRow:
    table: str
    values: Mapping[str, Any]


def _sql_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list | dict):
        return _JSON.encode(value).decode()  # e.g. fees: [["USD","0.3458"]]
    return value


class AuditStore:
    """The database file (or ``":memory:"``), migrated on open."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        memory = str(path) == ":memory:"
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        # One worker thread at a time uses the connection (CapacityLimiter(1)), but not always
        # the thread that opened it.
        self.db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False))
        if not memory:
            self.db.enable_wal()
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.applied = self._migrate()
        self.tables = set(self.db.table_names())
        self._statements: dict[tuple[str, tuple[str, ...]], str] = {}

    def _migrate(self) -> list[str]:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS migrations"
            " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in self.db.execute("SELECT name FROM migrations").fetchall()}
        applied = []
        for script in sorted(schema_dir().glob("[0-9][0-9][0-9]_*.sql")):
            if script.name in done:
                continue
            with self.db.atomic():
                for statement in _statements(script.read_text()):
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, datetime('now'))",
                    [script.name],
                )
            applied.append(script.name)
        return applied

    def write(self, rows: Iterable[AuditRow]) -> int:
        """Write ``rows`` in one transaction; returns how many were written.

        Rows are grouped by table and columns, and each group is one ``executemany`` of a
        cached statement (sqlite-utils' ``insert_all`` spent most of the writer's time on
        per-batch work the schema makes unnecessary).

        Raises:
            ValueError: a row for a table the schema does not have (a bug: caught loudly).
        """
        grouped: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
        for row in rows:
            values = row.values
            key = (row.table, tuple(values))
            grouped.setdefault(key, []).append(tuple(_sql_value(v) for v in values.values()))
        count = 0
        conn = self.db.conn
        with self.db.atomic():
            for key, records in grouped.items():
                conn.executemany(self._statement(*key), records)
                count += len(records)
        return count

    def _statement(self, table: str, columns: tuple[str, ...]) -> str:
        statement = self._statements.get((table, columns))
        if statement is None:
            if table not in self.tables:
                raise ValueError(f"audit table {table!r} is not in the schema")
            verb = "INSERT"
            if table in UPSERT_KEYS:
                verb = "INSERT OR REPLACE"
            elif table in IGNORE_DUPLICATES:
                verb = "INSERT OR IGNORE"
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            statement = f'{verb} INTO "{table}" ({names}) VALUES ({marks})'
            self._statements[(table, columns)] = statement
        return statement

    def close(self) -> None:
        self.db.close()


def _statements(script: str) -> list[str]:
    """Split a schema file into statements (no semicolons inside our SQL literals)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class AuditWriter:
    """The one task that writes to the audit database.

    Args:
        store: the database.
        capacity: rows that may wait in memory; :meth:`write` waits when it is full
            (backpressure), :meth:`write_nowait` drops and counts.
        batch_rows: the most rows in one transaction.
        batch_seconds: how long a partial batch may wait for more rows.
    """

    def __init__(
        self,
        store: AuditStore,
        capacity: int = 100_000,
        batch_rows: int = 5_000,
        batch_seconds: float = 0.005,
    ) -> None:
        self.store = store
        self._send, self._receive = trio.open_memory_channel[AuditRow](capacity)
        self._limiter = trio.CapacityLimiter(1)
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.queued = 0
        self.written = 0
        self.batches = 0
        self.dropped = 0
        self.failed = 0
        self._settled = trio.lowlevel.ParkingLot()

    async def write(self, table: str, **values: Any) -> None:
        """Queue a row, waiting if the queue is full."""
        await self._send.send(AuditRow(table, values))
        self.queued += 1

    def write_nowait(self, table: str, **values: Any) -> None:
        """Queue a row without waiting; a full queue drops it (counted in :attr:`dropped`)."""
        try:
            self._send.send_nowait(AuditRow(table, values))
            self.queued += 1
        except trio.WouldBlock:
            self.dropped += 1
            logger.error("audit queue full: dropped a {} row", table)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write batches until cancelled, then write what is left and return.

        Rows already taken off the queue are never lost to a cancellation: a batch being
        gathered is written by the shielded shutdown path, and a batch being written finishes.
        """
        task_status.started()
        batch: list[AuditRow] = []
        try:
            while True:
                batch.append(await self._receive.receive())
                self._take_waiting(batch)
                if len(batch) < self.batch_rows:
                    with trio.move_on_after(self.batch_seconds):
                        while len(batch) < self.batch_rows:
                            batch.append(await self._receive.receive())
                            self._take_waiting(batch)
                with trio.CancelScope(shield=True):
                    await self._flush(batch)
                batch = []
        finally:
            with trio.CancelScope(shield=True):
                if batch:
                    await self._flush(batch)
                await self.drain()

    def _take_waiting(self, batch: list[AuditRow]) -> None:
        """Move rows already queued into ``batch`` without a checkpoint per row."""
        receive = self._receive.receive_nowait
        while len(batch) < self.batch_rows:
            try:
                batch.append(receive())
            except trio.WouldBlock:
                return

    async def drain(self) -> None:
        """Write every queued row now."""
        while True:
            batch: list[AuditRow] = []
            while len(batch) < self.batch_rows:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            if not batch:
                return
            await self._flush(batch)

    async def read(self, query: Callable[[AuditStore], T]) -> T:
        """Run ``query(store)`` in the writer's worker thread, between batches."""
        return await trio.to_thread.run_sync(query, self.store, limiter=self._limiter)

    async def flush(self) -> None:
        """Wait until every row queued before this call is committed (or has failed)."""
        target = self.queued
        while self.written + self.failed < target:
            await self._settled.park()

    async def _flush(self, batch: list[AuditRow]) -> None:
        try:
            self.written += await trio.to_thread.run_sync(
                self.store.write, batch, limiter=self._limiter
            )
            self.batches += 1
        except sqlite3.Error:
            self.failed += len(batch)
            logger.exception("audit batch of {} rows failed", len(batch))
        finally:
            self._settled.unpark_all()
