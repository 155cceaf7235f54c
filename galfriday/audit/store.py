"""The audit trail: one SQLite database, one writer, one engine.

:class:`AuditStore` is the synchronous part (sqlite-utils, WAL, migrations); it is only ever
used from one worker thread at a time. Opening a file first checks it
(:func:`~galfriday.audit.checks.check_database`: a folder, a foreign or non-SQLite file is
refused before anything changes), then takes the lock beside it
(:class:`~galfriday.audit.lock.DatabaseLock`: a second engine is refused), then migrates.
:meth:`AuditStore.close` checkpoints (``wal_checkpoint(TRUNCATE)``) so the ``.db`` file alone
holds every row, and releases the lock; it is safe to call twice, and it must run shielded.
While the writer runs, the WAL is checkpointed beside the commits, never inside one
(:meth:`AuditStore.checkpoint_apart`, :meth:`AuditStore.checkpoint`).

:class:`AuditWriter` is the trio part, see its docstring. It never drops a row it accepted.

Migrations are the numbered ``*.sql`` files of ``schema/``, applied in order once each and
recorded in the ``migrations`` table (a statement ends where ``sqlite3.complete_statement``
says, so views and triggers are fine). Rows are typed (:mod:`galfriday.audit.tables`) or loose
(:class:`~galfriday.audit.rows.AuditRow`); values are converted on the way in: ``Decimal``
becomes its exact text, ``datetime`` ISO 8601, enums their value, sequences JSON. Rows for
tables with a key (current state such as ``orders``) replace the row with the same key;
``fills`` and the ledger ignore a row whose id is already there, so replaying an event cannot
duplicate it. A fill whose ``exec_id`` is already stored under *another* order is not ignored
silently: an ``order_anomalies`` row (``exec_id_reused``) is written in the same transaction.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import sqlite_utils
from loguru import logger

from galfriday.audit.checks import check_database
from galfriday.audit.lock import DatabaseLock
from galfriday.audit.rows import AnyRow, AuditRow, GroupKey, Rejected, row_parts
from galfriday.audit.trouble import AuditTrouble, classify
from galfriday.audit.writer import AuditWriter
from galfriday.errors import ConfigError

__all__ = [
    "BUSY_TIMEOUT",
    "AuditRow",
    "AuditStore",
    "AuditTrouble",
    "AuditWriter",
    "Rejected",
    "check_database",
    "schema_dir",
]

BUSY_TIMEOUT: Final = 5.0  # seconds a write waits for another connection's lock
IGNORE_DUPLICATES: Final = {"fills": "exec_id", "balance_ledger": "ledger_id"}
UPSERT_KEYS: Final = {
    "orders": "order_id",
    "balances": "asset",
    "positions": "symbol",
    "reconciliation_events": "id",
    "review_queue": "id",
}
_REUSED: Final = (
    "INSERT INTO order_anomalies (at_wall, kind, order_id, detail)"
    " VALUES (?, 'exec_id_reused', ?, ?)"
)


def schema_dir() -> Path:
    """The ``schema/`` folder: beside the package in a source tree, inside it when installed."""
    source = Path(__file__).resolve().parent.parent.parent / "schema"
    return source if source.is_dir() else Path(__file__).resolve().parent.parent / "schema"


class AuditStore:
    """The database file (or ``":memory:"``): checked, locked and migrated on open.

    Args:
        path: the database file, or ``":memory:"`` (no check, no lock).
        busy_timeout: seconds a write waits for another connection (``galfriday prune``, a
            backup) before it fails as ``busy`` (the writer then retries).

    Raises:
        ConfigError: the path is refused (:func:`check_database`), another galfriday holds it,
            or it cannot be opened; one line, before anything on disk changed.
    """

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self.lock: DatabaseLock | None = None
        self._closed = False
        memory = str(path) == ":memory:"
        if not memory:
            check_database(Path(path), create=True)
            self.lock = DatabaseLock(Path(path))
            self.lock.acquire()
        try:
            self.db = _connect(path, memory, busy_timeout)
            try:
                self.applied = self._migrate()
            except sqlite3.Error as exc:
                self.db.close()
                if classify(exc) is None:
                    raise
                raise ConfigError(str(path), f"cannot be written ({exc})") from exc
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise
        self.tables = set(self.db.table_names())
        self._statements: dict[tuple[str, tuple[str, ...]], str] = {}
        self._busy_timeout = busy_timeout
        self._checkpointer: sqlite3.Connection | None = None  # see checkpoint_apart()

    def checkpoint_apart(self) -> None:
        """From now on a commit never checkpoints the WAL (SQLite's automatic checkpoint,
        every 1,000 pages, copies them into the database file and syncs it inside the commit
        that crosses the mark: tens of milliseconds on that one batch); :meth:`checkpoint`
        does it instead, from another thread, beside the commits."""
        self.db.execute("PRAGMA wal_autocheckpoint = 0")

    def checkpoint(self) -> int:
        """Copy the committed WAL pages into the database file (``PASSIVE``: it waits for no
        reader or writer) on a connection of its own, so commits on the writer's connection go
        on meanwhile; returns the pages copied. Only one thread at a time may call it.

        Raises:
            sqlite3.Error: the checkpoint failed (the WAL keeps the rows; try again later).
        """
        if str(self.path) == ":memory:" or self._closed:
            return 0
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(
                str(self.path), check_same_thread=False, timeout=self._busy_timeout
            )
            self._checkpointer.execute("PRAGMA synchronous = NORMAL")
        _, _, copied = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return max(0, int(copied))

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

    def write(self, rows: Iterable[AnyRow]) -> int:
        """Write ``rows`` (typed, or loose :class:`AuditRow`) in one transaction, all or
        nothing; returns how many were written.

        Rows are grouped by table and columns, and each group is one ``executemany`` of a
        cached statement (fills go one by one, to notice a reused ``exec_id``).

        Raises:
            ValueError: a row for a table the schema does not have (a bug: caught loudly).
            sqlite3.Error: the database refused the batch; nothing of it was written.
        """
        grouped: dict[GroupKey, list[tuple[Any, ...]]] = {}
        for row in rows:
            key, record = row_parts(row)
            group = grouped.get(key)
            if group is None:
                grouped[key] = [record]
            else:
                group.append(record)
        count = 0
        with self._transaction() as conn:
            for (table, columns), records in grouped.items():
                self._insert(conn, table, columns, records)
                count += len(records)
        return count

    def write_each(self, rows: Iterable[AnyRow]) -> tuple[int, list[Rejected]]:
        """Write what can be written of ``rows`` in one transaction, each row on its own
        savepoint: a row the schema refuses is left out (returned), the others are written.

        Raises:
            sqlite3.Error: a failure that is not about one row (busy, disk full, I/O);
                nothing was written.
        """
        written = 0
        rejected: list[Rejected] = []
        with self._transaction() as conn:
            for row in rows:
                (table, columns), record = row_parts(row)
                if table not in self.tables:
                    rejected.append(Rejected(row, "table is not in the schema", True))
                    continue
                conn.execute("SAVEPOINT audit_row")
                try:
                    self._insert(conn, table, columns, [record])
                except Exception as exc:
                    if classify(exc) is not None:
                        raise
                    conn.execute("ROLLBACK TO SAVEPOINT audit_row")
                    rejected.append(Rejected(row, f"{type(exc).__name__}: {exc}"))
                else:
                    written += 1
                conn.execute("RELEASE SAVEPOINT audit_row")
        return written, rejected

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` (so a busy database waits in the busy handler up front), then
        ``COMMIT``; any failure rolls back."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise

    def _insert(
        self,
        conn: sqlite3.Connection,
        table: str,
        columns: tuple[str, ...],
        records: list[tuple[Any, ...]],
    ) -> None:
        statement = self._statement(table, columns)
        if table != "fills" or "exec_id" not in columns or "order_id" not in columns:
            conn.executemany(statement, records)
            return
        exec_at, order_at = columns.index("exec_id"), columns.index("order_id")
        wall_at = columns.index("at_wall") if "at_wall" in columns else None
        for record in records:
            if conn.execute(statement, record).rowcount:
                continue
            exec_id, order_id = record[exec_at], record[order_at]
            stored = conn.execute("SELECT order_id FROM fills WHERE exec_id = ?", (exec_id,))
            first = stored.fetchone()
            if first is not None and first[0] != order_id:
                detail = (
                    f"fill {exec_id} of order {order_id} is already stored under order"
                    f" {first[0]}; the second one was not recorded"
                )
                wall = record[wall_at] if wall_at is not None else 0.0
                conn.execute(_REUSED, (wall, order_id, detail))

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
        """Checkpoint the WAL into the database file and truncate it, close, release the lock.

        Afterwards a copy of the ``.db`` file alone holds every row. A second call does
        nothing. Run it shielded from cancellation (``trio.CancelScope(shield=True)``).
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._checkpointer is not None:
                self._checkpointer.close()
            if self.lock is not None:
                busy, _, _ = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if busy:
                    logger.warning("audit database: a reader kept the checkpoint from finishing")
        except sqlite3.Error as exc:
            logger.error("audit database: checkpoint on close failed: {}", exc)
        finally:
            self.db.close()
            if self.lock is not None:
                self.lock.release()


def _connect(path: Path | str, memory: bool, busy_timeout: float) -> sqlite_utils.Database:
    """Open (creating it 0600) and set up the connection; failures are one-line ConfigErrors."""
    name = str(path)
    try:
        if not memory:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        # One worker thread at a time uses the connection (CapacityLimiter(1)), but not always
        # the thread that opened it.
        conn = sqlite3.connect(name, check_same_thread=False, timeout=busy_timeout)
    except (OSError, sqlite3.Error) as exc:
        problem = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(name, f"cannot be opened ({problem}); choose another --db") from None
    db = sqlite_utils.Database(conn)
    try:
        db.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
        if not memory:
            db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        db.close()
        raise ConfigError(name, f"cannot be opened ({exc}); choose another --db") from None
    return db


def _statements(script: str) -> list[str]:
    """Split a schema file into statements. A ``;`` ends one only where SQLite says a
    statement is complete, so semicolons in comments, string literals and a trigger's
    ``BEGIN ... END`` body are safe; lines that are only comments are dropped.

    Raises:
        ValueError: text after the last complete statement (a statement without its ``;``).
    """
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    statements: list[str] = []
    pending = ""
    *pieces, tail = "\n".join(lines).split(";")
    for piece in pieces:
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\n;"):
                statements.append(pending.strip())
            pending = ""
    rest = (pending + tail).strip()
    if any(line.split("--", 1)[0].strip() for line in rest.splitlines()):
        raise ValueError(f"schema statement without its closing ';': {rest[:60]!r}")
    return statements
