"""Engine figures against ``galfriday sim`` in its own process (pinned to CPU 0; the engine
runs on any core).

- Send latency: the simulator's capture playback (``galfriday sim --from-capture
  --restamp``) serves book frames at a set rate and stamps each with its wall time as it
  sends it; the figure is the wall time at which the matching ``BookUpdate`` reaches a bus
  subscriber, minus that stamp. Both processes read the same system clock.
- Order-update latency: for market orders, from the simulator's fill (the ``trade`` report's
  timestamp) to the moment the order is updated in the engine and its audit rows committed.
- RSS and REST calls: the engine with 20 pairs at depth 100 for a sustained run.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

import trio

from galfriday.events import BookUpdate, OrderStatus, OrderUpdate
from galfriday.kraken.auth import decode_secret
from galfriday.live.engine import Engine, EngineConfig, open_engine
from galfriday.live.marketdata import MarketDataConfig
from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET
from tests.bench.frames import PAIRS

DEFAULT_SYMBOLS = ("BTC/USD", "ETH/USD", "XRP/USD", "DOGE/USD")


@contextmanager
def simulator(rate: float, extra_pairs: int = 0) -> Iterator[dict[str, str]]:
    """``galfriday sim`` in its own process pinned to CPU 0; yields its URLs (and ``pid``)."""
    command = [
        sys.executable,
        "-m",
        "galfriday",
        "sim",
        "--rate",
        str(rate),
        "--log-level",
        "ERROR",
    ]
    for symbol, mid, pp, qp in PAIRS:
        if extra_pairs <= 0:
            break
        if symbol in DEFAULT_SYMBOLS:
            continue
        command += ["--pair", f"{symbol}={mid}:{pp}:{qp}:0.01"]
        extra_pairs -= 1
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield {**json.loads(process.stdout.readline()), "pid": str(process.pid)}
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def every_core() -> None:
    """Let the engine run on any core, as it does on a VPS. (Pinning it to CPU 1 also pinned
    the threads it starts, so its audit thread waited for the trio thread's core: ~5 ms at p90
    of row (f) on a loaded machine.) The simulator stays on CPU 0."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def _config(
    urls: dict[str, str], db: Path, symbols: tuple[str, ...], depth: int, keys: bool
) -> EngineConfig:
    return EngineConfig(
        ws_public=urls["ws_public"],
        ws_private=urls["ws_private"],
        rest=urls["rest"],
        database=db,
        api_key=DEFAULT_API_KEY if keys else None,
        api_secret=decode_secret(DEFAULT_API_SECRET) if keys else None,
        marketdata=MarketDataConfig(symbols=symbols, depth=depth, ohlc_intervals=()),
    )


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": statistics.median(samples) * 1000,
        "p99_ms": samples[int(len(samples) * 0.99)] * 1000,
        "samples": len(samples),
    }


def order_latency(orders: int = 200) -> dict[str, float]:
    """Market order fill at the simulator -> order updated and its audit rows committed."""
    every_core()
    with simulator(50) as urls, TemporaryDirectory() as tmp:

        async def run() -> dict[str, float]:
            config = _config(urls, Path(tmp) / "o.db", ("BTC/USD",), 10, keys=True)
            async with open_engine(config) as engine:
                gc.freeze()  # as `galfriday run` does
                return _percentiles(await fill_latencies(engine, orders))

        return trio.run(run)


async def fill_latencies(engine: Engine, orders: int) -> list[float]:
    """Place ``orders`` market orders one at a time; for each, seconds from the simulator's
    fill to the order updated in the engine with its audit rows committed."""
    assert engine.gateway is not None and engine.account is not None
    latencies = []
    async with engine.bus.subscribe(OrderUpdate, capacity=100_000) as updates:
        for i in range(orders):
            side = "buy" if i % 2 == 0 else "sell"
            order_id = await engine.gateway.place(
                "BTC/USD", side, Decimal("0.0001"), order_type="market"
            )
            while True:
                event = await updates.receive()
                assert isinstance(event, OrderUpdate)
                order = event.order
                if order.order_id == order_id and order.status is OrderStatus.FILLED:
                    break
            await engine.audit.flush()
            assert order.updated is not None
            latencies.append(time.time() - order.updated.timestamp())
    return latencies


def sustained(minutes: float, pairs: int = 20, depth: int = 100) -> dict[str, float]:
    """RSS and REST calls of the engine with ``pairs`` pairs at ``depth`` for ``minutes``."""
    every_core()
    with (
        simulator(400, extra_pairs=pairs - len(DEFAULT_SYMBOLS)) as urls,
        TemporaryDirectory() as tmp,
    ):
        symbols = tuple(dict.fromkeys([*DEFAULT_SYMBOLS, *(p[0] for p in PAIRS)]))[:pairs]

        async def run() -> dict[str, float]:
            config = _config(urls, Path(tmp) / "s.db", symbols, depth, keys=True)
            async with open_engine(config) as engine:
                gc.freeze()  # as `galfriday run` does
                warmup = min(60.0, minutes * 20)  # start-up REST calls are not steady state
                await trio.sleep(warmup)
                calls_after_warmup = engine.rest.calls
                warm = trio.current_time()
                await trio.sleep(max(0.0, minutes * 60 - warmup))
                steady = trio.current_time() - warm
                verified = sum(1 for feed in engine.marketdata.books.values() if feed.verified)
                return {
                    "rss_mb": _rss_mb(),
                    "minutes": minutes,
                    "pairs": len(engine.marketdata.books),
                    "books_verified": verified,
                    "rest_calls_per_hour": (engine.rest.calls - calls_after_warmup)
                    / max(steady, 1)
                    * 3600,
                    "frames": engine.public.metrics.messages,
                }

        return trio.run(run)


def sustained_in_fresh_process(minutes: float) -> dict[str, float]:
    """:func:`sustained` in a new interpreter, so RSS counts the engine and nothing else."""
    code = (
        "import json; from tests.bench.engine_bench import sustained; "
        f"print(json.dumps(sustained({minutes})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=minutes * 60 + 120,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reconcile_cpu(orders: int = 10_000, assets: int = 200, repeat: int = 5) -> dict[str, float]:
    """CPU time of one pure reconciliation of ``orders`` orders and ``assets`` assets."""
    from galfriday.reconcile.compare import (
        ExchangeOrder,
        ExchangeView,
        InternalOrder,
        InternalView,
        reconcile,
    )

    names = [f"A{i:03d}" for i in range(assets)]
    ours = {name: Decimal(i + 1) for i, name in enumerate(names)}
    theirs = {
        name: Decimal(i + 1) + (Decimal("0.0005") if i % 10 == 0 else 0)
        for i, name in enumerate(names)
    }
    internal_orders = {
        f"O{i}": InternalOrder(order_id=f"O{i}", status="new") for i in range(orders)
    }
    exchange_orders = {
        f"O{i}": ExchangeOrder(order_id=f"O{i}", status="open" if i % 50 else "closed")
        for i in range(orders)
    }
    fills = frozenset(f"T{i}" for i in range(orders))
    internal = InternalView(
        balances=ours,
        symbols=tuple(f"{n}/USD" for n in names[:20]),
        orders=internal_orders,
        fills=fills,
    )
    exchange = ExchangeView(balances=theirs, orders=exchange_orders, fills=fills)
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.process_time()
        result = reconcile(internal, exchange)
        best = min(best, time.process_time() - start)
    assert result is not None
    return {"cpu_ms": best * 1000, "discrepancies": len(result.discrepancies)}


def reconcile_rest_calls() -> dict[str, float]:
    """REST calls of a start-up run and of a later run, engine against the simulator."""
    with simulator(20) as urls, TemporaryDirectory() as tmp:

        async def run() -> dict[str, float]:
            config = _config(urls, Path(tmp) / "r.db", ("BTC/USD",), 10, keys=True)
            async with open_engine(config) as engine:
                gc.freeze()  # as `galfriday run` does
                assert engine.reconciler is not None
                startup = engine.rest.calls  # AssetPairs + token + the start-up run
                before = engine.rest.calls
                await engine.reconciler.run_once("manual")
                return {"startup_calls": startup, "run_calls": engine.rest.calls - before}

        return trio.run(run)


@contextmanager
def playback(capture: Path, speed: float) -> Iterator[dict[str, str]]:
    """``galfriday sim --from-capture`` in its own process pinned to CPU 0, book timestamps
    set at send; yields its URLs."""
    command = [sys.executable, "-m", "galfriday", "sim", "--log-level", "ERROR", "--restamp"]
    command += ["--from-capture", str(capture), "--speed", str(speed)]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """``count`` processes that spin (``while True: pass``) on any core for the block (they
    inherit :func:`every_core`): the machine's cores taken by someone else, as on a busy host."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait(timeout=10)


def send_latency(
    frames_per_s: float, seconds: float = 6.0, warmup: float = 1.5, busy: int = 0
) -> dict[str, float]:
    """Simulator send -> BookUpdate on the bus: book frames for 4 pairs at depth 10 served by
    the simulator's capture playback at ``frames_per_s``, each stamped as it is sent. With
    ``busy``, that many spinning processes run beside both (issue 18's "both cores busy"
    variant: ``busy=2``)."""
    from tests.bench.frames import make_traffic
    from tests.bench.replay_bench import FRAME_GAP, write_capture

    every_core()
    total = int(frames_per_s * (seconds + warmup + 2))
    traffic = make_traffic(pairs=4, depth=10, updates=total, seed=11)
    symbols = tuple(traffic.books)
    with TemporaryDirectory() as tmp:
        capture = Path(tmp) / "latency.gfcap"
        write_capture(traffic, capture, depth=10)
        speed = frames_per_s * FRAME_GAP  # the capture is recorded at 1 / FRAME_GAP frames/s
        with playback(capture, speed) as urls, busy_cores(busy):

            async def run() -> dict[str, float]:
                config = _config(
                    {**urls, "ws_private": urls["ws_public"], "rest": "http://127.0.0.1:9"},
                    Path(tmp) / "b.db",
                    symbols,
                    10,
                    keys=False,
                )
                config = replace(config, reconcile=None, rest_retry_base=0.0)  # no REST here
                async with open_engine(config) as engine:
                    gc.freeze()  # as `galfriday run` does
                    await trio.sleep(warmup)  # past the subscription catch-up
                    updates = engine.bus.subscribe(BookUpdate, capacity=1_000_000)
                    latencies: list[float] = []
                    start_frames = engine.public.metrics.messages
                    started = time.perf_counter()
                    with trio.move_on_after(seconds):
                        async for event in updates:
                            assert isinstance(event, BookUpdate)
                            if event.timestamp and not event.snapshot:
                                sent = datetime.fromisoformat(event.timestamp).timestamp()
                                latencies.append(time.time() - sent)
                    elapsed = time.perf_counter() - started
                    frames = engine.public.metrics.messages - start_frames
                    return {**_percentiles(latencies), "frames_per_s": frames / elapsed}

            return trio.run(run)
