"""``galfriday status`` and ``galfriday prune`` on an audit database."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from galfriday import cli, ops
from galfriday.audit.lock import DatabaseLock
from galfriday.audit.store import AuditRow, AuditStore
from galfriday.audit.tables import PnlRow

DAY = 86_400.0
OLD_AGE = 40 * DAY


def _order(order_id: str, status: str, at: float, cum_qty: str = "0") -> AuditRow:
    return AuditRow(
        "orders",
        {
            "order_id": order_id,
            "symbol": "BTC/USD",
            "side": "buy",
            "order_type": "limit",
            "order_qty": "0.1",
            "status": status,
            "cum_qty": cum_qty,
            "cum_cost": "0",
            "updated_wall": at,
        },
    )


def _database(path: Path) -> Path:
    """Rows from 40 days ago and from 5 seconds ago (now: when the test runs)."""
    NOW = time.time()
    OLD = NOW - OLD_AGE
    store = AuditStore(path)
    rows = [
        AuditRow("connection_events", {"at_wall": at, "connection": "public",
                                       "old_state": "connecting", "new_state": "subscribed"})
        for at in (OLD, NOW - 5)
    ] + [
        AuditRow("health_snapshots", {"at_wall": at, "connection": "public", "state": "healthy",
                                      "messages_per_s": 50.0, "reconnects": 1, "errors": 0,
                                      "overruns": 0})
        for at in (OLD, NOW - 5)
    ] + [
        AuditRow("book_checks", {"at_wall": at, "symbol": "BTC/USD", "verified": 100,
                                 "mismatched": 1, "unverified": 0})
        for at in (OLD, NOW - 5)
    ] + [
        _order("OLDCLOSED", "filled", OLD),
        _order("OLDOPEN", "new", OLD),
        _order("NEWCLOSED", "canceled", NOW - 5),
        AuditRow("fills", {"exec_id": "T1", "order_id": "OLDCLOSED", "qty": "0.1",
                           "price": "100", "fees": "[]", "at_wall": OLD}),
        AuditRow("reconciliation_events", {"id": "R1", "at_wall": OLD, "type": "scheduled",
                                           "status": "discrepancies", "discrepancies": 1}),
        AuditRow("reconciliation_events", {"id": "R2", "at_wall": NOW - 5, "type": "manual",
                                           "status": "clean"}),
        AuditRow("review_queue", {"id": "V1", "reconciliation_id": "R1", "kind": "balance",
                                  "subject": "USD", "severity": "high", "created_wall": OLD}),
    ]  # fmt: skip
    store.write(rows)
    store.close()
    return path


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_status_shows_health_books_reconciliation_review_and_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _database(tmp_path / "g.db")
    captures = tmp_path / "captures"
    captures.mkdir()
    (captures / "a.gfcap").write_bytes(b"x" * 2_000_000)
    with DatabaseLock(db):  # as a running engine holds it
        assert cli.main(["status", "--db", str(db), "--captures", str(captures)]) == 0
        out = capsys.readouterr().out
        assert f"engine: running (pid {os.getpid()}, since " in out
        assert "public   subscribed    healthy   50 msg/s, 1 reconnects" in out
        assert "BTC/USD          200 verified     2 mismatched" in out
        assert "last reconciliation: R2 (manual) clean" in out
        assert "open review items: 1   open orders: 1" in out
        assert "captures 2.0 MB in 1 file(s)" in out
        assert cli.main(["status", "--db", str(db), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["open_review_items"] == 1
    assert (doc["running"], doc["pid"], doc["health_late"]) == (True, os.getpid(), False)


def test_status_of_a_running_engine_without_recent_health_asks_whether_it_is_stuck(
    tmp_path: Path,
) -> None:
    db = _database(tmp_path / "g.db")  # the last health row: 5 s before the test started
    with DatabaseLock(db):
        doc = ops.status(db, tmp_path, now=time.time() + 3600)
    assert doc["running"] and doc["health_late"]
    out = io.StringIO()
    ops.print_status(doc, out)
    assert "(over a minute ago: is it stuck?)" in out.getvalue().splitlines()[0]


def _with_pnl(db: Path, unrealised: str | None) -> Path:
    store = AuditStore(db)
    mark = None if unrealised is None else Decimal("65010")
    store.write(
        [
            PnlRow(symbol="BTC/USD", position=Decimal("-0.5"), average_cost=Decimal("65000.1"),
                   realised=Decimal("12.5"), fees=Decimal("1.3"),
                   other_fees=(("KFEE", Decimal("12.5")),), mark=mark,
                   unrealised=None if unrealised is None else Decimal(unrealised),
                   updated_wall=time.time() - 5)
        ]
    )  # fmt: skip
    store.close()
    return db


def test_status_shows_each_symbols_pnl_as_of_its_last_fill(tmp_path: Path) -> None:
    db = _with_pnl(_database(tmp_path / "g.db"), "-4.95")
    out = io.StringIO()
    ops.print_status(ops.status(db, tmp_path), out)
    text = out.getvalue()
    assert "P&L (quote currency, as of each symbol's last fill):" in text
    assert (
        "  BTC/USD    position -0.5 @ 65000.1  realised 12.5  unrealised -4.95 at 65010"
        "  fees 1.3 (+ 12.5 KFEE)  net 6.25" in text
    )


def test_status_without_a_mark_says_the_unrealised_is_unknown(tmp_path: Path) -> None:
    db = _with_pnl(_database(tmp_path / "g.db"), None)
    out = io.StringIO()
    ops.print_status(ops.status(db, tmp_path), out)
    assert "realised 12.5  unrealised - (no mark)  fees 1.3 (+ 12.5 KFEE)  net -" in out.getvalue()


def test_status_json_gives_the_pnl_rows_as_stored_with_net(tmp_path: Path) -> None:
    db = _with_pnl(_database(tmp_path / "g.db"), "-4.95")
    [row] = ops.status(db, tmp_path)["pnl"]
    assert (row["symbol"], row["position"], row["unrealised"], row["net"]) == (
        "BTC/USD", "-0.5", "-4.95", "6.25"
    )  # fmt: skip
    json.dumps(row)


def test_status_net_is_plain_decimal_text_without_an_exponent(tmp_path: Path) -> None:
    db = _with_pnl(_database(tmp_path / "g.db"), "-1.2")  # 12.5 - 1.2 - 1.3 = 10
    [row] = ops.status(db, tmp_path)["pnl"]
    assert row["net"] == "10"


def test_status_before_any_fill_says_so(tmp_path: Path) -> None:
    db = _database(tmp_path / "g.db")
    out = io.StringIO()
    ops.print_status(ops.status(db, tmp_path), out)
    assert "P&L: no fills counted yet" in out.getvalue()


def test_status_without_an_engine_says_not_running_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _database(tmp_path / "g.db")  # its last health row is 5 s old, but nobody holds it
    assert cli.main(["status", "--db", str(db)]) == ops.EXIT_NOT_RUNNING == 3
    assert capsys.readouterr().out.startswith("engine: not running (last health report")
    assert cli.main(["status", "--db", str(db), "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert (doc["running"], doc["pid"]) == (False, None)


def test_status_without_a_database_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status", "--db", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no audit database" in err


def test_prune_keeps_the_account_history_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _database(tmp_path / "g.db")
    captures = tmp_path / "captures"
    captures.mkdir()
    old, new = captures / "old.gfcap", captures / "new.gfcap"
    old.write_bytes(b"1")
    new.write_bytes(b"2")
    aged = time.time() - OLD_AGE
    os.utime(old, (aged, aged))
    before = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * DAY))
    args = ["prune", "--before", before, "--db", str(db), "--captures", str(captures)]

    assert cli.main([*args, "--dry-run"]) == 0
    assert "would delete" in capsys.readouterr().out
    assert _count(db, "connection_events") == 2 and old.exists()

    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "connection_events" in out and "capture files" in out
    assert [_count(db, t) for t in ("connection_events", "health_snapshots", "book_checks")] == [
        1,
        1,
        1,
    ]
    assert not old.exists() and new.exists()
    assert _count(db, "orders") == 3 and _count(db, "fills") == 1  # the account is kept
    assert _count(db, "reconciliation_events") == 2

    assert cli.main([*args, "--include-trades"]) == 0
    with sqlite3.connect(db) as conn:
        orders = {r[0] for r in conn.execute("SELECT order_id FROM orders")}
        runs = {r[0] for r in conn.execute("SELECT id FROM reconciliation_events")}
    assert orders == {"OLDOPEN", "NEWCLOSED"}  # an open order stays, however old
    assert runs == {"R1", "R2"}  # R1 has an open review item
    assert _count(db, "fills") == 0 and _count(db, "review_queue") == 1


@pytest.mark.parametrize(
    ("before", "says"), [("yesterday", "is not a date"), ("2999-01-01", "in the future")]
)
def test_prune_refuses_a_bad_date_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], before: str, says: str
) -> None:
    db = _database(tmp_path / "g.db")
    assert cli.main(["prune", "--before", before, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--before" in err and says in err
    assert _count(db, "connection_events") == 2


def _old_order_history(db: Path, order_id: str, status: str) -> None:
    """An order placed 40 days ago, filled in part then: its events and one fill."""
    old = time.time() - OLD_AGE
    store = AuditStore(db)
    store.write(
        [
            _order(order_id, status, old, cum_qty="0.05"),
            AuditRow("order_events", {"at_wall": old, "order_id": order_id, "exec_type": "new",
                                      "status": "new", "cum_qty": "0"}),
            AuditRow("order_events", {"at_wall": old, "order_id": order_id, "exec_type": "trade",
                                      "status": "partially_filled", "cum_qty": "0.05"}),
            AuditRow("fills", {"exec_id": f"T-{order_id}", "order_id": order_id, "qty": "0.05",
                               "price": "100", "fees": "[]", "at_wall": old}),
        ]
    )  # fmt: skip
    store.close()


def _rows_of(db: Path, order_id: str) -> tuple[int, int, int]:
    return (
        _count_where(db, "orders", order_id),
        _count_where(db, "order_events", order_id),
        _count_where(db, "fills", order_id),
    )


def _count_where(db: Path, table: str, order_id: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        query = f"SELECT count(*) FROM {table} WHERE order_id = ?"
        return int(conn.execute(query, (order_id,)).fetchone()[0])


def _prune_all_trades(db: Path) -> int:
    before = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * DAY))
    return cli.main(["prune", "--before", before, "--db", str(db), "--include-trades"])


def test_prune_with_trades_keeps_an_open_partly_filled_order_and_its_whole_history(
    tmp_path: Path,
) -> None:
    db = _database(tmp_path / "g.db")
    _old_order_history(db, "PARTIAL", "partially_filled")
    _old_order_history(db, "DONE", "filled")
    assert _prune_all_trades(db) == 0
    assert _rows_of(db, "PARTIAL") == (1, 2, 1)
    assert _rows_of(db, "DONE") == (0, 0, 0)


def test_prune_with_trades_keeps_what_a_run_with_an_open_review_item_found(
    tmp_path: Path,
) -> None:
    db = _database(tmp_path / "g.db")  # R1 (40 days old) has the open review item V1
    old = time.time() - OLD_AGE
    store = AuditStore(db)
    store.write(
        [
            AuditRow("discrepancies", {"reconciliation_id": run, "kind": "balance",
                                       "subject": "USD", "severity": "high", "at_wall": old})
            for run in ("R1", "R0")
        ]
        + [
            AuditRow("position_adjustments", {"reconciliation_id": run, "subject": "USD",
                                              "adjustment_type": "balance", "old_value": "1",
                                              "new_value": "2", "reason": "r", "at_wall": old})
            for run in ("R1", "R0")
        ]
    )  # fmt: skip
    store.close()
    assert _prune_all_trades(db) == 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for table in ("discrepancies", "position_adjustments"):
            runs = conn.execute(f"SELECT reconciliation_id FROM {table}").fetchall()
            assert runs == [("R1",)], table


@pytest.mark.slow
def test_prune_deletes_in_short_transactions_a_writer_gets_in_between(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    AuditStore(db).close()
    rows = 200_000
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "INSERT INTO connection_events (at_wall, connection, old_state, new_state)"
            " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " SELECT 1000.0 + i, 'public', 'connecting', 'subscribed' FROM n",
            (rows,),
        )
        conn.commit()
    engine = sqlite3.connect(db, timeout=0, isolation_level=None)  # a writer that never waits
    written: list[int] = []

    def engine_writes(_took: float) -> None:  # between two of prune's transactions
        engine.execute(
            "INSERT INTO gaps (at_wall, stream, first_missing, last_missing) VALUES (?, 's', 1, 1)",
            (time.time(),),
        )
        written.append(1)

    with contextlib.closing(engine):
        gone = ops.prune(
            db, tmp_path, time.time() - DAY, include_trades=False, dry_run=False,
            pause=engine_writes,
        )  # fmt: skip
    assert gone["connection_events"] == rows
    assert len(written) == rows // ops.BATCH_ROWS  # one write after every full batch
    assert _count(db, "gaps") == len(written) and _count(db, "connection_events") == 0


@pytest.mark.parametrize("command", [["status"], ["prune", "--before", "2020-01-01"],
                                     ["report"], ["review", "list"]])  # fmt: skip
@pytest.mark.parametrize("content", ["text", "foreign"])
def test_commands_refuse_a_file_that_is_not_a_galfriday_database_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], content: str
) -> None:
    path = tmp_path / "other.db"
    if content == "text":
        path.write_text("not a database\n")
    else:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("CREATE TABLE recipes (name TEXT)")
            conn.commit()
    before = path.read_bytes()
    args = [*command[:1], "--db", str(path), *command[1:]]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]
