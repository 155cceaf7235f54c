"""``galfriday status`` and ``galfriday prune``: operating an engine from its audit database.

Both only read or delete rows of the database (WAL: safe beside a running engine, which
keeps writing) and capture files; neither talks to the exchange. Both refuse, in one line
(exit 2), a path that is missing, a folder, not SQLite, or another program's database.

- ``status``: is an engine running on this database (it holds the lock beside it: known at
  once, with its pid), each connection's state and health, the books' verification, the last
  reconciliation, open review items, each symbol's P&L as of its last fill (position, average
  cost, realised, unrealised at the mark then, fees, net = realised + unrealised - fees), and
  the disk used by the database and the captures.
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

The SQL is :mod:`galfriday.audit.queries` (status) and :mod:`galfriday.audit.maintenance`
(prune); this module adds the lock, the disk, the capture files and the words.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TextIO

from galfriday.audit.lock import LockHolder, read_holder
from galfriday.audit.maintenance import BATCH_ROWS, checkpoint, prune_rows
from galfriday.audit.queries import engine_state, open_database, pnl_rows
from galfriday.errors import ConfigError

__all__ = ["BATCH_ROWS", "EXIT_NOT_RUNNING", "prune", "prune_command", "status", "status_command"]

EXIT_NOT_RUNNING: Final = 3  # galfriday status: no engine holds the database
HEALTH_EVERY: Final = 60.0  # a running engine writes health rows more often than this


def _when(wall: float | None) -> str:
    if wall is None:
        return "-"
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def status(db: Path, captures: Path, now: float | None = None) -> dict[str, Any]:
    """Everything ``galfriday status`` shows, as one document."""
    now = time.time() if now is None else now
    holder = read_holder(db)  # first, and at once: is an engine on this database?
    conn = open_database(db)
    try:
        state = engine_state(conn)
        pnl = [_with_net(row) for row in pnl_rows(conn)]
    finally:
        conn.close()
    database = sum(_size(Path(str(db) + suffix)) for suffix in ("", "-wal", "-shm"))
    capture_files = sorted(captures.glob("*.gfcap")) if captures.is_dir() else []
    return {
        "database": str(db),
        "running": holder is not None,
        "pid": holder.pid if holder is not None else None,
        "since": holder.since if holder is not None else None,
        "last_seen": state["last_seen"],
        "health_late": _late(holder, state["last_seen"], now),
        "connections": state["connections"],
        "books": state["books"],
        "last_reconciliation": state["last_reconciliation"],
        "open_review_items": state["open_review_items"],
        "open_orders": state["open_orders"],
        "pnl": pnl,
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


def _with_net(row: dict[str, Any]) -> dict[str, Any]:
    """A ``pnl`` row with ``net`` (realised + unrealised - fees, decimal text; None without
    an unrealised figure)."""
    net = None
    if row["unrealised"] is not None:
        total = Decimal(row["realised"]) + Decimal(row["unrealised"]) - Decimal(row["fees"])
        net = f"{total.normalize():f}" if total else "0"
    return {**row, "net": net}


def _print_pnl(rows: list[dict[str, Any]], say: Callable[[str], object]) -> None:
    if not rows:
        say("P&L: no fills counted yet\n")
        return
    say("P&L (quote currency, as of each symbol's last fill):\n")
    for row in rows:
        held = row["position"]
        if row["average_cost"] is not None:
            held += f" @ {row['average_cost']}"
        if row["unrealised"] is None:
            unrealised = "- (no mark)"
        else:
            unrealised = f"{row['unrealised']} at {row['mark']}"
        other = ", ".join(f"{amount} {asset}" for asset, amount in json.loads(row["other_fees"]))
        fees = row["fees"] + (f" (+ {other})" if other else "")
        say(
            f"  {row['symbol']:<10} position {held}  realised {row['realised']}"
            f"  unrealised {unrealised}  fees {fees}  net {row['net'] or '-'}"
            f"  (last fill {_when(row['updated_wall'])})\n"
        )


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
    _print_pnl(doc["pnl"], say)
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
    try:
        gone = prune_rows(
            conn,
            before,
            include_trades=include_trades,
            dry_run=dry_run,
            batch_rows=batch_rows,
            pause=pause,
        )
        if not dry_run:
            # TRUNCATE waits for writers; beside a running engine, copy what it can and go.
            checkpoint(conn, engine_running=engine is not None)
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
