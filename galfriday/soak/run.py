"""The soak's run: the engine and the simulator on loopback, faults injected on a seeded
schedule, a quiet stretch to recover, then the checks.

Everything here runs inside one ``trio.run``. An exception out of the engine (a task that
died) is not raised: ``run_soak`` records it as the failed check "no unhandled exception".
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import trio
from loguru import logger

from galfriday.capture.writer import CaptureConfig
from galfriday.errors import GalfridayError
from galfriday.events import ConnectionState
from galfriday.live.demo import DemoConfig, run_demo
from galfriday.live.engine import Engine, EngineConfig, open_engine
from galfriday.reconcile.run import ReconcileConfig
from galfriday.sim.embedded import SYMBOLS, engine_config_for, open_embedded
from galfriday.sim.faults import Fault, target_for
from galfriday.sim.server import Simulator, SimUrls
from galfriday.soak.checks import (
    check_capture,
    check_connects,
    check_database,
    check_engine,
    check_rss_growth,
)
from galfriday.soak.config import SoakConfig
from galfriday.soak.report import SoakReport

__all__ = ["cpu_load", "run_soak"]

# After the last fault: the longest wait for everything to be subscribed and verified again
# (a reconnect's backoff is capped at 30 s, plus the subscriptions and snapshots).
RECOVERY_LIMIT: Final = 45.0


class _ErrorLog:
    """Counts ERROR and CRITICAL log records (an unhandled exception logs one)."""

    def __init__(self) -> None:
        self.records: list[str] = []

    def __call__(self, message: Any) -> None:
        record = message.record
        self.records.append(f"{record['name']}: {record['message']}")


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:  # not Linux: the figure is not available
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _engine_config(urls: SimUrls, folder: Path) -> EngineConfig:
    return engine_config_for(
        urls,
        folder / "soak.db",
        silence_timeout=3.0,  # the simulator's heartbeat is 1 s; a stall lasts 5 s or more
        health_interval=2.0,
        reconcile=ReconcileConfig(interval=60.0, retry_base=5.0),
        nonce_path=folder / "nonce",
        capture=CaptureConfig(folder=folder / "captures"),
    )


FRAME_FAULTS_BOTH_WAYS: Final = (Fault.DROP_FRAMES, Fault.DUPLICATE_FRAMES, Fault.REORDER_FRAMES)


def _schedule(rng: random.Random) -> Iterator[tuple[Fault, str]]:
    """Rounds of every fault kind in a seeded order, each with a plausible target. Frame
    faults that apply to either connection hit the private one in the first round (its
    sequence numbers make them gaps), then alternate."""
    rounds = 0
    while True:
        kinds = list(Fault)
        rng.shuffle(kinds)
        if rounds == 0:  # the faults whose detection is checked come first, for short soaks
            first = [Fault.DROP_FRAMES, Fault.STALL, Fault.CORRUPT_CHECKSUM, Fault.DRIFT_DEPOSIT]
            kinds = first + [k for k in kinds if k not in first]
        for kind in kinds:
            if kind in FRAME_FAULTS_BOTH_WAYS:
                yield kind, ("private", "public")[rounds % 2]
            else:
                yield kind, target_for(kind, rng)
        rounds += 1


async def _inject(sim: Simulator, config: SoakConfig, report: SoakReport) -> None:
    rng = random.Random(config.seed)
    faults = _schedule(rng)
    until = trio.current_time() + config.seconds - config.quiet
    async with trio.open_nursery() as nursery:
        while True:
            wait = rng.expovariate(1 / config.fault_every)
            if trio.current_time() + wait >= until:
                break
            await trio.sleep(wait)
            fault, target = next(faults)
            report.injected[fault.value] += 1
            logger.info("soak: injecting {} on {}", fault.value, target)
            # A maintenance window sleeps inside; the schedule goes on meanwhile.
            nursery.start_soon(sim.inject_random, fault, target, random.Random(rng.random()))
        await trio.sleep(max(0.0, until - trio.current_time()))
        nursery.cancel_scope.cancel()  # a maintenance window still open ends here
    # The outage is over: nothing queued may hit the recovery stretch.
    sim.faults.clear_rest()
    sim.faults.clear_frames()
    if sim.exchange.system != "online":
        sim.set_system_status("online")


async def _recovered(engine: Engine, seconds: float) -> bool:
    """Wait (up to ``seconds``) for both connections subscribed and every book verified."""
    with trio.move_on_after(seconds):
        while True:
            connections = [c for c in (engine.public, engine.private) if c is not None]
            books = engine.marketdata.books
            if (
                all(c.state is ConnectionState.SUBSCRIBED for c in connections)
                and len(books) == len(SYMBOLS)
                and all(feed.verified for feed in books.values())
            ):
                return True
            await trio.sleep(0.5)
    return False


@contextlib.contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """``processes`` busy Python processes for the duration of the block."""
    # Each ends by itself once the soak is gone, even if the soak is killed.
    spin = f"import os\nwhile os.getppid() == {os.getpid()}:\n    for _ in range(10**6): pass"
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(processes)]
    try:
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


async def run_soak(config: SoakConfig, folder: Path) -> SoakReport:
    """The whole soak; the report holds every check (see :mod:`galfriday.soak`)."""
    report = SoakReport()
    errors = _ErrorLog()
    sink = logger.add(errors, level="ERROR")
    began = time.monotonic()
    try:
        with cpu_load(config.cpu_load):
            sim, truth_connects = await _soak(config, folder, report)
    except Exception as exc:  # an engine task died: that is the finding
        report.check("no unhandled exception", False, "".join(traceback.format_exception(exc)))
        logger.remove(sink)
        report.seconds = time.monotonic() - began
        return report
    logger.remove(sink)
    report.seconds = time.monotonic() - began
    report.check(
        "no unhandled exception",
        not errors.records,
        f"{len(errors.records)} error log records" + "".join(f"\n    {r}" for r in errors.records),
    )
    check_database(report, folder / "soak.db", sim)
    check_connects(report, truth_connects)
    check_capture(report, folder / "captures")
    check_rss_growth(report)
    return report


async def _soak(
    config: SoakConfig, folder: Path, report: SoakReport
) -> tuple[Simulator, list[float]]:
    """Run the engine under faults, then the engine's own checks; the simulator (for the
    checks against its ground truth) and its connect times."""
    async with open_embedded(config.seed) as (sim, urls):
        engine_config = _engine_config(urls, folder)
        async with open_engine(engine_config) as engine:
            gc.freeze()  # as `galfriday run` does
            account, gateway, reconciler = engine.account, engine.gateway, engine.reconciler
            if account is None or gateway is None or reconciler is None:
                raise GalfridayError("the soak's engine has no private side")
            rss_start = _rss_mb()
            async with trio.open_nursery() as work:
                work.start_soon(
                    run_demo, DemoConfig(period=2.0), engine.marketdata, account, gateway
                )
                await _inject(sim, config, report)
                quiet = trio.current_time()
                recovered = await _recovered(engine, RECOVERY_LIMIT)
                report.figures["recovery_s"] = trio.current_time() - quiet
                await trio.sleep_until(quiet + config.quiet)  # the demo trades on
                work.cancel_scope.cancel()
            for order in account.orders.open_orders():  # a quiet account
                with contextlib.suppress(GalfridayError):
                    await gateway.cancel(order.order_id)
            await trio.sleep(2)  # the last reports reach the stream
            final_ok = await reconciler.run_once("manual")
            await engine.audit.flush()
            report.figures["rss_start_mb"] = rss_start
            report.figures["rss_end_mb"] = _rss_mb()
            check_engine(report, engine, sim, recovered, final_ok)
            connects = list(sim.connect_times)
    return sim, connects
