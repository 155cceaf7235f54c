"""Deleting old rows from the audit database: the SQL behind ``galfriday prune``.

Rules:
- Operational rows (:data:`OPERATIONAL`: connections, health, checks, errors, REST calls,
  resyncs, gaps, alerts, anomalies) older than the cut-off go. The account's history
  (:data:`TRADES`, closed orders, decided review items) goes only with ``include_trades``,
  and never what something still open needs (:data:`KEEP`: the events and fills of an order
  not final, a run with a review item, the discrepancies and adjustments of a run with an
  open one).
- Rows go in short transactions of ``batch_rows`` (autocommit: each ``DELETE`` is its own),
  with ``pause`` called between them, so a running engine's writer never waits long.
- Table and column names come from the constants here only; values are parameters.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Final

from galfriday.audit.queries import FINAL_STATES

__all__ = [
    "BATCH_ROWS",
    "KEEP",
    "OPERATIONAL",
    "TRADES",
    "checkpoint",
    "prune_rows",
]

BATCH_ROWS: Final = 2_000  # rows deleted per transaction
# Rows that describe the engine's operation; pruned by default.
OPERATIONAL: Final = {
    "connection_events": "at_wall",
    "health_snapshots": "at_wall",
    "book_checks": "at_wall",
    "decode_errors": "at_wall",
    "rest_calls": "at_wall",
    "resyncs": "at_wall",
    "gaps": "at_wall",
    "alerts": "at_wall",
    "order_anomalies": "at_wall",
    "balance_anomalies": "at_wall",
}
# The account's history; pruned only with --include-trades.
TRADES: Final = {
    "order_events": "at_wall",
    "fills": "at_wall",
    "balance_ledger": "at_wall",
    "position_adjustments": "at_wall",
    "discrepancies": "at_wall",
    "reconciliation_events": "at_wall",
}
_OF_OPEN_ORDER: Final = (
    "order_id IN (SELECT order_id FROM orders"
    " WHERE status NOT IN ('filled', 'canceled', 'expired'))"
)
_OF_OPEN_REVIEW: Final = (
    "reconciliation_id IN (SELECT reconciliation_id FROM review_queue WHERE status = 'open')"
)
# What --include-trades never deletes, however old (SQL over the table's own columns).
KEEP: Final = {
    "order_events": _OF_OPEN_ORDER,
    "fills": _OF_OPEN_ORDER,
    "position_adjustments": _OF_OPEN_REVIEW,
    "discrepancies": _OF_OPEN_REVIEW,
    "reconciliation_events": "id IN (SELECT reconciliation_id FROM review_queue)",
}


def prune_rows(
    conn: sqlite3.Connection,
    before: float,
    *,
    include_trades: bool,
    dry_run: bool,
    batch_rows: int = BATCH_ROWS,
    pause: Callable[[float], None] | None = None,
) -> dict[str, int]:
    """Delete the rows older than ``before`` (epoch seconds); how many went, by table.

    Args:
        conn: the database (from :func:`~galfriday.audit.queries.open_database`); it is put in
            autocommit mode.
        dry_run: only count what would go.
        batch_rows: rows per transaction.
        pause: called between transactions with how long the last one took.
    """
    gone: dict[str, int] = {}
    conn.isolation_level = None  # autocommit: every DELETE is its own short transaction
    conn.execute("PRAGMA busy_timeout = 10000")  # the running engine's writer goes first
    for table, where, args in _targets(before, include_trades):
        if dry_run:
            count = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args)
            gone[table] = count.fetchone()[0]
        else:
            gone[table] = _delete(conn, table, where, args, batch_rows, pause)
    return gone


def checkpoint(conn: sqlite3.Connection, *, engine_running: bool) -> None:
    """Copy the WAL into the database file: all of it, truncating the WAL, when no engine
    runs; beside a running engine only what it can without waiting for the writer."""
    mode = "PASSIVE" if engine_running else "TRUNCATE"
    conn.execute(f"PRAGMA wal_checkpoint({mode})")


def _targets(before: float, include_trades: bool) -> list[tuple[str, str, tuple[object, ...]]]:
    """``(table, where, args)`` of every deletion, in order (names from the constants only)."""
    tables = dict(OPERATIONAL)
    if include_trades:
        tables.update(TRADES)
    targets: list[tuple[str, str, tuple[object, ...]]] = []
    for table, column in tables.items():
        keep = KEEP.get(table) if include_trades else None
        where = f"{column} < ?" + (f" AND NOT ({keep})" if keep else "")
        targets.append((table, where, (before,)))
    if include_trades:
        closed = "updated_wall < ? AND status IN (?, ?, ?)"
        targets.append(("orders", closed, (before, *FINAL_STATES)))
        targets.append(("review_queue", "created_wall < ? AND status != 'open'", (before,)))
    return targets


def _delete(
    conn: sqlite3.Connection,
    table: str,
    where: str,
    args: tuple[object, ...],
    batch_rows: int,
    pause: Callable[[float], None] | None,
) -> int:
    """Delete the rows of ``table`` matching ``where``, ``batch_rows`` per transaction."""
    statement = (
        f"DELETE FROM {table} WHERE rowid IN"
        f" (SELECT rowid FROM {table} WHERE {where} LIMIT {int(batch_rows)})"
    )
    total = 0
    while True:
        started = time.monotonic()
        deleted = conn.execute(statement, args).rowcount
        total += deleted
        if deleted < batch_rows:
            return total
        if pause is not None:
            pause(time.monotonic() - started)
