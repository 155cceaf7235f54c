"""Pacing on virtual time: --speed N replays N times faster than recorded; none, at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from galfriday.capture.format import FORMAT_VERSION, Header, Record, WsIn
from galfriday.live.engine import EngineConfig, config_summary
from galfriday.live.marketdata import MarketDataConfig
from galfriday.replay.driver import Replayer, ReplayOptions

HEARTBEAT = '{"channel":"heartbeat"}'


def _capture() -> tuple[Header, list[list[Record]]]:
    config = EngineConfig(
        ws_public="ws://x/public",
        ws_private="ws://x/private",
        rest="http://x",
        marketdata=MarketDataConfig(symbols=("BTC/USD",)),
        reconcile=None,
    )
    header = Header(FORMAT_VERSION, "test", "pace01", 1, 100.0, 1.7e9, config_summary(config), [])
    records: list[Record] = [
        WsIn("public", 100.0 + i / 10, 1.7e9 + i / 10, HEARTBEAT) for i in range(101)
    ]  # ten seconds of heartbeats
    return header, [records[:50], records[50:]]


@pytest.mark.parametrize(("speed", "span"), [(1.0, 10.0), (10.0, 1.0), (None, 0.0)])
async def test_speed_scales_the_recorded_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, speed: float | None, span: float
) -> None:
    header, blocks = _capture()
    replayer = Replayer(header, ReplayOptions(tmp_path / "r.db", speed=speed))
    summary = await replayer.run(blocks)
    assert summary.frames == {"public heartbeat": 101}
    assert summary.paced == pytest.approx(span, abs=1e-6)


async def test_a_window_paces_from_its_own_start(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    header, blocks = _capture()
    options = ReplayOptions(tmp_path / "r.db", speed=2.0, start=1.7e9 + 4, end=1.7e9 + 8)
    summary = await Replayer(header, options).run(blocks)
    assert summary.paced == pytest.approx(2.0, abs=1e-6)  # 4 s of capture at 2x
    assert summary.frames == {"public heartbeat": 81}  # up to --to; earlier ones build state
