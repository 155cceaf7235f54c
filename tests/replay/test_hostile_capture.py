"""Captures that hold what the exchange should never send, and what a capture's header says
about the run that wrote it."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from galfriday.api import open_engine
from galfriday.capture.format import Reader
from galfriday.capture.writer import CaptureConfig
from galfriday.cli import main
from galfriday.events import FrameRefused
from galfriday.settings import load_config
from galfriday.sim.server import SimConfig, open_simulator
from tests.live.test_engine import engine_on

# A ledger update whose amount is not a number (msgspec reads "NaN" as a Decimal).
NAN_BALANCE = (
    '{"channel":"balances","type":"update","sequence":%d,"data":[{"asset":"USD",'
    '"asset_class":"currency","amount":"NaN","balance":"100000","fee":"0","ledger_id":"LNAN-0",'
    '"ref_id":"RNAN-0","timestamp":"2026-12-01T03:00:00.000000Z","type":"deposit",'
    '"category":"deposit","wallet_type":"spot","wallet_id":"main"}]}'
)


async def _record_a_nan_balance(folder: Path, db: Path) -> tuple[list[Path], Decimal]:
    """A short session whose private stream got :data:`NAN_BALANCE`; its files and USD."""
    async with (
        open_simulator(SimConfig(rate=100, seed=3)) as sim,
        engine_on(sim, db, capture=CaptureConfig(folder=folder)) as engine,
    ):
        assert engine.account is not None and engine.capture is not None
        refused = engine.bus.subscribe(FrameRefused)
        [session] = sim.sessions["private"]
        session.push((NAN_BALANCE % (session.sequences["balances"] + 1)).encode(), data=False)
        with trio.fail_after(10):
            event = await refused.receive()
        assert isinstance(event, FrameRefused) and event.path == "$.data[0].amount"
        usd = engine.account.portfolio.balances["USD"]
        return list(engine.capture.paths), usd


def test_a_replayed_nan_balance_is_refused_and_counted_like_the_live_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, replayed = tmp_path / "live.db", tmp_path / "replay.db"
    files, usd = trio.run(_record_a_nan_balance, tmp_path / "captures", live)
    assert usd.is_finite()
    args = ["replay", *map(str, files), "--db", str(replayed), "--verify", str(live), "--quiet"]
    assert main(args) == 0  # no decimal.InvalidOperation: the frame is skipped, not applied
    assert "verify: 0 divergences" in capsys.readouterr().out
    with sqlite3.connect(replayed) as conn:
        refused = conn.execute(
            "SELECT path FROM decode_errors WHERE connection = 'private'"
        ).fetchall()
        [(balance,)] = conn.execute("SELECT balance FROM balances WHERE asset = 'USD'")
    assert refused == [("$.data[0].amount",)]
    assert Decimal(balance) == usd


async def test_the_capture_header_names_the_embedded_simulators_seed(tmp_path: Path) -> None:
    # The embedded simulator takes a fresh seed each run; the header is where a replay or a
    # bug report finds the market that session saw.
    folder = tmp_path / "captures"
    settings = load_config(
        None, mode="market-data", database=tmp_path / "g.db", capture_dir=folder, seed=4242
    )
    async with open_engine(settings):
        pass
    [path] = sorted(folder.glob("*.gfcap"))
    header = Reader(str(path), path.read_bytes()).header
    assert header is not None and header.config["sim_seed"] == 4242
