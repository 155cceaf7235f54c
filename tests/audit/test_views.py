"""The views for people (ISO times) and the Datasette metadata that describes them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from galfriday.audit.store import AuditStore
from galfriday.audit.tables import TABLES, AlertRow, ReviewItemRow
from galfriday.events import Severity

METADATA = Path(__file__).parent.parent.parent / "docs" / "datasette-metadata.json"
VIEW_OF = {"reconciliation_events": "v_reconciliations"}  # every other: v_ + the table


def _columns(conn: sqlite3.Connection, name: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({name})")]


def _names(conn: sqlite3.Connection, kind: str) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
    return {name for (name,) in rows} - {"migrations"}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_table_has_a_view_with_iso_times_in_front_of_its_own_columns(table: str) -> None:
    conn = AuditStore(":memory:").db.conn
    view = VIEW_OF.get(table, f"v_{table}")
    own = _columns(conn, table)
    times = [c.removesuffix("_wall") for c in own if c.endswith("_wall")]
    assert _columns(conn, view) == times + own


def test_view_times_are_iso_8601_utc_with_milliseconds() -> None:
    store = AuditStore(":memory:")
    store.write(
        [
            AlertRow(at_wall=1_767_225_600.25, severity=Severity.LOW, source="s", message="m"),
            ReviewItemRow(
                id="r",
                reconciliation_id="run",
                kind="k",
                subject="s",
                severity=Severity.LOW,
                created_wall=0.5,
            ),
        ]
    )
    [(at,)] = store.db.execute("SELECT at FROM v_alerts").fetchall()
    assert at == "2026-01-01T00:00:00.250Z"
    row = store.db.execute("SELECT created, resolved, applied FROM v_review_queue").fetchone()
    assert row == ("1970-01-01T00:00:00.500Z", None, None)


def test_datasette_metadata_describes_every_table_and_view_and_only_real_columns() -> None:
    conn = AuditStore(":memory:").db.conn
    document = json.loads(METADATA.read_text())
    described = document["databases"]["galfriday"]["tables"]
    assert set(described) == _names(conn, "table") | _names(conn, "view")
    for name, entry in described.items():
        assert entry["title"] and entry["description"], name
        assert set(entry.get("columns", {})) <= set(_columns(conn, name)), name
