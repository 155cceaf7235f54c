"""Highest public message rate ``galfriday sim`` sustains on one core.

The simulator runs in its own process pinned to CPU 0 (``taskset``); one client in this
process (pinned to CPU 1 when there is one) subscribes to book (depth 10), ticker and trade for
every default pair and counts frames for a few seconds per step while the market rate doubles.
"""

from __future__ import annotations

import json
import os
import time

import trio
from trio_websocket import open_websocket_url

from tests.bench.engine_bench import simulator

PAIRS = ["BTC/USD", "ETH/USD", "XRP/USD", "DOGE/USD"]


async def _count(url: str, seconds: float) -> tuple[int, float]:
    async with open_websocket_url(url, max_message_size=1 << 24) as ws:
        for channel in ("book", "ticker", "trade"):
            await ws.send_message(
                json.dumps({"method": "subscribe", "params": {"channel": channel, "symbol": PAIRS}})
            )
        frames = 0
        with trio.move_on_after(1.0):  # warm-up: snapshots and acks
            while True:
                await ws.get_message()
        start = time.perf_counter()
        with trio.move_on_after(seconds):
            while True:
                await ws.get_message()
                frames += 1
        return frames, time.perf_counter() - start


def measure(rate: float, seconds: float = 4.0) -> tuple[float, float]:
    """(frames/s received, simulator CPU share) at a market rate of ``rate`` events/s."""
    with simulator(rate) as urls:
        pid = int(urls["pid"])
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {1})
        cpu_before = _cpu_seconds(pid)
        frames, elapsed = trio.run(_count, urls["ws_public"], seconds)
        cpu = (_cpu_seconds(pid) - cpu_before) / (elapsed + 1.0)
        return frames / elapsed, cpu


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def highest_rate(max_rate: float = 64_000) -> list[tuple[float, float, float]]:
    """Rows of (market events/s asked, frames/s received, sim CPU share) until it saturates."""
    rows = []
    rate = 500.0
    while rate <= max_rate:
        received, cpu = measure(rate)
        rows.append((rate, received, cpu))
        if cpu > 0.95 or (len(rows) > 1 and received < rows[-2][1] * 1.2):
            break
        rate *= 2
    return rows


if __name__ == "__main__":
    for asked, received, cpu in highest_rate():
        print(f"market {asked:>8,.0f} events/s -> {received:>9,.0f} frames/s, sim CPU {cpu:.0%}")
