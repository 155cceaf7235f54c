from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from galfriday.audit.store import AuditRow, AuditStore, AuditWriter, _statements, schema_dir
from galfriday.errors import ConfigError
from galfriday.events import OrderStatus


def test_migrations_apply_once_in_order_and_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    names = sorted(p.name for p in schema_dir().glob("[0-9][0-9][0-9]_*.sql"))
    assert store.applied == names and names[0] == "001_audit_core.sql"
    store.close()
    again = AuditStore(path)
    assert again.applied == []
    rows = again.db.execute("SELECT name FROM migrations ORDER BY name").fetchall()
    assert [r[0] for r in rows] == names
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


def test_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditStore(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_decimals_stay_exact_and_sequences_become_json() -> None:
    store = AuditStore(":memory:")
    store.write(
        [
            AuditRow(
                "fills",
                {
                    "exec_id": "E1",
                    "order_id": "O1",
                    "qty": Decimal("0.00100000"),
                    "price": Decimal("26599.9"),
                    "fees": (("USD", Decimal("0.3458")),),
                    "at_wall": 1.0,
                },
            )
        ]
    )
    row = store.db.execute("SELECT qty, price, fees FROM fills").fetchone()
    assert row == ("0.00100000", "26599.9", '[["USD","0.3458"]]')


def test_fills_and_ledger_ignore_replays_and_current_state_is_replaced() -> None:
    store = AuditStore(":memory:")
    fill = AuditRow(
        "fills",
        {"exec_id": "E1", "order_id": "O1", "qty": "1", "price": "2", "fees": "[]", "at_wall": 1.0},
    )
    store.write([fill, fill])
    store.write([fill])
    assert store.db.execute("SELECT count(*) FROM fills").fetchone()[0] == 1
    order = {
        "order_id": "O1",
        "status": OrderStatus.NEW,
        "cum_qty": "0",
        "cum_cost": "0",
        "updated_wall": 1.0,
    }
    store.write([AuditRow("orders", order)])
    store.write([AuditRow("orders", {**order, "status": OrderStatus.FILLED, "cum_qty": "1"})])
    assert store.db.execute("SELECT status, cum_qty FROM orders").fetchall() == [("filled", "1")]


def test_a_bad_batch_writes_nothing_of_itself() -> None:
    store = AuditStore(":memory:")
    good = AuditRow(
        "gaps", {"at_wall": 1.0, "stream": "executions", "first_missing": 2, "last_missing": 3}
    )
    bad = AuditRow("gaps", {"at_wall": 1.0, "stream": None, "first_missing": 2, "last_missing": 3})
    with contextlib.suppress(sqlite3.IntegrityError):
        store.write([good, bad])
    assert store.db.execute("SELECT count(*) FROM gaps").fetchone()[0] == 0


async def test_writer_batches_and_flushes_everything_on_shutdown(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    writer = AuditWriter(store, batch_rows=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for i in range(1000):
            await writer.write(
                "gaps", at_wall=float(i), stream="s", first_missing=i, last_missing=i
            )
        writer.write_nowait("gaps", at_wall=0.0, stream="s", first_missing=-1, last_missing=-1)
        nursery.cancel_scope.cancel()
    assert writer.written == 1001 and writer.batches >= 10
    assert store.db.execute("SELECT count(*) FROM gaps").fetchone()[0] == 1001


async def test_writer_commits_a_partial_batch_after_a_few_ms(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = AuditStore(tmp_path / "audit.db")
    writer = AuditWriter(store, batch_rows=1000, batch_seconds=0.005)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await writer.write("gaps", at_wall=1.0, stream="s", first_missing=1, last_missing=1)
        await trio.sleep(0.004)
        assert len(writer._queue) == 1  # it waits for more rows first...
        await trio.sleep(0.002)
        assert not writer._queue  # ...a few ms at most, then the batch goes
        await writer.flush()
        assert writer.written == 1 and writer.batches == 1
        nursery.cancel_scope.cancel()


async def test_a_flush_closes_the_batch_window_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = AuditStore(tmp_path / "audit.db")
    writer = AuditWriter(store, batch_rows=1000, batch_seconds=5.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await writer.write("gaps", at_wall=1.0, stream="s", first_missing=1, last_missing=1)
        start = trio.current_time()
        await writer.flush()  # someone waits: the row need not wait for company
        assert writer.written == 1 and trio.current_time() - start < 1.0
        await writer.write("gaps", at_wall=2.0, stream="s", first_missing=2, last_missing=2)
        await trio.sleep(1.0)
        assert writer.written == 1  # without a flush, the window is as long as configured
        nursery.cancel_scope.cancel()


def _gap(i: int) -> AuditRow:
    return AuditRow(
        "gaps", {"at_wall": float(i), "stream": "s", "first_missing": i, "last_missing": i}
    )


def _fill(exec_id: str, order_id: str) -> AuditRow:
    return AuditRow(
        "fills",
        {"exec_id": exec_id, "order_id": order_id, "qty": "1", "price": "2", "fees": "[]",
         "at_wall": 5.0},
    )  # fmt: skip


def test_after_close_the_database_file_alone_holds_every_row(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    # Another connection stays open (galfriday status, a backup tool): closing the store is
    # then not the last close, which SQLite alone would not checkpoint.
    with contextlib.closing(sqlite3.connect(tmp_path / "audit.db")) as reader:
        reader.execute("SELECT count(*) FROM gaps").fetchone()
        store.write([_gap(i) for i in range(500)])
        store.close()
        copy = tmp_path / "backup" / "copy.db"
        copy.parent.mkdir()
        shutil.copyfile(tmp_path / "audit.db", copy)  # the .db alone: no -wal, no -shm
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("SELECT count(*) FROM gaps").fetchone()[0] == 500


def test_close_twice_is_harmless_and_gives_the_lock_back(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    store.close()
    store.close()
    AuditStore(tmp_path / "audit.db").close()  # the lock was released


def test_a_second_store_on_the_same_file_is_refused_in_one_line(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    try:
        with pytest.raises(ConfigError, match="is in use by another galfriday") as info:
            AuditStore(tmp_path / "audit.db")
        assert "\n" not in str(info.value) and f"pid {os.getpid()}" in str(info.value)
    finally:
        store.close()


def test_writes_wait_for_other_connections_up_to_the_busy_timeout(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db", busy_timeout=2.5)
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    store.close()


def test_a_fill_reusing_an_exec_id_of_another_order_is_an_anomaly_in_the_same_batch() -> None:
    store = AuditStore(":memory:")
    store.write([_fill("E1", "O1")])
    store.write([_fill("E1", "O2"), _fill("E1", "O1")])  # another order's, then a replay
    fills = store.db.execute("SELECT exec_id, order_id FROM fills").fetchall()
    assert fills == [("E1", "O1")]
    anomalies = store.db.execute("SELECT kind, order_id, detail, at_wall FROM order_anomalies")
    [(kind, order_id, detail, at_wall)] = anomalies.fetchall()
    assert (kind, order_id, at_wall) == ("exec_id_reused", "O2", 5.0)
    assert "E1" in detail and "O1" in detail and "O2" in detail


def test_a_fill_replayed_under_its_own_order_stays_a_silent_duplicate() -> None:
    store = AuditStore(":memory:")
    store.write([_fill("E1", "O1"), _fill("E1", "O1")])
    store.write([_fill("E1", "O1")])
    assert store.db.execute("SELECT count(*) FROM order_anomalies").fetchone()[0] == 0


def test_write_each_keeps_the_good_rows_and_returns_the_refused_ones() -> None:
    store = AuditStore(":memory:")
    bad = AuditRow("gaps", {"at_wall": 1.0, "stream": None, "first_missing": 2, "last_missing": 3})
    unknown = AuditRow("no_such_table", {"x": 1})
    written, rejected = store.write_each([_gap(1), bad, unknown, _gap(2)])
    assert written == 2
    assert [(r.row, r.unknown_table) for r in rejected] == [(bad, False), (unknown, True)]
    assert "NOT NULL" in rejected[0].reason
    rows = store.db.execute("SELECT first_missing FROM gaps ORDER BY id").fetchall()
    assert rows == [(1,), (2,)]


def test_schema_statements_split_only_where_sqlite_says_a_statement_ends() -> None:
    script = (
        "-- a comment; with a semicolon\n"
        "CREATE TABLE t (a TEXT DEFAULT 'x;y');  -- trailing; comment\n"
        "CREATE TRIGGER t_copy AFTER INSERT ON t BEGIN\n"
        "    INSERT INTO t VALUES ('copy;'); UPDATE t SET a = a;\n"
        "END;\n"
        "CREATE VIEW v_t AS SELECT a, datetime(0, 'unixepoch') AS at FROM t;\n"
    )
    statements = _statements(script)
    assert len(statements) == 3
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        for statement in statements:
            conn.execute(statement)
        made = conn.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
        assert made == [("table", "t"), ("trigger", "t_copy"), ("view", "v_t")]
        conn.execute("INSERT INTO t DEFAULT VALUES")
        assert conn.execute("SELECT a FROM v_t ORDER BY a").fetchall() == [("copy;",), ("x;y",)]


def test_a_schema_statement_without_its_semicolon_is_refused() -> None:
    with pytest.raises(ValueError, match="closing"):
        _statements("CREATE TABLE t (a TEXT);\nCREATE TABLE u (b TEXT)\n-- the end\n")


def _commit_many(store: AuditStore, commits: int) -> None:
    for n in range(commits):
        store.write([_gap(n * 10 + i) for i in range(10)])


def test_once_checkpoints_are_apart_no_commit_copies_pages_into_the_database_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    store.checkpoint_apart()
    size = path.stat().st_size
    _commit_many(store, 1_000)  # past SQLite's automatic checkpoint mark (1,000 WAL pages)
    assert path.stat().st_size == size
    store.close()


def test_checkpoint_copies_the_committed_pages_from_its_own_connection(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    store.checkpoint_apart()
    size = path.stat().st_size
    _commit_many(store, 50)
    assert store.checkpoint() > 0
    assert path.stat().st_size > size
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM gaps").fetchone()[0] == 500
    store.close()
