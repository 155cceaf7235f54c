"""``--verify``: compare a replay's audit rows with the live session's database.

The session database may hold other sessions too (``galfriday.db`` grows run after run), so
only rows stamped inside the capture's time span are compared; a current-state row (an order,
a balance, a position, a symbol's P&L) that a later session replaced is not compared either.
For each table the rows are compared as multisets of their columns, except the ``id`` counters
(a reconciliation's ``duration_ms`` and ``rest_calls`` are compared too: the replay applies
the recorded run).
Tables that only the live engine writes (health snapshots, REST call timings) are not compared.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["TABLES", "Divergence", "compare_databases"]

# table -> the column that places a row in time
TABLES: Final = {
    "connection_events": "at_wall",
    "orders": "updated_wall",
    "order_events": "at_wall",
    "order_anomalies": "at_wall",
    "fills": "at_wall",
    "balance_ledger": "at_wall",
    "balance_anomalies": "at_wall",
    "balances": "updated_wall",
    "positions": "updated_wall",
    "pnl": "updated_wall",
    "gaps": "at_wall",
    "resyncs": "at_wall",
    "book_checks": "at_wall",
    "decode_errors": "at_wall",
    "reconciliation_events": "at_wall",
    "discrepancies": "at_wall",
    "position_adjustments": "at_wall",
    "review_queue": "created_wall",
    "alerts": "at_wall",
}
IGNORED: Final = {("*", "id")}
KEEP_ID: Final = {"reconciliation_events", "review_queue"}  # their ids are meaningful text
# Current-state tables: one row per key, replaced by later news. A later session may have
# replaced a row this session wrote; such a key is not compared.
CURRENT: Final = {
    "orders": "order_id",
    "balances": "asset",
    "positions": "symbol",
    "pnl": "symbol",
}


@dataclass(frozen=True)
class Divergence:
    table: str
    where: str  # "session" or "replay": the side that has the row
    row: dict[str, Any]

    def __str__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self.row.items())
        return f"{self.table}: only in the {self.where}: {values}"


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")]


def _compared(table: str, columns: list[str]) -> list[str]:
    return [
        c for c in columns if (table, c) not in IGNORED and not (c == "id" and table not in KEEP_ID)
    ]


def _rows(
    conn: sqlite3.Connection, table: str, columns: list[str], span: tuple[float, float]
) -> Counter[tuple[Any, ...]]:
    quoted = ", ".join(f'"{c}"' for c in columns)
    time_column = TABLES[table]
    cursor = conn.execute(
        f'SELECT {quoted} FROM "{table}" WHERE "{time_column}" BETWEEN ? AND ?',
        span,
    )
    return Counter(tuple(row) for row in cursor)


def _not_replaced(
    live: sqlite3.Connection,
    table: str,
    columns: list[str],
    rows: Counter[tuple[Any, ...]],
    span: tuple[float, float],
) -> Counter[tuple[Any, ...]]:
    """``rows`` without those whose key the live database holds with a later time."""
    key, time_column = CURRENT[table], TABLES[table]
    later = {
        value
        for (value,) in live.execute(
            f'SELECT "{key}" FROM "{table}" WHERE "{time_column}" > ?', (span[1],)
        )
    }
    index = columns.index(key)
    return Counter({row: n for row, n in rows.items() if row[index] not in later})


def compare_databases(session: Path, replay: Path, span: tuple[float, float]) -> list[Divergence]:
    """Every row that one database has and the other lacks, within ``span`` (wall clock)."""
    found: list[Divergence] = []
    with (
        sqlite3.connect(f"file:{session}?mode=ro", uri=True) as live,
        sqlite3.connect(f"file:{replay}?mode=ro", uri=True) as replayed,
    ):
        for table in TABLES:
            live_columns, replay_columns = _columns(live, table), _columns(replayed, table)
            if not live_columns or not replay_columns:
                continue
            columns = _compared(table, [c for c in live_columns if c in replay_columns])
            theirs = _rows(live, table, columns, span)
            ours = _rows(replayed, table, columns, span)
            if table in CURRENT:
                ours = _not_replaced(live, table, columns, ours, span)
            for where, extra in (("session", theirs - ours), ("replay", ours - theirs)):
                for values, n in sorted(extra.items(), key=lambda kv: repr(kv[0])):
                    row = dict(zip(columns, values, strict=True))
                    found.extend(Divergence(table, where, row) for _ in range(n))
    return found
