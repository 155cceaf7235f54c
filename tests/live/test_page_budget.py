"""A history window the page budget cannot read to its end is said so: an anomaly after a
backfill, a line in the reconciliation report."""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from galfriday import cli
from galfriday.events import RecoveryFinished
from galfriday.kraken import history
from galfriday.reconcile.run import ReconcileConfig
from galfriday.sim.exchange import OrderRequest
from galfriday.sim.faults import Fault
from galfriday.sim.server import SimConfig, Simulator, open_simulator
from tests.live.helpers import private_feed
from tests.live.test_engine import engine_on

D = Decimal
QUIET = SimConfig(rate=0.001)


def _trade(sim: Simulator, count: int) -> None:
    """``count`` market orders of the smallest size, each one fill, buying and selling."""
    for n in range(count):
        side = ("buy", "sell")[n % 2]
        sim.place_order(OrderRequest("BTC/USD", side, "market", D("0.0001"), None))
    sim.flush_private()


async def test_a_backfill_the_page_budget_cannot_cover_is_an_anomaly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One page (50 trades) for a gap of 60 fills: the older ones were never read.
    monkeypatch.setattr(
        history, "trades_history", functools.partial(history.trades_history, max_pages=1)
    )
    async with open_simulator(QUIET) as sim, private_feed(sim, snap_trades=False) as feed:
        recovered = feed.bus.subscribe(RecoveryFinished)
        sim.frame_fault(Fault.DROP_FRAMES, "private", 100_000)  # the stream hears nothing
        _trade(sim, 60)
        await trio.testing.wait_all_tasks_blocked()  # the simulator has sent (dropped) all
        sim.faults.clear_frames()
        _trade(sim, 1)  # a frame after the gap: the stream sees it and recovers
        with trio.fail_after(30):
            await recovered.receive()
        [row] = [a for a in feed.audit.table("order_anomalies")
                 if a["kind"] == "backfill_not_covered"]  # fmt: skip
        assert row["detail"] == "TradesHistory: 1 pages did not cover the gap's window"


async def test_the_report_names_the_windows_a_run_did_not_read_to_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(SimConfig(rate=20)) as sim:
        _trade(sim, 55)  # 55 closed orders and 55 trades in the last day: two pages each
        async with engine_on(sim, db, reconcile=ReconcileConfig(history_pages=1)) as engine:
            assert engine.reconciler is not None and engine.reconciler.last is not None
    assert cli.main(["report", "--db", str(db), "--last", "1"]) == 0
    out = capsys.readouterr().out
    assert "  not read to the end of the window (page budget): ClosedOrders, TradesHistory" in out
