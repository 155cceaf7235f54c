"""Reading the audit database: the SQL behind ``status``, ``report``, ``review`` and the
reconciliation service's look at the review queue.

Rules:
- Plain parameterised SQL over ``sqlite3``. The commands run in a separate process from the
  engine (SQLite's WAL lets both work on the file at once) and open it with
  :func:`open_database`, which never creates a file and refuses a foreign one.
- Rows come back as dicts of column to value (``sqlite3.Row`` underneath), as stored:
  epoch seconds, decimal text. Formatting them is the commands' business.
- The one write here is :func:`resolve`: a person's decision only marks a review item
  ``resolved``; the running engine applies it (and audits the adjustment) within seconds.
- :func:`open_review_keys` and :func:`resolved_rows` run on the engine's own store, in the
  writer's thread (:meth:`~galfriday.audit.writer.AuditWriter.read`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from galfriday.audit.checks import check_database
from galfriday.errors import ConfigError

if TYPE_CHECKING:
    from galfriday.audit.store import AuditStore

__all__ = [
    "DECISIONS",
    "FINAL_STATES",
    "adjustments",
    "discrepancies",
    "engine_state",
    "open_database",
    "open_review_keys",
    "pnl_rows",
    "resolve",
    "resolved_rows",
    "review_item",
    "review_items",
    "run",
    "runs",
]

DECISIONS: Final = ("accept-exchange", "keep-internal")
FINAL_STATES: Final = ("filled", "canceled", "expired")  # an order in these is closed
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


def _one(conn: sqlite3.Connection, sql: str, *params: object) -> Row | None:
    row = conn.execute(sql, params).fetchone()
    return dict(row) if row is not None else None


# --- galfriday status ----------------------------------------------------------------------


def engine_state(conn: sqlite3.Connection) -> Row:
    """What the database says of its engine: each connection's last state change and health
    snapshot, when health was last written, each book's checks, the last reconciliation, and
    how many review items and orders are open (``conn`` from :func:`open_database`)."""
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
    books = _all(
        conn,
        "SELECT symbol, sum(verified) AS verified, sum(mismatched) AS mismatched,"
        " sum(unverified) AS unverified, max(at_wall) AS at"
        " FROM book_checks GROUP BY symbol ORDER BY symbol",
    )
    reconciliation = _one(
        conn,
        "SELECT id, type, status, discrepancies, auto_corrected, manual_review, at_wall"
        " FROM reconciliation_events ORDER BY at_wall DESC LIMIT 1",
    )
    review = _one(conn, "SELECT count(*) AS n FROM review_queue WHERE status = 'open'")
    open_orders = _one(
        conn, "SELECT count(*) AS n FROM orders WHERE status NOT IN (?, ?, ?)", *FINAL_STATES
    )
    return {
        "last_seen": last_health["at"] if last_health else None,
        "connections": connections,
        "books": books,
        "last_reconciliation": reconciliation,
        "open_review_items": review["n"] if review else 0,
        "open_orders": open_orders["n"] if open_orders else 0,
    }


def pnl_rows(conn: sqlite3.Connection) -> list[Row]:
    """Each symbol's P&L row (as of its last fill), sorted by symbol; none from a database
    an engine older than the ``pnl`` table wrote and no newer one has opened since."""
    known = _one(conn, "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'pnl'")
    if known is None:
        return []
    return _all(conn, "SELECT * FROM pnl ORDER BY symbol")


# --- galfriday report ----------------------------------------------------------------------


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


# --- galfriday review ----------------------------------------------------------------------


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


# --- the engine's own reads ----------------------------------------------------------------


def open_review_keys(store: AuditStore) -> list[list[str]]:
    """``[kind, subject]`` of every open review item, sorted (a run does not queue them
    twice)."""
    cursor = store.db.execute(
        "SELECT kind, subject FROM review_queue WHERE status = 'open' ORDER BY kind, subject"
    )
    return [[str(kind), str(subject)] for kind, subject in cursor.fetchall()]


def resolved_rows(store: AuditStore) -> list[Row]:
    """Every review item decided by a person and not yet applied, as its whole row."""
    cursor = store.db.execute("SELECT * FROM review_queue WHERE status = 'resolved'")
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
