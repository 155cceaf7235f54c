"""Secrets: where they may come from, and that they reach no output at all."""

from __future__ import annotations

import base64
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import trio
from loguru import logger

from galfriday import cli
from galfriday.capture.format import Reader
from galfriday.capture.writer import CaptureConfig
from galfriday.errors import ConfigError
from galfriday.events import ConnectionState, ConnectionStateChanged, OrderUpdate
from galfriday.kraken.auth import decode_secret
from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimConfig, open_simulator
from tests.live.test_engine import engine_on

D = Decimal


def _trade_config(tmp_path: Path) -> Path:
    path = tmp_path / "galfriday.toml"
    path.write_text('[engine]\nmode = "trade"\n')
    return path


def test_a_secret_file_others_can_read_is_refused_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "kraken-secret"
    secret.write_text(DEFAULT_API_SECRET + "\n")
    secret.chmod(0o644)
    monkeypatch.setenv("KRAKEN_API_KEY", DEFAULT_API_KEY)
    monkeypatch.delenv("KRAKEN_API_SECRET", raising=False)
    monkeypatch.setenv("KRAKEN_API_SECRET_FILE", str(secret))
    assert cli.main(["run", "--config", str(_trade_config(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"chmod 600 {secret}" in err and "644" in err
    assert DEFAULT_API_SECRET not in err


def test_an_owner_only_secret_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from galfriday.config import credentials

    secret = tmp_path / "kraken-secret"
    secret.write_text(DEFAULT_API_SECRET + "\n")
    secret.chmod(0o600)
    monkeypatch.setenv("KRAKEN_API_KEY", DEFAULT_API_KEY)
    monkeypatch.delenv("KRAKEN_API_SECRET", raising=False)
    monkeypatch.setenv("KRAKEN_API_SECRET_FILE", str(secret))
    assert credentials("trade") == (DEFAULT_API_KEY, decode_secret(DEFAULT_API_SECRET))
    monkeypatch.setenv("KRAKEN_API_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="cannot read"):
        credentials("trade")


def test_a_bad_secret_is_refused_without_repeating_it() -> None:
    bad = "c2VjcmV0!!not-base64"
    with pytest.raises(ConfigError) as caught:
        decode_secret(bad)
    assert bad not in str(caught.value) and "c2VjcmV0" not in str(caught.value)


async def test_no_secret_key_or_token_reaches_logs_captures_or_the_database(
    tmp_path: Path,
) -> None:
    """A session with trading, a reconnect (a new token) and an invalidated token, with
    every log record at DEBUG kept; then every output is searched."""
    logs: list[str] = []
    sink = logger.add(lambda m: logs.append(str(m)), level="DEBUG", serialize=True)
    logger.enable("galfriday")
    tokens: list[str] = []
    db, captures = tmp_path / "s.db", tmp_path / "captures"
    try:
        async with open_simulator(SimConfig(rate=100)) as sim:
            issue = sim.issue_token

            def recorded() -> str:
                tokens.append(issue())
                return tokens[-1]

            sim.issue_token = recorded  # type: ignore[method-assign]
            async with engine_on(sim, db, capture=CaptureConfig(folder=captures)) as engine:
                assert engine.gateway is not None
                events = engine.bus.subscribe(OrderUpdate, ConnectionStateChanged)
                await engine.gateway.place("BTC/USD", "buy", D("0.001"), order_type="market")
                await sim.drop_connections("private")
                with trio.fail_after(20):
                    async for event in events:
                        if (
                            isinstance(event, ConnectionStateChanged)
                            and event.connection == "private"
                            and event.new is ConnectionState.SUBSCRIBED
                        ):
                            break
                sim.invalidate_tokens()
                await engine.gateway.place("BTC/USD", "sell", D("0.001"), order_type="market")
                await engine.audit.flush()
    finally:
        logger.remove(sink)
    assert len(tokens) >= 3  # start, reconnect, after the invalidation

    secret_raw = decode_secret(DEFAULT_API_SECRET)
    needles = [DEFAULT_API_SECRET, DEFAULT_API_KEY, *tokens]
    needles.append(base64.b64encode(secret_raw).decode().rstrip("="))

    outputs: dict[str, str] = {"logs": "\n".join(logs)}
    texts = []
    for path in captures.glob("*.gfcap"):
        assert path.stat().st_mode & 0o777 == 0o600
        reader = Reader(str(path), path.read_bytes())
        texts += [repr(record) for block in reader.blocks() for record in block]
        texts.append(repr(reader.header))
    outputs["captures"] = "\n".join(texts)
    assert "<redacted>" in outputs["captures"]  # the capture did carry tokens, redacted
    conn = sqlite3.connect(db)
    outputs["database"] = "\n".join(conn.iterdump())
    conn.close()
    assert db.stat().st_mode & 0o777 == 0o600
    for name, text in outputs.items():
        assert len(text) > 1000, name  # the output is really there
        for needle in needles:
            assert needle not in text, f"a secret in the {name}"
