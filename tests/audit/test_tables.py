"""The typed audit rows match the schema: one struct per table, one field per column."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

import msgspec
import pytest

from galfriday.audit.rows import AuditRow, row_parts, sql_value
from galfriday.audit.store import AuditStore
from galfriday.audit.tables import TABLES, FillRow, GapRow, HealthSnapshotRow, OrderEventRow
from galfriday.events import OrderStatus

INTERNAL = {"migrations"}  # the store's own bookkeeping, not an audit table


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {name for (name,) in rows} - INTERNAL


def _admits_none(kind: Any) -> bool:
    return get_origin(kind) in (Union, UnionType) and NoneType in get_args(kind)


def _autoincrement_id(column: tuple[Any, ...]) -> bool:
    _, name, declared, _, _, pk = column
    return name == "id" and declared.upper() == "INTEGER" and pk == 1


def _mismatches(conn: sqlite3.Connection, table: str) -> list[str]:
    """Every way ``table``'s struct differs from the table (empty: they agree)."""
    cls = TABLES[table]
    fields = {f.name: f for f in msgspec.structs.fields(cls)}
    columns = [c for c in conn.execute(f"PRAGMA table_info({table})") if not _autoincrement_id(c)]
    found = []
    names = [c[1] for c in columns]
    if list(fields) != names:
        found.append(f"{table}: fields {list(fields)} but columns {names}")
    for _, name, _, notnull, default, pk in columns:
        field = fields.get(name)
        if field is None:
            continue
        must = bool(pk) or (notnull and default is None)
        if field.required != must:
            found.append(f"{table}.{name}: required is {field.required}, should be {must}")
        nullable = not notnull and not pk
        if _admits_none(field.type) != nullable:
            found.append(f"{table}.{name}: None allowed is {not nullable}, should be {nullable}")
        if default is not None and not field.required:
            factory = field.default_factory
            given = field.default if factory is msgspec.NODEFAULT else factory()
            sql_default = conn.execute(f"SELECT {default}").fetchone()[0]
            if sql_value(given) != sql_default:
                found.append(f"{table}.{name}: default {given!r}, schema says {sql_default!r}")
        elif nullable and field.default is not None and not field.required:
            found.append(f"{table}.{name}: a nullable column's field should default to None")
    return found


def test_every_audit_table_has_exactly_one_row_struct() -> None:
    store = AuditStore(":memory:")
    assert _tables(store.db.conn) == set(TABLES)
    assert len({cls for cls in TABLES.values()}) == len(TABLES)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_struct_has_the_columns_of_its_table_and_their_rules(table: str) -> None:
    store = AuditStore(":memory:")
    assert _mismatches(store.db.conn, table) == []


def test_a_column_added_to_the_schema_without_its_field_is_caught() -> None:
    store = AuditStore(":memory:")
    store.db.execute("ALTER TABLE gaps ADD COLUMN note TEXT")
    store.db.execute("ALTER TABLE alerts ADD COLUMN acknowledged INTEGER NOT NULL DEFAULT 0")
    assert _mismatches(store.db.conn, "gaps") != []
    assert _mismatches(store.db.conn, "alerts") != []


def test_a_new_table_without_a_struct_is_caught() -> None:
    store = AuditStore(":memory:")
    store.db.execute("CREATE TABLE withdrawals (id INTEGER PRIMARY KEY, asset TEXT NOT NULL)")
    assert _tables(store.db.conn) != set(TABLES)


def test_a_typed_row_is_stored_exactly_as_the_same_loose_row() -> None:
    typed, loose = AuditStore(":memory:"), AuditStore(":memory:")
    values = {
        "exec_id": "E1",
        "order_id": "O1",
        "qty": Decimal("0.00100000"),
        "price": Decimal("26599.9"),
        "fees": (("USD", Decimal("0.3458")),),
        "at_wall": 1.5,
    }
    typed.write([FillRow(**values)])
    loose.write([AuditRow("fills", values)])
    query = "SELECT * FROM fills"
    assert typed.db.execute(query).fetchall() == loose.db.execute(query).fetchall()


def test_typed_values_become_sqlite_values_and_enums_their_text() -> None:
    row = OrderEventRow(
        at_wall=2.0,
        order_id="O1",
        exec_type="trade",
        status=OrderStatus.PARTIALLY_FILLED,
        previous_status=None,
        cum_qty=Decimal("0.50"),
    )
    (table, columns), record = row_parts(row)
    assert table == "order_events" and columns[0] == "at_wall"
    assert record == (2.0, "O1", "trade", "partially_filled", None, "0.50", None)
    store = AuditStore(":memory:")
    store.write([row])
    stored = store.db.execute("SELECT status, typeof(status) FROM order_events").fetchone()
    assert stored == ("partially_filled", "text")


def test_by_channel_is_stored_as_the_json_object_the_schema_describes() -> None:
    row = HealthSnapshotRow(
        at_wall=1.0,
        connection="public",
        state="healthy",
        messages_per_s=51.2,
        reconnects=0,
        errors=0,
        overruns=0,
        by_channel={"book": 48.2, "trade": 3.0},
    )
    _, record = row_parts(row)
    assert record[-1] == '{"book":48.2,"trade":3.0}'


def test_a_row_of_a_table_is_constructed_by_keyword_only() -> None:
    with pytest.raises(TypeError):
        GapRow(1.0, "s", 1, 2)  # type: ignore[misc]
