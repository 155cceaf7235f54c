"""A busy session recorded against the simulator (the ``session`` fixture in tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import trio

from galfriday.capture.writer import CaptureConfig
from galfriday.events import (
    BookUpdate,
    ConnectionState,
    ConnectionStateChanged,
    GapDetected,
    ReconciliationReport,
    ResyncStarted,
)
from galfriday.sim.faults import Fault
from galfriday.sim.server import SimConfig, open_simulator
from tests.live.test_engine import engine_on

D = Decimal


@dataclass(frozen=True)
class Session:
    db: Path
    captures: list[Path]
    token: str


async def _record(folder: Path, db: Path) -> Session:
    """A session with trading, a checksum resync, a private gap, drift, a reconnect, garbage."""
    async with (
        # A generous REST counter: the engine does not pace itself here (rest_rate_limited).
        open_simulator(SimConfig(rate=300, seed=5, rest_counter=(100.0, 10.0))) as sim,
        engine_on(sim, db, capture=CaptureConfig(folder=folder), rest_rate_limited=False) as engine,
    ):
        gateway, account, reconciler = engine.gateway, engine.account, engine.reconciler
        assert gateway is not None and account is not None and reconciler is not None
        events = engine.bus.subscribe(capacity=100_000)

        async def wait_for(kind: type, check: object = None) -> object:
            with trio.fail_after(20):
                async for event in events:
                    if isinstance(event, kind) and (check is None or check(event)):  # type: ignore[operator]
                        return event
            raise AssertionError("bus closed")

        book = sim.exchange.books["BTC/USD"]
        resting = await gateway.place(
            "BTC/USD", "buy", D("0.001"), book.spec.price((book.best("bids") or 0) - 100)
        )
        await gateway.place("BTC/USD", "buy", D("0.002"), order_type="market")
        await gateway.place("ETH/USD", "sell", D("0.01"), order_type="market")
        await gateway.cancel(resting)

        sim.drift_funds("ETH", D("0.5"), ledger=False)  # the stream never says
        assert await reconciler.run_once("manual")
        assert reconciler.last is not None and reconciler.last.discrepancies

        sim.frame_fault(Fault.CORRUPT_CHECKSUM, "public", 1)
        await wait_for(ResyncStarted)

        sim.frame_fault(Fault.DROP_FRAMES, "private", 2)
        for _ in range(3):
            await gateway.place("BTC/USD", "sell", D("0.001"), order_type="market")
        await wait_for(GapDetected)
        await wait_for(ReconciliationReport, lambda e: e.kind == "gap")

        sim.send_garbage("public")
        with trio.fail_after(20):
            while not engine.marketdata.stats.malformed:
                await wait_for(object)
        await sim.drop_connections("public")
        await wait_for(
            ConnectionStateChanged,
            lambda e: e.connection == "public" and e.new is ConnectionState.SUBSCRIBED,
        )
        await wait_for(BookUpdate, lambda e: e.verified and e.symbol == "ETH/USD")
        for _ in range(600):  # a few seconds of market data after the reconnect
            await wait_for(BookUpdate)
        truth = sim.ground_truth()
        with trio.fail_after(20):
            while account.orders.fill_ids() < set(truth.fills):
                await wait_for(object)
        token = account.token or ""
        assert engine.capture is not None
        captures = list(engine.capture.paths)
    return Session(db, captures, token)


def record_session(folder: Path) -> Session:
    """Record the session into ``folder`` (captures/ and live.db)."""
    return trio.run(_record, folder / "captures", folder / "live.db")


async def _record_short(folder: Path, db: Path) -> list[Path]:
    """A second, short session into the same folder and database: one order, one fill."""
    async with (
        open_simulator(SimConfig(rate=100, seed=6, rest_counter=(100.0, 10.0))) as sim,
        engine_on(sim, db, capture=CaptureConfig(folder=folder), rest_rate_limited=False) as engine,
    ):
        assert engine.gateway is not None and engine.capture is not None
        await engine.gateway.place("BTC/USD", "buy", D("0.001"), order_type="market")
        await trio.sleep(1.0)
        return list(engine.capture.paths)


def record_another_session(folder: Path, db: Path) -> list[Path]:
    """Record a short second session beside an earlier one (same captures folder and db)."""
    return trio.run(_record_short, folder, db)
