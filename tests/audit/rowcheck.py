"""Helpers for the mapping tests: store mapped rows and today's keyword rows side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from galfriday.audit.rows import AnyRow, AuditRow, row_table
from galfriday.audit.store import AuditStore

WALL = 1_767_225_600.25


def stored(rows: Sequence[AnyRow]) -> dict[str, list[tuple[Any, ...]]]:
    """What ``rows`` leave in a fresh database, table by table (ids included: order counts)."""
    store = AuditStore(":memory:")
    store.write(rows)
    tables = sorted({row_table(row) for row in rows})
    return {t: store.db.execute(f"SELECT * FROM {t}").fetchall() for t in tables}


def same_as_today(mapped: Sequence[AnyRow], today: Sequence[AuditRow]) -> None:
    """``mapped`` are rows of the same tables, in the same order, stored identically."""
    assert [row_table(r) for r in mapped] == [r.table for r in today]
    assert stored(mapped) == stored(today)
