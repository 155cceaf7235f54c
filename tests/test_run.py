"""``galfriday run`` as a user runs it: the embedded default, configs, bad input, signals."""

from __future__ import annotations

import json
import os
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

README = Path(__file__).parent.parent / "README.md"


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


def test_embedded_run_fills_the_audit_database_and_stops_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "galfriday.db"
    captures = tmp_path / "captures"
    process = _run("--db", str(db), "--duration", "12", "--log-json", captures=captures)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("engine started" in line["text"] for line in lines)
    with sqlite3.connect(db) as conn:
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "connection_events",
                "book_checks",
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
    from galfriday.app import _rest_counter
    from galfriday.kraken.ratelimit import Tier

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


def test_a_log_file_gets_the_same_lines_and_is_rotated_by_loguru(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "galfriday.log"
    process = _run("--db", str(tmp_path / "l.db"), "--duration", "3", "--log-file", str(log))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    text = log.read_text()
    assert "engine started" in text and "stopped" in text
    from galfriday.app import LOG_RETENTION, LOG_ROTATION

    assert (LOG_ROTATION, LOG_RETENTION) == ("20 MB", 10)  # what the README promises
