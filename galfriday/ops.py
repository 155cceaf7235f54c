"""``galfriday status`` and ``galfriday prune``: operating an engine from its audit database.

Both only read or delete rows of the database (WAL: safe beside a running engine, which
keeps writing) and capture files; neither talks to the exchange. Both refuse, in one line
(exit 2), a path that is missing, a folder, not SQLite, or another program's database.

- ``status``: is an engine running on this database (it holds the lock beside it: known at
  once, with its pid), each connection's state and health, the books' verification, the last
  reconciliation, open review items, and the disk used by the database and the captures.
  ``--json`` for machines (``running``, ``pid``, ``since``). Exit code: 0 when an engine is
  running, 3 when none is (:data:`EXIT_NOT_RUNNING`, as LSB init scripts do), 2 on a bad
  ``--db``.
- ``prune --before DATE``: delete capture files and operational audit rows older than
  DATE. Orders, order events, fills, the ledger, adjustments, reconciliation reports and
  review items are kept unless ``--include-trades`` is given (then, of those, only rows
  older than DATE, and never an order that is not final nor any event or fill of it, a run
  with a review item, nor the discrepancies and adjustments of a run with an open one).
  ``--dry-run`` says what would go. Rows go in short transactions of :data:`BATCH_ROWS`;
  beside a running engine prune pauses between them about as long as each took, so the
  engine's writer never waits long for its turn.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

from galfriday.audit.lock import LockHolder, read_holder
from galfriday.errors import ConfigError
from galfriday.reconcile.queries import open_database

__all__ = ["BATCH_ROWS", "EXIT_NOT_RUNNING", "prune", "prune_command", "status", "status_command"]

EXIT_NOT_RUNNING: Final = 3  # galfriday status: no engine holds the database
BATCH_ROWS: Final = 2_000  # rows deleted per transaction
HEALTH_EVERY: Final = 60.0  # a running engine writes health rows more often than this
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
FINAL_STATES: Final = ("filled", "canceled", "expired")
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


def _when(wall: float | None) -> str:
    if wall is None:
        return "-"
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _one(conn: sqlite3.Connection, sql: str, *args: object) -> dict[str, Any] | None:
    row = conn.execute(sql, args).fetchone()
    return dict(row) if row is not None else None


def status(db: Path, captures: Path, now: float | None = None) -> dict[str, Any]:
    """Everything ``galfriday status`` shows, as one document."""
    now = time.time() if now is None else now
    holder = read_holder(db)  # first, and at once: is an engine on this database?
    conn = open_database(db)
    try:
        connections = {}
        for (name,) in conn.execute("SELECT DISTINCT connection FROM connection_events"):
            event = _one(
                conn,
                "SELECT new_state, reason, at_wall FROM connection_events"
                " WHERE connection = ? ORDER BY id DESC LIMIT 1",
                name,
            )
            health = _one(
                conn,
                "SELECT state, detail, messages_per_s, reconnects, at_wall FROM health_snapshots"
                " WHERE connection = ? ORDER BY id DESC LIMIT 1",
                name,
            )
            connections[name] = {"state": event, "health": health}
        last_health = _one(conn, "SELECT max(at_wall) AS at FROM health_snapshots")
        seen = last_health["at"] if last_health else None
        books = [
            dict(row)
            for row in conn.execute(
                "SELECT symbol, sum(verified) AS verified, sum(mismatched) AS mismatched,"
                " sum(unverified) AS unverified, max(at_wall) AS at"
                " FROM book_checks GROUP BY symbol ORDER BY symbol"
            )
        ]
        reconciliation = _one(
            conn,
            "SELECT id, type, status, discrepancies, auto_corrected, manual_review, at_wall"
            " FROM reconciliation_events ORDER BY at_wall DESC LIMIT 1",
        )
        review = _one(conn, "SELECT count(*) AS n FROM review_queue WHERE status = 'open'")
        open_orders = _one(
            conn,
            "SELECT count(*) AS n FROM orders WHERE status NOT IN (?, ?, ?)",
            *FINAL_STATES,
        )
    finally:
        conn.close()
    database = sum(_size(Path(str(db) + suffix)) for suffix in ("", "-wal", "-shm"))
    capture_files = sorted(captures.glob("*.gfcap")) if captures.is_dir() else []
    return {
        "database": str(db),
        "running": holder is not None,
        "pid": holder.pid if holder is not None else None,
        "since": holder.since if holder is not None else None,
        "last_seen": seen,
        "health_late": _late(holder, seen, now),
        "connections": connections,
        "books": books,
        "last_reconciliation": reconciliation,
        "open_review_items": review["n"] if review else 0,
        "open_orders": open_orders["n"] if open_orders else 0,
        "disk": {
            "database_bytes": database,
            "captures_bytes": sum(_size(p) for p in capture_files),
            "capture_files": len(capture_files),
            "captures": str(captures),
        },
    }


def _late(holder: LockHolder | None, seen: float | None, now: float) -> bool:
    """A running engine without a health row for longer than it takes to write one."""
    last = seen if seen is not None else holder.since if holder is not None else None
    return holder is not None and last is not None and now - last > HEALTH_EVERY


def print_status(doc: dict[str, Any], out: TextIO) -> None:
    say = out.write
    seen = doc["last_seen"]
    late = " (over a minute ago: is it stuck?)" if doc["health_late"] else ""
    reported = f"last health report {_when(seen)}{late}"
    if doc["running"]:
        pid = doc["pid"] if doc["pid"] is not None else "unknown"
        state = f"running (pid {pid}, since {_when(doc['since'])}; {reported})"
    else:
        state = f"not running ({reported})"
    say(f"engine: {state} — {doc['database']}\n")
    for name, conn in sorted(doc["connections"].items()):
        event, health = conn["state"] or {}, conn["health"] or {}
        line = f"  {name:<8} {event.get('new_state', '-'):<13}"
        if health:
            line += (
                f" {health['state']:<9} {health['messages_per_s']:.0f} msg/s,"
                f" {health['reconnects']} reconnects"
            )
            if health.get("detail"):
                line += f" ({health['detail']})"
        say(line + "\n")
    say("books:\n")
    if not doc["books"]:
        say("  (no book checks yet)\n")
    for book in doc["books"]:
        say(
            f"  {book['symbol']:<10} {book['verified']:>9,} verified"
            f" {book['mismatched']:>5} mismatched {book['unverified']:>5} unverified"
            f"  (last {_when(book['at'])})\n"
        )
    run = doc["last_reconciliation"]
    if run is None:
        say("last reconciliation: none yet\n")
    else:
        say(
            f"last reconciliation: {run['id']} ({run['type']}) {run['status']} at"
            f" {_when(run['at_wall'])}: {run['discrepancies']} discrepancies,"
            f" {run['auto_corrected']} corrected, {run['manual_review']} to review\n"
        )
    say(f"open review items: {doc['open_review_items']}   open orders: {doc['open_orders']}\n")
    disk = doc["disk"]
    say(
        f"disk: database {_megabytes(disk['database_bytes'])}, captures"
        f" {_megabytes(disk['captures_bytes'])} in {disk['capture_files']} file(s)"
        f" ({disk['captures']})\n"
    )


def status_command(args: argparse.Namespace, out: TextIO) -> int:
    """Print the status; the exit code is 0 if an engine runs, :data:`EXIT_NOT_RUNNING` if not."""
    doc = status(args.db, args.captures)
    if args.json:
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        print_status(doc, out)
    return 0 if doc["running"] else EXIT_NOT_RUNNING


def parse_date(text: str) -> float:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 time, as epoch seconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            "--before", f"{text!r} is not a date; use YYYY-MM-DD or 2026-11-01T00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def prune(
    db: Path,
    captures: Path,
    before: float,
    *,
    include_trades: bool,
    dry_run: bool,
    batch_rows: int = BATCH_ROWS,
    pause: Callable[[float], None] | None = None,
) -> dict[str, int]:
    """Delete what is older than ``before``; returns what went (or would), by table/file.

    Args:
        batch_rows: rows per transaction.
        pause: called between transactions with how long the last one took (default: sleep
            about that long, jittered, if an engine holds the database; else nothing).
    """
    if before > time.time():
        raise ConfigError("--before", "is in the future; that would delete current rows")
    engine = read_holder(db)
    if pause is None and engine is not None:
        pause = _make_way
    conn = open_database(db)
    gone: dict[str, int] = {}
    try:
        conn.isolation_level = None  # autocommit: every DELETE is its own short transaction
        conn.execute("PRAGMA busy_timeout = 10000")  # the running engine's writer goes first
        for table, where, args in _targets(before, include_trades):
            if dry_run:
                count = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args)
                gone[table] = count.fetchone()[0]
            else:
                gone[table] = _delete(conn, table, where, args, batch_rows, pause)
        if not dry_run:
            # TRUNCATE waits for writers; beside a running engine, copy what it can and go.
            mode = "PASSIVE" if engine is not None else "TRUNCATE"
            conn.execute(f"PRAGMA wal_checkpoint({mode})")
    finally:
        conn.close()
    files = 0
    if captures.is_dir():
        for path in sorted(captures.glob("*.gfcap")):
            if path.stat().st_mtime < before:  # its last record is older than DATE
                files += 1
                if not dry_run:
                    path.unlink()
    gone["capture files"] = files
    return gone


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


def _make_way(took: float) -> None:
    """Leave the database to the engine's writer about as long as prune just held it.

    Its busy handler tries again every few to 100 ms: half the time free, at random phase,
    gets it in within its busy timeout (5 s) with certainty in practice.
    """
    time.sleep(took * random.uniform(0.5, 1.5))


def prune_command(args: argparse.Namespace, out: TextIO) -> int:
    before = parse_date(args.before)
    gone = prune(
        args.db,
        args.captures,
        before,
        include_trades=args.include_trades,
        dry_run=args.dry_run,
    )
    verb = "would delete" if args.dry_run else "deleted"
    out.write(f"{verb}, older than {_when(before)}:\n")
    for name, count in gone.items():
        if count:
            out.write(f"  {name:<22} {count:>9,}\n")
    if not any(gone.values()):
        out.write("  nothing\n")
    if not args.include_trades:
        out.write(
            "kept: orders, fills, ledger, adjustments, reconciliation runs, reviews"
            " (--include-trades to prune those too)\n"
        )
    return 0
