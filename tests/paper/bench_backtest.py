"""Measure a backtest over a synthesised 10-minute capture (not a test: run it by hand).

``python -m tests.paper.bench_backtest [MINUTES] [EVENTS_PER_S]`` writes a capture of the
simulator's market (the pure exchange: book updates, trades; BTC/USD and ETH/USD, depth 10)
to a temporary folder, runs the market-making example over it and prints the run time and
frames/s.
"""

from __future__ import annotations

import functools
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import trio
import trio.testing
from loguru import logger

from examples.market_maker import MarketMaker
from galfriday.backtest.run import run_backtest
from galfriday.capture.format import Header, WsIn, encode_block, file_prefix
from galfriday.live.engine import EngineConfig, config_summary
from galfriday.live.marketdata import MarketDataConfig
from galfriday.paper.venue import PaperConfig
from galfriday.sim import frames
from galfriday.sim.exchange import Exchange
from galfriday.sim.market import default_pairs

START = 1_800_000_000.0
SYMBOLS = ("BTC/USD", "ETH/USD")


def synthesise(path: Path, minutes: float, rate: float) -> int:
    """A capture of ``minutes`` of market at ``rate`` events a second; returns its frames."""
    pairs = [p for p in default_pairs() if p.symbol in SYMBOLS]
    exchange = Exchange(pairs, {}, seed=7)
    config = EngineConfig("ws://x", "ws://y", "http://z",
                          marketdata=MarketDataConfig(symbols=SYMBOLS))  # fmt: skip
    header = Header(2, "bench", "bench", 1, 0.0, START, config_summary(config), list(SYMBOLS))
    records: list[object] = [header]
    wall = START
    records.append(WsIn("public", 0.0, wall, frames.instrument_frame(pairs, {}).decode()))
    for symbol in SYMBOLS:
        text = frames.public_snapshot(exchange, "book", symbol, 10, wall).decode()
        records.append(WsIn("public", 0.0, wall, text))
    count = len(records) - 1
    for n in range(int(minutes * 60 * rate)):
        wall = START + n / rate
        update = exchange.background_event(wall)
        for channel, option in (("book", 10), ("trade", None)):
            text = frames.public_update(exchange, channel, option, update, wall)
            if text is not None:
                records.append(WsIn("public", wall - START, wall, text.decode()))
                count += 1
    with path.open("wb") as out:
        out.write(file_prefix())
        for at in range(0, len(records), 2000):
            out.write(encode_block(records[at : at + 2000]))
    return count


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
    folder = Path(tempfile.mkdtemp())
    capture = folder / "bench.gfcap"
    frames_written = synthesise(capture, minutes, rate)
    began = time.perf_counter()
    params = {"symbol": "BTC/USD", "qty": "0.001", "half_spread_bps": "2"}
    paper = PaperConfig(balances={"USD": Decimal(100_000), "BTC": Decimal(1)})
    logger.remove()  # the example's debug lines would be most of the run
    run = functools.partial(run_backtest, [capture], MarketMaker, params,
                            database=folder / "bench.db", paper=paper)  # fmt: skip
    report = trio.run(run, clock=trio.testing.MockClock())
    took = time.perf_counter() - began
    sys.stdout.write(
        f"{minutes:g} min capture, {frames_written:,} frames: backtest {took:.1f} s,"
        f" {report.frames / took:,.0f} frames/s; orders {report.orders}, fills {report.fills},"
        f" P&L {report.pnl} {report.quote}\n"
    )


if __name__ == "__main__":
    main()
