"""``galfriday report``, ``review`` and ``reconcile`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from galfriday import cli
from galfriday.audit.store import AuditRow, AuditStore
from galfriday.sim.server import SimConfig, open_simulator


def _database(path: Path) -> None:
    store = AuditStore(path)
    store.write(
        [
            AuditRow(
                "reconciliation_events",
                {
                    "id": "run1",
                    "at_wall": 1_800_000_000.0,
                    "type": "scheduled",
                    "status": "discrepancies",
                    "discrepancies": 2,
                    "auto_corrected": 1,
                    "manual_review": 1,
                    "explained": 0,
                    "rest_calls": 6,
                    "duration_ms": 12.5,
                    "report": json.dumps({"by_severity": {"critical": 1, "low": 1}}),
                },
            ),
            AuditRow(
                "discrepancies",
                {
                    "reconciliation_id": "run1",
                    "kind": "balance_mismatch",
                    "subject": "DOGE",
                    "severity": "critical",
                    "internal": "5",
                    "exchange": "0",
                    "at_wall": 1_800_000_000.0,
                },
            ),
            AuditRow(
                "discrepancies",
                {
                    "reconciliation_id": "run1",
                    "kind": "balance_mismatch",
                    "subject": "USD",
                    "severity": "low",
                    "internal": "1",
                    "exchange": "1.0005",
                    "at_wall": 1_800_000_000.0,
                },
            ),
            AuditRow(
                "position_adjustments",
                {
                    "reconciliation_id": "run1",
                    "subject": "USD",
                    "adjustment_type": "balance",
                    "old_value": "1",
                    "new_value": "1.0005",
                    "reason": "small",
                    "at_wall": 1_800_000_000.0,
                },
            ),
            AuditRow(
                "review_queue",
                {
                    "id": "rev1",
                    "reconciliation_id": "run1",
                    "kind": "balance_mismatch",
                    "subject": "DOGE",
                    "severity": "critical",
                    "internal": "5",
                    "exchange": "0",
                    "created_wall": 1_800_000_000.0,
                    "status": "open",
                },
            ),
        ]
    )
    store.close()


def test_report_shows_the_run_by_severity_with_corrections_and_review_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "g.db"
    _database(db)
    assert cli.main(["report", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "reconciliation run1  2027-01-15 08:00:00 UTC  (scheduled)" in out
    assert "discrepancies by severity: critical 1, high 0, medium 0, low 1" in out
    assert out.index("DOGE") < out.index("1.0005")  # critical first
    assert "rev1" in out and "small" in out
    assert cli.main(["report", "run1", "--json", "--db", str(db)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document[0]["report"]["by_severity"]["critical"] == 1
    assert document[0]["adjustments"][0]["new_value"] == "1.0005"


def test_review_list_show_and_resolve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "g.db"
    _database(db)
    assert cli.main(["review", "--db", str(db), "list"]) == 0
    assert "rev1" in capsys.readouterr().out
    assert cli.main(["review", "--db", str(db), "show", "rev1"]) == 0
    assert "critical" in capsys.readouterr().out
    assert (
        cli.main(
            [
                "review",
                "--db",
                str(db),
                "resolve",
                "rev1",
                "--keep-internal",
                "--note",
                "dust, known",
            ]
        )
        == 0
    )
    assert "resolved: keep-internal (dust, known)" in capsys.readouterr().out
    assert (
        cli.main(
            ["review", "--db", str(db), "resolve", "rev1", "--accept-exchange", "--note", "again"]
        )
        == 2
    )
    assert "already decided" in capsys.readouterr().err
    assert cli.main(["review", "--db", str(db), "list"]) == 0
    assert "(none)" in capsys.readouterr().out


def test_review_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["review", "--db", str(tmp_path / "nope.db"), "list"]) == 2
    assert "no audit database here" in capsys.readouterr().err
    db = tmp_path / "g.db"
    _database(db)
    assert cli.main(["review", "--db", str(db), "show", "zzz"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as info:
        cli.main(["review", "--db", str(db), "resolve", "rev1", "--note", "x"])
    assert info.value.code == 2


@pytest.mark.slow
def test_reconcile_command_runs_once_and_prints_the_report(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "galfriday",
            "reconcile",
            "--db",
            str(tmp_path / "r.db"),
            "--log-level",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(startup)" in result.stdout and "status clean" in result.stdout


async def test_drift_can_be_injected_over_http_for_people_trying_it_by_hand() -> None:
    async with open_simulator(SimConfig(rate=1)) as sim:
        assert sim.urls is not None
        async with httpx.AsyncClient(base_url=sim.urls.rest) as http:
            funds = (await http.post("/sim/drift", data={"asset": "USD", "amount": "250"})).json()
            assert funds == {"error": [], "result": {"drift": "USD 250"}}
            book = sim.exchange.books["BTC/USD"]
            price = book.spec.price((book.best("bids") or 0) - 100)
            order = (
                await http.post(
                    "/sim/drift",
                    data={"symbol": "XBTUSD", "side": "buy", "qty": "0.001", "price": str(price)},
                )
            ).json()
            assert order["result"]["drift"] in sim.ground_truth().open_orders
            bad = (await http.post("/sim/drift", data={"amount": "x"})).json()
            assert bad["error"][0].startswith("EGeneral:Invalid arguments")
        assert sim.ground_truth().balances["USD"] == 100250


def test_queries_for_history_and_runs_with_discrepancies(tmp_path: Path) -> None:
    from galfriday.audit import queries

    db = tmp_path / "g.db"
    _database(db)
    store = AuditStore(db)
    store.write(
        [
            AuditRow(
                "reconciliation_events",
                {"id": "run0", "at_wall": 1.0, "type": "startup", "status": "clean"},
            )
        ]
    )
    store.close()
    conn = queries.open_database(db)
    with conn:
        assert [r["id"] for r in queries.runs(conn, 10)] == ["run1", "run0"]
        assert [r["id"] for r in queries.runs(conn, 10, with_discrepancies=True)] == ["run1"]
        assert [a["new_value"] for a in queries.adjustments(conn, subject="USD")] == ["1.0005"]
        assert queries.adjustments(conn, subject="BTC/USD") == []
        assert [i["id"] for i in queries.review_items(conn)] == ["rev1"]
    conn.close()


def test_reconcile_without_keys_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["reconcile", "--market-data-only", "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "needs API keys" in err


def test_review_takes_db_after_the_action_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "g.db"
    _database(db)
    assert cli.main(["review", "list", "--db", str(db)]) == 0
    assert "rev1" in capsys.readouterr().out
    assert cli.main(["review", "show", "rev1", "--db", str(db)]) == 0
    assert "critical" in capsys.readouterr().out


def test_review_show_prints_times_in_utc_not_epoch_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "g.db"
    _database(db)
    assert cli.main(["review", "--db", str(db), "show", "rev1"]) == 0
    out = capsys.readouterr().out
    assert "created_wall: 2027-01-15 08:00:00 UTC" in out and "1800000000" not in out
    assert "resolved_wall: None" in out


def test_report_of_discrepancies_after_only_clean_runs_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "g.db"
    store = AuditStore(db)
    run = {"type": "scheduled", "status": "clean", "duration_ms": 1.0}
    store.write(
        [
            AuditRow("reconciliation_events", {**run, "id": f"run{i}", "at_wall": 1e9 + i})
            for i in range(15)
        ]
    )
    store.close()
    assert cli.main(["report", "--last", "5", "--discrepancies", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "no reconciliation run found discrepancies" in out
    assert "the last, run14 at 2001-09-09 01:46:54 UTC, was clean" in out
