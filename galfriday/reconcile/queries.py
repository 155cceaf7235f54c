"""Reading and deciding on reconciliation results in the audit database.

Plain parameterised SQL over ``sqlite3`` (the CLI is a separate process from the engine;
SQLite's WAL lets both work on the file at once). A review decision only marks the item
``resolved``; the running engine applies it (and audits the adjustment) within seconds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Final

from galfriday.audit.checks import check_database
from galfriday.errors import ConfigError

__all__ = [
    "DECISIONS",
    "adjustments",
    "discrepancies",
    "open_database",
    "resolve",
    "review_item",
    "review_items",
    "run",
    "runs",
]

DECISIONS: Final = ("accept-exchange", "keep-internal")
Row = dict[str, Any]


def open_database(path: Path) -> sqlite3.Connection:
    """Open an existing audit database; never creates a file, never touches a foreign one.

    Raises:
        ConfigError: no file at ``path``, a folder, a file that is not SQLite or not
            galfriday's (:func:`~galfriday.audit.checks.check_database`), or one that cannot
            be opened; one line naming the path.
    """
    check_database(path, create=False)
    try:
        # mode=rw: a file deleted since the check is an error, not a new empty database.
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=rw", uri=True)
    except sqlite3.Error as exc:
        raise ConfigError(str(path), f"cannot be opened ({exc}); check --db") from None
    conn.row_factory = sqlite3.Row
    return conn


def _all(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
    return [dict(row) for row in conn.execute(sql, params).fetchall()]


def runs(conn: sqlite3.Connection, last: int = 10, with_discrepancies: bool = False) -> list[Row]:
    """The most recent runs, newest first."""
    if with_discrepancies:
        return _all(
            conn,
            "SELECT * FROM reconciliation_events WHERE discrepancies > 0 "
            "ORDER BY at_wall DESC LIMIT ?",
            (last,),
        )
    return _all(conn, "SELECT * FROM reconciliation_events ORDER BY at_wall DESC LIMIT ?", (last,))


def run(conn: sqlite3.Connection, run_id: str) -> Row | None:
    rows = _all(conn, "SELECT * FROM reconciliation_events WHERE id = ?", (run_id,))
    return rows[0] if rows else None


def discrepancies(conn: sqlite3.Connection, run_id: str) -> list[Row]:
    return _all(
        conn,
        "SELECT * FROM discrepancies WHERE reconciliation_id = ? "
        "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 "
        "WHEN 'medium' THEN 2 ELSE 3 END, subject",
        (run_id,),
    )


def adjustments(
    conn: sqlite3.Connection, run_id: str | None = None, subject: str | None = None
) -> list[Row]:
    """Adjustment history: of one run, of one pair or asset, or all (newest first)."""
    if run_id is not None:
        return _all(
            conn,
            "SELECT * FROM position_adjustments WHERE reconciliation_id = ? ORDER BY id",
            (run_id,),
        )
    if subject is not None:
        return _all(
            conn,
            "SELECT * FROM position_adjustments WHERE subject = ? ORDER BY at_wall DESC",
            (subject,),
        )
    return _all(conn, "SELECT * FROM position_adjustments ORDER BY at_wall DESC")


def review_items(conn: sqlite3.Connection, status: str | None = "open") -> list[Row]:
    if status is None:
        return _all(conn, "SELECT * FROM review_queue ORDER BY created_wall DESC")
    return _all(
        conn, "SELECT * FROM review_queue WHERE status = ? ORDER BY created_wall", (status,)
    )


def review_item(conn: sqlite3.Connection, item_id: str) -> Row | None:
    rows = _all(conn, "SELECT * FROM review_queue WHERE id = ?", (item_id,))
    return rows[0] if rows else None


def resolve(conn: sqlite3.Connection, item_id: str, decision: str, note: str, now: float) -> Row:
    """Record a person's decision on an open review item.

    Raises:
        ConfigError: unknown item, an item already decided, or an unknown decision.
    """
    if decision not in DECISIONS:
        raise ConfigError("decision", f"must be one of {', '.join(DECISIONS)}")
    item = review_item(conn, item_id)
    if item is None:
        raise ConfigError(item_id, "no such review item; see galfriday review list")
    if item["status"] != "open":
        raise ConfigError(item_id, f"was already decided ({item['status']}: {item['decision']})")
    with conn:
        conn.execute(
            "UPDATE review_queue SET status = 'resolved', decision = ?, note = ?, "
            "resolved_wall = ? WHERE id = ? AND status = 'open'",
            (decision, note, now, item_id),
        )
    updated = review_item(conn, item_id)
    return updated if updated is not None else item
