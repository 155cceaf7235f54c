"""What the HTTP server costs: RSS and order latency with the server off and on.

``python -m tests.web.measure [--orders N] [--seconds S]`` runs each mode in a fresh
interpreter (so RSS counts one engine and nothing else) against ``galfriday sim`` in its own
process (pinned to CPU 0, the engine on any core, as ``just bench`` does) and prints one JSON
line per mode and a table:

- ``rss_mb``: the engine's resident memory after the run.
- ``order_p50_ms`` / ``order_p99_ms``: a market order's fill at the simulator to the order
  updated in the engine with its audit rows committed (the bench's order latency).
- Modes (``--modes off,on``, the default): ``off`` no server; ``idle`` the server with no
  client; ``scrape`` ``/metrics`` and ``/api/status`` fetched every second; ``sse`` one
  ``/api/events`` stream of every event read; ``on`` both (a dashboard's load). The clients
  run in the engine's process (their cost is counted against the engine: the worst case).
  ``http_p50_ms`` / ``http_p99_ms`` are the fetches' round trips on loopback.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import trio

from galfriday.live.engine import open_engine
from galfriday.web import serve_http
from tests.bench.engine_bench import (
    _config,
    _percentiles,
    _rss_mb,
    every_core,
    fill_latencies,
    simulator,
)
from tests.web.helpers import LOOPBACK, sse

MODES = ("off", "idle", "scrape", "sse", "on")


async def _dashboard(mode: str, url: str, rounds: list[float], events: list[int]) -> None:
    async def stream() -> None:
        async with sse(url, "/api/events") as client:
            while got := await client.messages(100):
                events[0] += len(got)

    async with httpx.AsyncClient(base_url=url) as http, trio.open_nursery() as nursery:
        if mode in ("sse", "on"):
            nursery.start_soon(stream)
        while mode in ("scrape", "on"):
            for path in ("/metrics", "/api/status"):
                began = time.perf_counter()
                (await http.get(path)).raise_for_status()
                rounds.append(time.perf_counter() - began)
            await trio.sleep(1)


async def _run(mode: str, orders: int, seconds: float, folder: Path, urls: dict[str, str]) -> Any:
    config = _config(urls, folder / "m.db", ("BTC/USD", "ETH/USD"), 10, keys=True)
    rounds: list[float] = []
    events = [0]
    async with open_engine(config) as engine, trio.open_nursery() as nursery:
        gc.freeze()  # as `galfriday run` does
        if mode != "off":
            port = await nursery.start(serve_http, engine, LOOPBACK)
            nursery.start_soon(_dashboard, mode, f"http://127.0.0.1:{port}", rounds, events)
        began = trio.current_time()
        latencies = await fill_latencies(engine, orders)
        await trio.sleep_until(began + seconds)
        result = {"mode": mode, "rss_mb": round(_rss_mb(), 1), "orders": orders}
        order = _percentiles(latencies)
        result |= {"order_p50_ms": order["p50_ms"], "order_p99_ms": order["p99_ms"]}
        if rounds:
            http = _percentiles(rounds)
            result |= {"http_p50_ms": http["p50_ms"], "http_p99_ms": http["p99_ms"]}
            result |= {"http_requests": len(rounds)}
        if events[0]:
            result |= {"sse_events": events[0]}
        nursery.cancel_scope.cancel()
    return result


def child(mode: str, orders: int, seconds: float) -> None:
    every_core()
    with simulator(50) as urls, TemporaryDirectory() as tmp:
        print(json.dumps(trio.run(_run, mode, orders, seconds, Path(tmp), urls)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--modes", default="off,on", help=f"of {','.join(MODES)}")
    args = parser.parse_args()
    if args.mode:
        child(args.mode, args.orders, args.seconds)
        return
    rows = []
    for mode in args.modes.split(","):
        command = [sys.executable, "-m", "tests.web.measure", "--mode", mode,
                   "--orders", str(args.orders), "--seconds", str(args.seconds)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        line = done.stdout.strip().splitlines()[-1]
        print(line)
        rows.append(json.loads(line))
    for row in rows:
        figures = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in row.items() if k != "mode")  # fmt: skip
        print(f"server {row['mode']:>3}: {figures}")


if __name__ == "__main__":
    main()
