"""``galfriday run`` as a user runs it: the embedded default, configs, bad input, signals."""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from galfriday import cli
from galfriday.capture.format import Reader, WsIn
from galfriday.config import load_config
from galfriday.errors import ConfigError
from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

README = Path(__file__).parent.parent / "docs" / "running.md"  # the example config


def _run(
    *args: str, env: dict[str, str] | None = None, captures: Path | None = None
) -> subprocess.Popen[str]:
    capture = ["--capture-dir", str(captures)] if captures else ["--no-capture"]
    return subprocess.Popen(
        [sys.executable, "-m", "galfriday", "run", *capture, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_embedded_run_fills_the_audit_database_and_stops_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "galfriday.db"
    captures = tmp_path / "captures"
    # Stopped at its first fill (the demo's first market order comes ~12 s in; a resting order
    # may fill sooner): a fixed duration sometimes ended before any fill. Book checks are not
    # counted: they are written every 10 s of market data, not when the engine stops.
    process = _run("--db", str(db), "--duration", "60", "--log-json", captures=captures)
    lines = []
    assert process.stderr is not None
    for text in process.stderr:
        if text.startswith("{"):
            lines.append(json.loads(text)["message"])
            if lines[-1].startswith("fill "):
                process.send_signal(signal.SIGTERM)
                break
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    assert any(line.startswith("engine started") for line in lines)
    with sqlite3.connect(db) as conn:
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "connection_events",
                "orders",
                "fills",
                "balances",
                "positions",
                "balance_ledger",
                "order_events",
            )
        }
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert all(counts.values()), counts
    # The session's capture replays to the same rows (the README's walk-through).
    files = sorted(str(p) for p in captures.glob("*.gfcap"))
    assert len(files) == 1
    replay_db = tmp_path / "replay.db"
    assert cli.main(["replay", *files, "--db", str(replay_db), "--verify", str(db)]) == 0
    assert "verify: 0 divergences" in capsys.readouterr().out


@pytest.mark.slow
def test_sigterm_stops_with_exit_zero(tmp_path: Path) -> None:
    process = _run("--db", str(tmp_path / "g.db"), "--market-data-only")
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "engine started" in line:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
        process.communicate()


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "galfriday.toml"
    path.write_text(text)
    return path


def _readme_example() -> str:
    text = README.read_text()
    start = text.index("```toml\n") + len("```toml\n")
    return text[start : text.index("```", start)]


def test_the_readme_example_config_is_valid(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, _readme_example()))
    assert config.kraken.ws_public == "wss://ws.kraken.com/v2"
    assert config.engine.mode == "read-only"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[engine]\ndepth = 20\n", "engine.depth"),
        ('[engine]\ndepth = "ten"\n', "engine.depth"),
        ("[engine]\nsymbls = []\n", "engine"),
        ('[engine]\nsymbols = ["btcusd"]\n', "engine.symbols"),
        ('[engine]\nmode = "yolo"\n', "engine.mode"),
        ('[kraken]\nrest = "ftp://x"\n', "kraken.rest"),
        ('[kraken]\ntier = "gold"\n', "kraken.tier"),
        ("[kraken]\ncounter_max = 1\n", "kraken.counter_max"),
        ("[reconcile]\nsettle_seconds = -1\n", "reconcile.settle_seconds"),
        ("[kraken]\ncounter_decay = 0\n", "kraken.counter_decay"),
        ('[kraken]\ncounter_decay = "fast"\n', "kraken.counter_decay"),
        ("not toml at all [", "galfriday.toml"),
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, text))
    assert info.value.field.startswith(field) or field in str(info.value)


def test_the_call_counter_can_be_overridden_field_by_field(tmp_path: Path) -> None:
    from galfriday.kraken.ratelimit import Tier
    from galfriday.settings import _rest_counter

    assert _rest_counter(load_config(_config(tmp_path, "[kraken]\n"))) is None
    text = '[kraken]\ntier = "pro"\ncounter_max = 40\n'
    assert _rest_counter(load_config(_config(tmp_path, text))) == Tier(40, 1.0)


def test_bad_config_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, "[engine]\ndepth = 20\n")
    assert cli.main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "engine.depth" in err


def test_trading_mode_without_keys_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KRAKEN_API_KEY", raising=False)
    monkeypatch.delenv("KRAKEN_API_SECRET", raising=False)
    path = _config(tmp_path, '[engine]\nmode = "trade"\n')
    assert cli.main(["run", "--config", str(path)]) == 2
    assert "KRAKEN_API_KEY/KRAKEN_API_SECRET" in capsys.readouterr().err


@pytest.mark.slow
def test_a_config_against_the_simulator_runs_read_only(tmp_path: Path) -> None:
    sim = subprocess.Popen(
        [sys.executable, "-m", "galfriday", "sim", "--log-level", "ERROR"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        urls = json.loads(sim.stdout.readline())
        path = _config(
            tmp_path,
            (
                f'[kraken]\nws_public = "{urls["ws_public"]}"\n'
                f'ws_private = "{urls["ws_private"]}"\nrest = "{urls["rest"]}"\n'
                '[engine]\nmode = "read-only"\nsymbols = ["ETH/USD"]\n'
                f'database = "{tmp_path / "ro.db"}"\n'
            ),
        )
        env = {
            "KRAKEN_API_KEY": "galfriday-sim-key",
            "KRAKEN_API_SECRET": "Z2FsZnJpZGF5IHNpbXVsYXRvciB0ZXN0IHNlY3JldCE=",
        }
        process = _run("--config", str(path), "--duration", "6", env=env)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err[-2000:]
        with sqlite3.connect(tmp_path / "ro.db") as conn:
            assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM balances").fetchone()[0] > 0
        assert DEFAULT_API_KEY not in err and DEFAULT_API_SECRET not in err
    finally:
        sim.terminate()
        sim.wait(timeout=10)
        if sim.stdout is not None:
            sim.stdout.close()


@pytest.mark.slow
def test_a_killed_run_leaves_its_capture_readable_to_the_last_fraction_of_a_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    captures = tmp_path / "captures"
    process = _run("--db", str(tmp_path / "k.db"), "--duration", "60", captures=captures)
    try:
        assert process.stderr is not None
        for line in process.stderr:  # the first health line: ten seconds of trading
            if "msg/s" in line and "engine started" not in line:
                break
        killed_at = time.time()
        process.kill()
    finally:
        process.wait(timeout=30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    [path] = captures.glob("*.gfcap")
    reader = Reader(str(path), path.read_bytes(), salvage=True)
    records = [r for block in reader.blocks() for r in block]
    assert not reader.complete  # no end record: it was killed
    assert all(s.offset + s.length == len(reader.data) for s in reader.skipped)  # only the tail
    last = max(r.wall for r in records if isinstance(r, WsIn))
    assert killed_at - last < 0.5
    replay_db = tmp_path / "replay.db"
    assert cli.main(["replay", str(path), "--db", str(replay_db), "--salvage"]) == 0
    assert "no end record" in capsys.readouterr().out


def test_the_log_file_and_its_rotated_parts_are_the_owners_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loguru import logger

    from galfriday import app

    monkeypatch.setattr(app, "LOG_ROTATION", "1 KB")
    log = tmp_path / "logs" / "galfriday.log"
    args = argparse.Namespace(log_level="INFO", log_json=False, log_file=log)
    umask = os.umask(0o022)
    try:
        app._configure_logging(args)
        for n in range(40):
            logger.info("line {} of a log that rotates", n)
        logger.remove()  # waits for loguru's thread: rotation and compression are done
    finally:
        os.umask(umask)
        logger.disable("galfriday")
    files = sorted(log.parent.iterdir())
    assert any(p.name.endswith(".gz") for p in files) and log in files
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o600)}


@pytest.mark.slow
def test_a_log_file_gets_the_same_lines_and_is_rotated_by_loguru(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "galfriday.log"
    process = _run("--db", str(tmp_path / "l.db"), "--duration", "3", "--log-file", str(log))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    text = log.read_text()
    assert "engine started" in text and "stopped" in text
    from galfriday.app import LOG_RETENTION, LOG_ROTATION

    assert (LOG_ROTATION, LOG_RETENTION) == ("20 MB", 10)  # what the README promises


def _embedded_args(tmp_path: Path, seed: int | None) -> argparse.Namespace:
    return argparse.Namespace(
        config=None,
        seed=seed,
        market_data_only=True,
        read_only=False,
        no_demo=True,
        db=tmp_path / "s.db",
        no_capture=True,
        capture_dir=None,
    )


def test_the_embedded_simulator_takes_a_fresh_seed_unless_one_is_given(
    tmp_path: Path,
) -> None:
    from galfriday.app import _settings

    seeds = [_settings(_embedded_args(tmp_path, seed)).seed for seed in (None, None, 42)]
    assert seeds[0] != seeds[1] and seeds[2] == 42


ROOT = Path(__file__).parent.parent


def _read_pty(fd: int, until: bytes | None, deadline: float) -> bytes:
    """What the terminal shows, up to ``until`` (or its end: the programs exited)."""
    out = b""
    while time.monotonic() < deadline and (until is None or until not in out):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: every program on the terminal has gone
                break
            if not data:
                break
            out += data
    return out


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("just") is None or not (ROOT / ".venv" / "bin" / "python").exists(),
    reason="needs just and the repository's .venv",
)
def test_ctrl_c_on_just_run_stops_it_quietly_with_exit_0(tmp_path: Path) -> None:
    argv = ["just", "--no-deps", "run", "--db", str(tmp_path / "j.db"), "--no-capture"]
    argv += ["--market-data-only", "--duration", "30"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own with the terminal, like a shell's
        try:
            os.chdir(ROOT)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    deadline = time.monotonic() + 30
    status = None
    try:
        shown = _read_pty(fd, b"engine started", deadline)
        os.write(fd, b"\x03")  # Ctrl-C: the terminal signals its foreground process group
        shown += _read_pty(fd, None, deadline)
        if time.monotonic() < deadline:  # the terminal's end: just has closed it
            _, status = os.waitpid(pid, 0)
    finally:
        if status is None:  # something went wrong: just passes SIGTERM on to galfriday
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status is not None and os.waitstatus_to_exitcode(status) == 0, shown[-2000:]
    assert b"SIGINT: stopping" in shown and b"interrupted" not in shown
