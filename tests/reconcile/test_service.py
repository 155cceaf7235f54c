"""Reconciliation end to end: the engine, the simulator's drift faults, the audit trail."""

from __future__ import annotations

import dataclasses
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from galfriday.events import (
    Alert,
    BalanceChange,
    OrderStatus,
    ReconciliationReport,
    RecoveryFinished,
    Severity,
)
from galfriday.kraken.ratelimit import Tier
from galfriday.live.engine import Engine
from galfriday.sim.exchange import OrderRequest
from galfriday.sim.faults import Fault
from galfriday.sim.server import SimConfig, open_simulator
from tests.live.test_engine import engine_on
from tests.transports import GarblingTransport

D = Decimal


async def _reconcile(engine: Engine, kind: str = "manual") -> None:
    assert engine.reconciler is not None
    assert await engine.reconciler.run_once(kind)
    await engine.audit.flush()


# The key's call counter decays 20 times faster than Kraken's, on both sides, so the engine
# still paces its calls but several runs in one test need not wait 16 s for it.
FAST = SimConfig(rate=20, rest_counter=(20.0, 10.0))
FAST_TIER = Tier(20.0, 10.0)


def _rows(db: Path, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql).fetchall()]


async def test_every_run_is_published_on_the_bus(tmp_path: Path) -> None:
    async with (
        open_simulator(SimConfig(rate=20)) as sim,
        engine_on(sim, tmp_path / "a.db") as engine,
    ):
        reports = engine.bus.subscribe(ReconciliationReport)
        sim.drift_funds("ETH", D("0.5"), ledger=False)
        await _reconcile(engine)
        report = reports.receive_nowait()
        assert isinstance(report, ReconciliationReport)
        assert (report.kind, report.status, report.discrepancies, report.review) == (
            "manual",
            "discrepancies",
            1,
            1,
        )


async def test_startup_run_is_clean_and_recorded(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(FAST) as sim, engine_on(sim, db, rest_counter=FAST_TIER) as engine:
        assert engine.reconciler is not None and engine.reconciler.runs == 1
        await engine.audit.flush()
        runs = _rows(db, "SELECT type, status, rest_calls FROM reconciliation_events")
        assert runs == [{"type": "startup", "status": "clean", "rest_calls": 4}]


@pytest.mark.slow
async def test_missed_ledger_entries_are_explained_once(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(FAST) as sim, engine_on(sim, db, rest_counter=FAST_TIER) as engine:
        assert engine.account is not None
        sim.drift_funds("USD", D("250"))  # a deposit the stream never announces
        await _reconcile(engine)
        await _reconcile(engine)  # nothing applied twice
        assert engine.account.portfolio.balances["USD"] == sim.ground_truth().balances["USD"]
        runs = _rows(
            db,
            "SELECT status, explained, discrepancies FROM reconciliation_events ORDER BY at_wall",
        )
        assert [r["explained"] for r in runs] == [0, 1, 0]
        assert all(r["discrepancies"] == 0 for r in runs)
        adjustments = _rows(db, "SELECT adjustment_type, subject FROM position_adjustments")
        assert adjustments == [{"adjustment_type": "explained", "subject": "USD"}]


@pytest.mark.slow
async def test_unexplained_drift_is_graded_small_corrected_large_queued(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(FAST) as sim, engine_on(sim, db, rest_counter=FAST_TIER) as engine:
        alerts = engine.bus.subscribe(Alert)
        sim.drift_funds("USD", D("0.0005"), ledger=False)  # tiny: corrected
        sim.drift_funds("BTC", D("0.005"), ledger=False)  # 0.5 % of a position: corrected
        sim.drift_funds("ETH", D("0.5"), ledger=False)  # 4.8 %: medium, to review
        sim.drift_funds("DOGE", D("-50000"), ledger=False)  # to zero: critical, to review
        await _reconcile(engine)
        found = {
            r["subject"]: r["severity"]
            for r in _rows(db, "SELECT subject, severity FROM discrepancies")
        }
        assert found == {"USD": "low", "BTC/USD": "low", "ETH/USD": "medium", "DOGE": "critical"}
        corrected = {
            r["subject"]
            for r in _rows(
                db, "SELECT subject FROM position_adjustments WHERE adjustment_type != 'explained'"
            )
        }
        assert corrected == {"USD", "BTC/USD"}
        queued = {r["subject"] for r in _rows(db, "SELECT subject FROM review_queue")}
        assert queued == {"ETH/USD", "DOGE"}
        assert engine.account is not None
        truth = sim.ground_truth().balances
        assert engine.account.portfolio.balances["USD"] == truth["USD"]
        assert engine.account.portfolio.balances["ETH"] != truth["ETH"]  # left for a person
        alert = alerts.receive_nowait()
        assert isinstance(alert, Alert) and alert.severity is Severity.CRITICAL
        await _reconcile(engine)  # a second run corrects nothing again, queues nothing twice
        assert len(_rows(db, "SELECT id FROM position_adjustments")) == 2
        assert len(_rows(db, "SELECT id FROM review_queue")) == 2


@pytest.mark.slow
async def test_an_order_from_another_device_is_an_untracked_order(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(FAST) as sim, engine_on(sim, db, rest_counter=FAST_TIER) as engine:
        book = sim.exchange.books["BTC/USD"]
        order = sim.drift_order(
            "BTC/USD", "buy", D("0.001"), book.spec.price((book.best("bids") or 0) - 100)
        )
        await _reconcile(engine)  # placed a moment ago: its report could be on its way
        [run] = _rows(db, "SELECT report FROM reconciliation_events WHERE type = 'manual'")
        assert f'"deferred":["{order.order_id}"]' in run["report"]
        assert engine.reconciler is not None  # past the settle window, it is untracked:
        engine.reconciler.config = dataclasses.replace(engine.reconciler.config, settle=0.0)
        await _reconcile(engine)
        found = _rows(db, "SELECT kind, subject, severity FROM discrepancies")
        assert {"kind": "untracked_order", "subject": order.order_id, "severity": "high"} in found
        assert _rows(db, "SELECT count(*) n FROM alerts")[0]["n"] >= 1


async def test_a_rest_outage_fails_cleanly_retries_and_alerts_after_three(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(SimConfig(rate=5)) as sim, engine_on(sim, db) as engine:
        assert engine.reconciler is not None
        alerts = engine.bus.subscribe(Alert)
        sim.rest_fault(Fault.REST_UNAVAILABLE, count=10_000)
        engine.reconciler.trigger("manual")
        with trio.fail_after(600):
            while True:
                alert = await alerts.receive()
                assert isinstance(alert, Alert)
                if alert.severity is Severity.CRITICAL and "failed 3 times" in alert.message:
                    break
        sim.faults.clear_rest()
        assert await engine.reconciler.run_once("manual")  # the outage is over: it recovers
        assert engine.reconciler.failures == 0
        await engine.audit.flush()
        statuses = [
            r["status"]
            for r in _rows(db, "SELECT status FROM reconciliation_events ORDER BY at_wall")
        ]
        assert statuses[:1] == ["clean"] and statuses[1:4] == ["failed"] * 3
        assert statuses[-1] == "clean"


async def test_a_review_decision_from_the_database_is_applied_and_audited(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(SimConfig(rate=5)) as sim, engine_on(sim, db) as engine:
        assert engine.account is not None
        sim.drift_funds("ETH", D("0.5"), ledger=False)
        await _reconcile(engine)
        (item,) = _rows(db, "SELECT id FROM review_queue")
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE review_queue SET status='resolved', decision='accept-exchange', "
                "note='checked on kraken.com', resolved_wall=1 WHERE id=?",
                [item["id"]],
            )
        assert engine.reconciler is not None
        assert await engine.reconciler.apply_pending_decisions() == 1  # what the 5 s poll runs
        await engine.audit.flush()
        assert await engine.reconciler.apply_pending_decisions() == 0  # applied once only
        assert engine.account.portfolio.balances["ETH"] == sim.ground_truth().balances["ETH"]
        (row,) = _rows(db, "SELECT status, decision, note FROM review_queue")
        assert row == {
            "status": "applied",
            "decision": "accept-exchange",
            "note": "checked on kraken.com",
        }
        (adjustment,) = _rows(
            db,
            "SELECT adjustment_type, new_value FROM position_adjustments "
            "WHERE adjustment_type = 'review'",
        )
        assert D(adjustment["new_value"]) == D("10.5")


async def test_a_missed_entry_already_inside_a_later_stream_total_is_not_counted_twice(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(FAST) as sim, engine_on(sim, db, rest_counter=FAST_TIER) as engine:
        assert engine.gateway is not None and engine.account is not None
        sim.drift_funds("USD", D("250"))  # missed by the stream...
        updates = engine.bus.subscribe(BalanceChange)
        await engine.gateway.place("BTC/USD", "buy", D("0.001"), order_type="market")
        with trio.fail_after(10):  # ...but the trade's USD total after it includes it
            while True:
                change = await updates.receive()
                if isinstance(change, BalanceChange) and change.asset == "USD" and change.ledger_id:
                    break
        await _reconcile(engine)
        assert engine.account.portfolio.balances["USD"] == sim.ground_truth().balances["USD"]
        (run,) = _rows(
            db, "SELECT explained, discrepancies FROM reconciliation_events WHERE type = 'manual'"
        )
        assert run == {"explained": 0, "discrepancies": 0}


async def test_a_fill_during_slow_rest_calls_is_deferred_not_undone(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    db = tmp_path / "a.db"
    async with (
        open_simulator(SimConfig(rate=0.01)) as sim,
        engine_on(sim, db, rest_tier="pro") as engine,
    ):
        assert engine.account is not None and engine.reconciler is not None
        sim.rest_fault(Fault.REST_SLOW, 1, 5.0)  # the run's first call (Balance) answers late
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_reconcile, engine)
            await trio.sleep(1)  # the Balance answer is already decided: before the fill
            sim.place_order(OrderRequest("BTC/USD", "buy", "market", D("0.01"), None))
            sim.flush_private()
        truth = sim.ground_truth().balances
        assert engine.account.portfolio.balances["BTC"] == truth["BTC"]  # not set back
        assert engine.account.portfolio.balances["USD"] == truth["USD"]
        [run] = _rows(db, "SELECT report FROM reconciliation_events WHERE type = 'manual'")
        assert '"deferred":["BTC"' in run["report"]
        assert not _rows(db, "SELECT * FROM position_adjustments")


async def test_a_ledger_entry_newer_than_the_balance_answer_is_not_used_to_explain(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    db = tmp_path / "a.db"
    async with (
        open_simulator(SimConfig(rate=0.01)) as sim,
        engine_on(sim, db, rest_tier="pro") as engine,
    ):
        assert engine.account is not None and engine.reconciler is not None
        before = dict(engine.account.portfolio.balances)
        sim.rest_fault(Fault.REST_SLOW, 1, 5.0)  # Balance answers now, arrives in 5 s
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_reconcile, engine)
            await trio.sleep(1)
            sim.frame_fault(Fault.DROP_FRAMES, "private", 10)  # the stream never says
            sim.place_order(OrderRequest("BTC/USD", "buy", "market", D("0.01"), None))
            sim.flush_private()
        # The run saw the trade only in Ledgers, after a Balance answer without it: neither
        # "explained" into the balances nor "corrected" back; left for the next run.
        assert engine.account.portfolio.balances == before
        [run] = _rows(db, "SELECT report FROM reconciliation_events WHERE type = 'manual'")
        [trade] = set(sim.ground_truth().fills) - engine.account.orders.fill_ids()
        assert f'"deferred":["BTC","{trade}","USD"]' in run["report"]
        assert not _rows(db, "SELECT * FROM position_adjustments")
        # (The fill itself waits too: made after the run began, its report may be on its way.)
        assert "fill_missing_internally" not in run["report"]


async def test_a_gap_is_reconciled_after_the_stream_has_recovered(tmp_path: Path) -> None:
    # Reconciling while the gap's recovery resubscribes would compare against a stream in
    # the middle of its new snapshots: every subject it touches is deferred and the run
    # checks nothing. The run waits for the recovery, then sees the recovered account.
    db = tmp_path / "a.db"
    async with (
        # A key with a generous counter: the test is about order, not about pacing.
        open_simulator(SimConfig(rate=20, rest_counter=(100.0, 10.0))) as sim,
        engine_on(sim, db, rest_rate_limited=False) as engine,
    ):
        assert engine.gateway is not None and engine.account is not None
        reports = engine.bus.subscribe(ReconciliationReport, capacity=100)
        sim.frame_fault(Fault.DROP_FRAMES, "private", 2)
        for _ in range(3):
            await engine.gateway.place("BTC/USD", "sell", D("0.001"), order_type="market")
        with trio.fail_after(20):
            async for report in reports:
                assert isinstance(report, ReconciliationReport)
                if report.kind == "gap":
                    break
        assert engine.account.machine.recoveries == 1
        assert not engine.account.recovering  # the run started after the recovery ended
        assert (report.status, report.discrepancies) == ("clean", 0)
        await engine.audit.flush()
        [run] = _rows(db, "SELECT report FROM reconciliation_events WHERE type = 'gap'")
        assert '"deferred":[]' in run["report"]
        assert engine.account.portfolio.balances == sim.ground_truth().balances


@pytest.mark.slow
async def test_a_trade_made_just_before_the_run_waits_for_the_stream(tmp_path: Path) -> None:
    # The exchange can be ahead of the stream: a fill made a moment before the run may still
    # be on its way, and queueing it for review would be a false alarm. It is deferred; a run
    # once it has had time to arrive (here: no settle window) reports what never came.
    db = tmp_path / "a.db"
    async with open_simulator(FAST) as sim, engine_on(sim, db, rest_counter=FAST_TIER) as engine:
        assert engine.reconciler is not None
        book = sim.exchange.books["BTC/USD"]
        price = book.spec.price((book.best("asks") or 0) + 100)
        order = sim.drift_order("BTC/USD", "buy", D("0.001"), price)  # fills at once, unsaid
        assert order.trades
        await _reconcile(engine)
        [report] = _rows(db, "SELECT report FROM reconciliation_events WHERE type = 'manual'")
        assert "fill_missing_internally" not in report["report"]
        assert f'"deferred":["{order.trades[0]}"]' in report["report"]
        engine.reconciler.config = dataclasses.replace(engine.reconciler.config, settle=0.0)
        await _reconcile(engine)
        found = _rows(db, "SELECT kind, subject FROM discrepancies")
        assert {"kind": "fill_missing_internally", "subject": order.trades[0]} in found


@pytest.mark.slow
async def test_an_unreadable_rest_answer_fails_the_run_not_the_engine(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    rest = GarblingTransport()
    async with (
        open_simulator(FAST) as sim,
        engine_on(sim, db, transport=rest, rest_counter=FAST_TIER) as engine,
    ):
        assert engine.reconciler is not None
        ledger = {"ledger": {"L1": {"asset": "ZUSD", "amount": "1"}}}  # no time, no balance
        rest.garble({"Ledgers": ledger}, once=False)
        assert not await engine.reconciler.run_once("manual")
        rest.restore()
        assert await engine.reconciler.run_once("manual")  # still running, and fine again
        await engine.audit.flush()
        failed = _rows(db, "SELECT error FROM reconciliation_events WHERE status = 'failed'")
        assert len(failed) == 1 and "unreadable answer" in failed[0]["error"]


async def test_unreadable_answers_fail_the_private_streams_rest_work_not_the_engine(
    tmp_path: Path,
) -> None:
    rest = GarblingTransport()
    async with (
        open_simulator(SimConfig(rate=20)) as sim,
        engine_on(sim, tmp_path / "a.db", transport=rest) as engine,
    ):
        account = engine.account
        assert account is not None and engine.gateway is not None
        book = sim.exchange.books["BTC/USD"]
        resting = await engine.gateway.place(
            "BTC/USD", "buy", D("0.001"), book.spec.price((book.best("bids") or 0) - 100)
        )
        answers = {
            "QueryOrders": {resting: {"status": "open"}},  # no descr, no vol
            "TradesHistory": {"trades": {"T1": {"pair": "XXBTZUSD"}}},
        }
        rest.garble(answers, once=False)
        finished = engine.bus.subscribe(RecoveryFinished)
        await account.refresh_stale([resting])  # logged, tried again at the next pass
        await account.recover("test")
        event = finished.receive_nowait()
        assert isinstance(event, RecoveryFinished) and not event.complete
        rest.restore()
        await account.refresh_stale([resting])  # and the engine carries on
        assert engine.started.is_set() and account.machine.recoveries == 1


async def test_an_order_the_exchange_does_not_know_is_reviewed_not_a_failed_run(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    async with (
        open_simulator(SimConfig(rate=20)) as sim,
        engine_on(sim, db, rest_rate_limited=False) as engine,
    ):
        assert engine.account is not None and engine.reconciler is not None
        known = sim.place_order(OrderRequest("BTC/USD", "buy", "limit", D("0.001"), D("1000.0")))
        # An open order the tracker holds that the exchange never heard of (a leftover of an
        # earlier account, say), beside a known one the run must still query.
        await engine.account.placed(
            "OXXXXX-XXXXX-XXXXXX",
            symbol="BTC/USD",
            side="buy",
            order_type="limit",
            qty="0.001",
            limit_price="1000.0",
            cl_ord_id=None,
        )
        sim.flush_private()
        assert await engine.reconciler.run_once("manual")
        await engine.audit.flush()
        [item] = _rows(db, "SELECT kind, subject, status FROM review_queue")
        assert item == {
            "kind": "order_unknown_to_exchange",
            "subject": "OXXXXX-XXXXX-XXXXXX",
            "status": "open",
        }
        order = engine.account.orders.get(known.order_id)
        assert order is not None and order.status is OrderStatus.NEW


@pytest.mark.slow
async def test_every_private_reconnect_is_reconciled_after_an_exchange_freeze(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    db = tmp_path / "a.db"
    async with (
        open_simulator(SimConfig(rate=5)) as sim,
        engine_on(sim, db, silence_timeout=3.0) as engine,
    ):
        reports = engine.bus.subscribe(ReconciliationReport, capacity=100)
        for _ in range(2):  # the first reconnect too, not only later ones
            sim.freeze(20.0)
            with trio.fail_after(120):
                async for report in reports:
                    assert isinstance(report, ReconciliationReport)
                    if report.kind == "reconnect":
                        break
            assert report.status == "clean"
        await engine.audit.flush()
        kinds = [r["type"] for r in _rows(db, "SELECT type FROM reconciliation_events")]
        assert kinds.count("reconnect") >= 2 and "failed" not in kinds


async def test_earn_holdings_are_compared_like_with_like(tmp_path: Path) -> None:
    # The stream's ETH total includes 2.5 in an earn wallet; REST lists it apart as ETH.F.
    # Comparing the total with the spot figure reported two critical mismatches every run.
    db = tmp_path / "a.db"
    async with open_simulator(FAST) as sim, engine_on(sim, db, rest_counter=FAST_TIER) as engine:
        assert engine.account is not None
        assert sim.exchange.account.earn == {"ETH": D("2.5000000000")}
        assert engine.account.portfolio.balances["ETH"] == D("10.0000000000")
        assert engine.account.portfolio.earn["ETH"] == D("2.5000000000")
        assert engine.account.portfolio.position("ETH/USD") == D("10.0000000000")
        await _reconcile(engine)
        [run] = _rows(
            db, "SELECT status, discrepancies FROM reconciliation_events WHERE type='manual'"
        )
        assert run == {"status": "clean", "discrepancies": 0}
        [eth] = _rows(db, "SELECT balance, earn FROM balances WHERE asset = 'ETH'")
        assert eth == {"balance": "10.0000000000", "earn": "2.5000000000"}
