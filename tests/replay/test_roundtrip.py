"""Round trip: record a busy session against the simulator, replay it, compare the rows."""

from __future__ import annotations

import io
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from galfriday.capture.format import Reader
from galfriday.cli import main
from galfriday.replay.driver import Replayer, ReplayOptions, ReplaySummary
from galfriday.replay.verify import TABLES, compare_databases
from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET
from tests.replay.session import Session, record_another_session

D = Decimal
EVERYTHING = (0.0, 1e12)


def _replay(session: Session, db: Path, **options: object) -> ReplaySummary:
    readers = [Reader(str(p), p.read_bytes()) for p in session.captures]
    assert readers[0].header is not None
    replayer = Replayer(readers[0].header, ReplayOptions(db, **options))  # type: ignore[arg-type]
    blocks = (block for reader in readers for block in reader.blocks())
    return trio.run(replayer.run, blocks)


def _count(db: Path, table: str, where: str = "1") -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0])


@pytest.mark.slow
def test_the_replay_reproduces_the_live_sessions_rows(session: Session, tmp_path: Path) -> None:
    summary = _replay(session, tmp_path / "replay.db")
    assert summary.first_wall is not None and summary.last_wall is not None
    span = (summary.first_wall, summary.last_wall)
    assert compare_databases(session.db, tmp_path / "replay.db", span) == []
    # ... and there was something to compare: every kind of row the session produced.
    for table, least in {
        "orders": 6,
        "fills": 5,
        "pnl": 1,  # the P&L the fills made, folded again from the same fills
        "order_events": 10,
        "balance_ledger": 5,
        "gaps": 1,
        "resyncs": 2,  # the book's, and the private stream's recovery
        "decode_errors": 1,
        "reconciliation_events": 3,  # start-up, after the gap, manual
        "discrepancies": 1,
        "connection_events": 8,
    }.items():
        assert _count(tmp_path / "replay.db", table) >= least, table
    assert summary.steps > 0  # subscriptions, REST answers and reconciliations were re-applied
    assert sum(m for _, m, _, _ in summary.books.values()) >= 1  # the corrupted checksum


@pytest.mark.slow
def test_replaying_one_capture_twice_gives_identical_rows(session: Session, tmp_path: Path) -> None:
    first = _replay(session, tmp_path / "one.db")
    second = _replay(session, tmp_path / "two.db")
    assert compare_databases(tmp_path / "one.db", tmp_path / "two.db", EVERYTHING) == []
    assert (first.frames, first.books, first.balances) == (
        second.frames,
        second.books,
        second.balances,
    )


@pytest.mark.slow
def test_a_changed_row_is_reported_as_a_divergence(session: Session, tmp_path: Path) -> None:
    replay = tmp_path / "replay.db"
    _replay(session, replay)
    tampered = tmp_path / "tampered.db"
    shutil.copy(session.db, tampered)
    with sqlite3.connect(tampered) as conn:
        exec_id = conn.execute("SELECT exec_id FROM fills LIMIT 1").fetchone()[0]
        conn.execute("UPDATE fills SET qty = '123' WHERE exec_id = ?", [exec_id])
    found = compare_databases(tampered, replay, EVERYTHING)
    fills = [d for d in found if d.table == "fills"]
    assert [d.where for d in fills] == ["session", "replay"]
    assert fills[0].row["qty"] == "123" and fills[0].row["exec_id"] == exec_id


@pytest.mark.slow
def test_the_capture_holds_no_secret(session: Session) -> None:
    text = ""
    for path in session.captures:
        reader = Reader(str(path), path.read_bytes())
        text += repr(reader.header) + "".join(repr(b) for b in reader.blocks())
    assert session.token and session.token not in text
    assert DEFAULT_API_KEY not in text and DEFAULT_API_SECRET not in text
    assert "API-Sign" not in text
    assert '"token":"<redacted>"' in text  # the subscriptions were there, redacted


@pytest.mark.slow
def test_the_command_replays_and_verifies_against_the_session(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.db"
    files = [str(p) for p in session.captures]
    assert main(["replay", *files, "--db", str(db), "--verify", str(session.db), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "verify: 0 divergences" in out
    assert "checksums verified" in out and "fills" in out and "reconciliations" in out
    # The database exists now: replaying into it again needs --overwrite.
    assert main(["replay", *files, "--db", str(db)]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.slow
def test_several_sessions_in_one_folder_are_replayed_each_on_its_own(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A captures folder holds one session per run; replaying them as one continuation mixed
    # two accounts' histories, invented alerts and hundreds of divergences.
    folder, db = tmp_path / "captures", tmp_path / "galfriday.db"
    folder.mkdir()
    for path in session.captures:
        shutil.copy(path, folder / path.name)
    shutil.copy(session.db, db)
    later = record_another_session(folder, db)
    files = sorted(str(p) for p in folder.glob("*.gfcap"))
    assert len(files) == len(session.captures) + len(later)
    assert main(["replay", *files, "--verify", str(db), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("replayed session") == 2
    assert out.count("verify: 0 divergences") == 2
    assert main(["replay", *files, "--db", str(tmp_path / "one.db")]) == 2
    assert "2 sessions" in capsys.readouterr().err


@pytest.mark.slow
def test_a_truncated_capture_is_an_error_unless_salvaged(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.gfcap"
    data = session.captures[0].read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert main(["replay", str(cut), "--db", str(tmp_path / "a.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"galfriday: {cut}: truncated block") and "(at byte " in err
    assert "--salvage" in err
    assert main(["replay", str(cut), "--db", str(tmp_path / "b.db"), "--salvage"]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "no end record" in out
    assert _count(tmp_path / "b.db", "connection_events") > 0


@pytest.mark.slow
def test_symbols_narrow_the_market_data_but_not_the_account(
    session: Session, tmp_path: Path
) -> None:
    full = _replay(session, tmp_path / "full.db")
    narrow = _replay(session, tmp_path / "narrow.db", symbols=("ETH/USD",))
    assert set(narrow.books) == {"ETH/USD"}
    assert narrow.books["ETH/USD"] == full.books["ETH/USD"]
    assert (narrow.fills, narrow.balances, narrow.positions) == (
        full.fills,
        full.balances,
        full.positions,
    )
    assert _count(tmp_path / "narrow.db", "book_checks", "symbol = 'BTC/USD'") == 0


@pytest.mark.slow
def test_a_time_window_writes_only_the_rows_inside_it(session: Session, tmp_path: Path) -> None:
    full = _replay(session, tmp_path / "full.db")
    assert full.first_wall is not None and full.last_wall is not None
    middle = (full.first_wall + full.last_wall) / 2
    window = _replay(session, tmp_path / "window.db", start=middle)
    assert _count(tmp_path / "window.db", "connection_events", f"at_wall < {middle}") == 0
    assert _count(tmp_path / "window.db", "order_events", f"at_wall < {middle}") == 0
    # State before the window was still built: the end is the same.
    assert (window.balances, window.fills) == (full.balances, full.fills)
    for table, column in TABLES.items():
        late = f"{column} >= {middle}"
        assert _count(tmp_path / "window.db", table, late) == _count(
            tmp_path / "full.db", table, late
        ), table
    early = _replay(session, tmp_path / "early.db", end=middle)
    assert early.last_wall is not None and early.last_wall <= middle
    assert _count(tmp_path / "early.db", "order_events", f"at_wall > {middle}") == 0


@pytest.mark.slow
def test_the_summary_is_printed_for_a_user(session: Session, tmp_path: Path) -> None:
    from galfriday.replay.command import print_summary

    readers = [Reader(str(p), p.read_bytes()) for p in session.captures]
    for reader in readers:
        list(reader.blocks())
    summary = _replay(session, tmp_path / "s.db")
    out = io.StringIO()
    assert readers[0].header is not None
    print_summary(summary, readers[0].header, readers, tmp_path / "s.db", out)
    text = out.getvalue()
    for needle in ("frames", "public book", "books", "resyncs", "gaps", "orders", "balances"):
        assert needle in text, needle


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file: not a galfriday capture (at byte 0)"),
        (b"id,price\n1,2\n", "not a galfriday capture (no capture signature) (at byte 0)"),
        (
            b"\x89GFCAP\r\n\x1a\n\x00\x07",
            "capture format version 7; this galfriday reads version 2",
        ),
    ],
)
def test_a_file_that_is_not_a_readable_capture_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "x.gfcap"
    path.write_bytes(content)
    assert main(["replay", str(path), "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"galfriday: {path}: {message}")
    assert err.count("\n") == 1 and "(at byte " in err
    assert not (tmp_path / "x.db").exists()  # nothing written


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--speed", "0"], "--speed"),
        (["--from", "yesterday"], "--from"),
        (["--from", "10:00", "--to", "09:00"], "--to"),
        (["--symbols", "BTCUSD"], "--symbols"),
        (["--verify", "/nonexistent.db"], "--verify"),
    ],
)
def test_bad_replay_arguments_name_the_field(
    session: Session,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    field: str,
) -> None:
    files = [str(p) for p in session.captures]
    assert main(["replay", *files, "--db", str(tmp_path / "x.db"), *args]) == 2
    assert capsys.readouterr().err.startswith(f"galfriday: {field}: ")


def test_a_missing_capture_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope.gfcap")]) == 2
    assert "nope.gfcap: cannot read it" in capsys.readouterr().err
