"""Bad input, unusable files, early signals and closed pipes: one line, a clear exit, no trace.

Every refusal is one line on stderr naming the argument or file, exit 2, and nothing created or
changed on disk; a Ctrl-C during start-up is a clean stop; a reader that goes away early ends
the command quietly with exit 141.
"""

from __future__ import annotations

import io
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from galfriday import app, cli
from galfriday.audit.store import AuditRow, AuditStore


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its content (None for a folder)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in folder.rglob("*")
    }


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "--duration", "nan"], "--duration: 'nan': give a positive number of seconds"),
        (["run", "--duration", "inf"], "--duration: 'inf': give a positive number of seconds"),
        (["run", "--duration", "-1"], "--duration: '-1': give a positive number of seconds"),
        (["reconcile", "--duration", "0"], "--duration: '0': give a positive number"),
        (["run", "--log-level", "NOPE"], "--log-level: 'NOPE' is not one of TRACE, DEBUG"),
        (["sim", "--log-level", "loud"], "--log-level: 'loud' is not one of"),
        (["soak", "--log-level", "NOPE"], "--log-level: 'NOPE' is not one of"),
        (["report", "--last", "0"], "--last: '0': give 1 or more"),
    ],
)
def test_arguments_argparse_can_check_are_one_line_and_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert needle in _one_line(capsys)


def test_seed_with_a_config_file_is_refused_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "galfriday.toml"
    config.write_text("[engine]\n")
    assert cli.main(["run", "--config", str(config), "--seed", "7"]) == 2
    assert "--seed: seeds the embedded simulator; not with --config" in _one_line(capsys)


@pytest.mark.parametrize(
    ("flag", "where", "needle"),
    [
        ("--log-file", "a-file/galfriday.log", "a-file is not a folder"),
        ("--log-file", "a-folder", "a-folder is not a file"),
        ("--capture-dir", "a-file/captures", "a-file is not a folder"),
        ("--capture-dir", "a-file", "a-file is not a folder"),
    ],
)
def test_an_unwritable_log_file_or_capture_folder_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, where: str, needle: str
) -> None:
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "a-folder").mkdir()
    before = _tree(tmp_path)
    db = tmp_path / "g.db"
    argv = ["run", "--db", str(db), "--duration", "5", flag, str(tmp_path / where)]
    if flag != "--capture-dir":
        argv.append("--no-capture")
    assert cli.main(argv) == 2
    err = _one_line(capsys)
    assert f"{flag}: " in err and needle in err
    assert _tree(tmp_path) == before


def _not_sqlite(path: Path) -> bytes:
    path.write_bytes(b"my notes, not a database\n" * 100)
    return path.read_bytes()


def _foreign(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.close()
    return path.read_bytes()


READERS = [["report"], ["review", "list"], ["status"], ["prune", "--before", "2020-01-01"]]
RUN = ["run", "--no-capture", "--duration", "1"]


@pytest.mark.parametrize(
    ("argv", "make"),
    [
        *(
            pytest.param(
                a,
                _not_sqlite,
            )
            for a in READERS
        ),
        *(pytest.param(a, _foreign) for a in READERS),
        pytest.param(
            RUN,
            _not_sqlite,
        ),
        pytest.param(
            RUN,
            _foreign,
        ),
    ],
)
def test_a_file_that_is_not_an_audit_database_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], make: object
) -> None:
    db = tmp_path / "notes.db"
    content = make(db)  # type: ignore[operator]
    assert cli.main([*argv, "--db", str(db)]) == 2
    assert str(db) in _one_line(capsys)
    assert db.read_bytes() == content and sorted(tmp_path.iterdir()) == [db]


@pytest.mark.parametrize("argv", [["report"], ["status"], RUN])
def test_a_folder_as_database_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    assert cli.main([*argv, "--db", str(folder)]) == 2
    assert str(folder) in _one_line(capsys)
    assert _tree(tmp_path) == {"data": None}


def test_a_sim_port_in_use_is_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["sim", "--rest-port", str(port), "--log-level", "ERROR"]) == 2
    assert f"--rest-port: port {port} is in use; choose another or 0" in _one_line(capsys)


def test_a_sim_port_given_twice_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sim", "--public-port", "5555", "--rest-port", "5555"]) == 2
    assert "--rest-port: port 5555 is already --public-port" in _one_line(capsys)


@pytest.mark.parametrize(("command", "code"), [("run", 0), ("reconcile", 130)])
def test_a_ctrl_c_during_start_up_is_a_clean_stop(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    code: int,
) -> None:
    """Exit 0 for run (Ctrl-C is how it stops), 130 for reconcile (no report was printed)."""
    configure = app._configure_logging

    def ctrl_c_meanwhile(args: object) -> None:
        configure(args)  # type: ignore[arg-type]
        signal.raise_signal(signal.SIGINT)  # before trio, the engine or the simulator start

    monkeypatch.setattr(app, "_configure_logging", ctrl_c_meanwhile)
    argv = [command, "--db", str(tmp_path / "g.db"), "--no-capture", "--duration", "30"]
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert "SIGINT: stopping" in err and "stopped" in err


class _CtrlCOnWrite(io.StringIO):
    """A terminal where Ctrl-C is pressed just as the first line appears."""

    def write(self, text: str) -> int:
        signal.raise_signal(signal.SIGINT)
        return super().write(text)


def test_sim_stops_cleanly_on_a_signal_that_comes_with_its_urls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _CtrlCOnWrite()
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(["sim", "--log-level", "ERROR"]) == 0
    assert '"ws_public": "ws://127.0.0.1:' in out.getvalue()


def test_output_closed_by_its_reader_ends_quietly_with_exit_141(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    store = AuditStore(db)
    run = {"at_wall": 1.0, "type": "scheduled", "status": "clean", "duration_ms": 1.0}
    rows = [{**run, "id": f"run{i}", "at_wall": float(i)} for i in range(50)]
    store.write([AuditRow("reconciliation_events", row) for row in rows])
    store.close()
    report = [sys.executable, "-m", "galfriday", "report", "--last", "50", "--db", str(db)]
    process = subprocess.Popen(report, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()  # like `| head -1` that has already gone
    _, err = process.communicate(timeout=30)
    assert process.returncode == 141
    assert err == b""


def test_soak_with_a_file_for_its_folder_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    assert cli.main(["soak", "--dir", str(taken)]) == 2
    assert "--dir" in _one_line(capsys) and taken.read_text() == "not a folder"
