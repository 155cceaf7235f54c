"""``galfriday status`` and ``galfriday prune`` on an audit database."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from galfriday import cli
from galfriday.audit.store import AuditRow, AuditStore

DAY = 86_400.0
OLD_AGE = 40 * DAY


def _order(order_id: str, status: str, at: float) -> AuditRow:
    return AuditRow(
        "orders",
        {
            "order_id": order_id,
            "symbol": "BTC/USD",
            "side": "buy",
            "order_type": "limit",
            "order_qty": "0.1",
            "status": status,
            "cum_qty": "0",
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
    assert cli.main(["status", "--db", str(db), "--captures", str(captures)]) == 0
    out = capsys.readouterr().out
    assert "engine: running" in out
    assert "public   subscribed    healthy   50 msg/s, 1 reconnects" in out
    assert "BTC/USD          200 verified     2 mismatched" in out
    assert "last reconciliation: R2 (manual) clean" in out
    assert "open review items: 1   open orders: 1" in out
    assert "captures 2.0 MB in 1 file(s)" in out
    assert cli.main(["status", "--db", str(db), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["open_review_items"] == 1 and doc["running"] is True


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
