"""End to end: the engine against the simulator and its faults."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from loguru import logger

from galfriday.audit.store import AuditStore
from galfriday.audit.tables import GapRow
from galfriday.errors import OrderOutcomeUnknown, OrderRejected, StorageFailure, TradingHalted
from galfriday.events import (
    Alert,
    ConnectionState,
    ConnectionStateChanged,
    HealthChanged,
    OrderStatus,
    OrderUpdate,
    Severity,
)
from galfriday.kraken.auth import decode_secret
from galfriday.live.engine import Engine, EngineConfig, open_engine
from galfriday.live.marketdata import MarketDataConfig
from galfriday.sim.faults import Fault
from galfriday.sim.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    SimConfig,
    Simulator,
    open_simulator,
)
from tests.transports import GarblingTransport

D = Decimal


@asynccontextmanager
async def engine_on(
    sim: Simulator,
    db: Path,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    **config: object,
) -> AsyncIterator[Engine]:
    """An engine against ``sim``; its REST calls go through ``transport`` when one is given."""
    assert sim.urls is not None
    engine_config = EngineConfig(
        ws_public=sim.urls.ws_public,
        ws_private=sim.urls.ws_private,
        rest=sim.urls.rest,
        database=db,
        api_key=DEFAULT_API_KEY,
        api_secret=decode_secret(DEFAULT_API_SECRET),
        marketdata=MarketDataConfig(symbols=("BTC/USD", "ETH/USD")),
        **config,  # type: ignore[arg-type]
    )
    async with open_engine(engine_config, transport=transport) as engine:
        yield engine


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_engine_starts_with_verified_books_and_account_snapshots(tmp_path: Path) -> None:
    async with (
        open_simulator(SimConfig(rate=200)) as sim,
        engine_on(sim, tmp_path / "a.db") as engine,
    ):
        assert engine.started.is_set()
        assert all(feed.verified for feed in engine.marketdata.books.values())
        assert engine.account is not None
        assert engine.account.portfolio.balances == sim.ground_truth().balances


async def test_orders_placed_through_the_gateway_are_tracked_and_audited(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(SimConfig(rate=200)) as sim, engine_on(sim, db) as engine:
        assert engine.gateway is not None and engine.account is not None
        book = sim.exchange.books["BTC/USD"]
        bid = book.spec.price((book.best("bids") or 0) - 100)
        updates = engine.bus.subscribe(OrderUpdate, capacity=10_000)
        resting = await engine.gateway.place("BTC/USD", "buy", D("0.001"), bid)
        taker = await engine.gateway.place("BTC/USD", "buy", D("0.001"), order_type="market")
        with pytest.raises(OrderRejected):
            await engine.gateway.place("BTC/USD", "buy", D("100"), bid)
        await engine.gateway.cancel(resting)
        final: dict[str, OrderStatus] = {}
        with trio.fail_after(10):
            while not (
                final.get(taker) is OrderStatus.FILLED
                and final.get(resting) is OrderStatus.CANCELED
            ):
                event = await updates.receive()
                assert isinstance(event, OrderUpdate)
                final[event.order.order_id] = event.order.status
        await engine.audit.flush()
        assert _count(db, "orders") == 2 and _count(db, "fills") >= 1
        assert _count(db, "balance_ledger") >= 2 and _count(db, "positions") >= 2
        assert engine.gateway.via_ws == 2 and engine.gateway.via_rest == 0


async def test_a_refused_token_is_renewed_and_the_request_goes_through(tmp_path: Path) -> None:
    async with (
        open_simulator(SimConfig(rate=50)) as sim,
        engine_on(sim, tmp_path / "a.db") as engine,
    ):
        assert engine.gateway is not None and engine.account is not None
        old = engine.account.token
        sim.invalidate_tokens()  # as after a Kraken upgrade: the socket stays, the token dies
        bid = sim.exchange.books["BTC/USD"].spec.price(
            (sim.exchange.books["BTC/USD"].best("bids") or 0) - 100
        )
        order_id = await engine.gateway.place("BTC/USD", "buy", D("0.001"), bid)
        assert order_id in sim.ground_truth().open_orders
        assert engine.gateway.via_ws == 1 and engine.gateway.via_rest == 0
        assert engine.account.token != old
        await engine.gateway.arm_dead_man_switch(60)  # the new token keeps working


async def test_an_unanswered_order_is_looked_for_not_placed_again(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with (
        open_simulator(SimConfig(rate=0.01)) as sim,
        engine_on(sim, tmp_path / "a.db") as engine,
    ):
        assert engine.gateway is not None
        sim.stall("private", 30)  # the WS request is executed, its reply never arrives
        book = sim.exchange.books["BTC/USD"]
        bid = book.spec.price((book.best("bids") or 0) - 100)
        order_id = await engine.gateway.place("BTC/USD", "buy", D("0.001"), bid, cl_ord_id="c1")
        placed = [o for o in sim.exchange.account.orders.values() if o.cl_ord_id == "c1"]
        assert [o.order_id for o in placed] == [order_id]  # the WS one, found, not repeated
        assert len(sim.exchange.account.orders) == 1
        assert engine.gateway.via_rest == 0
        assert engine.account is not None
        known = engine.account.orders.get(order_id)  # followed, though the stream is silent
        assert known is not None and known.cl_ord_id == "c1" and known.order_qty == D("0.001")
        updates = engine.bus.subscribe(OrderUpdate)
        assert sim.cancel_order(order_id)  # closed while nobody listens: found after reconnect
        with trio.fail_after(120):
            async for event in updates:
                assert isinstance(event, OrderUpdate)
                if event.order.order_id == order_id and event.order.status.final:
                    break
        assert event.order.status is OrderStatus.CANCELED


def _rest_methods(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT method FROM rest_calls ORDER BY id")]


async def test_an_order_held_past_the_reply_timeout_is_found_and_placed_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # The exchange holds the add_order (a slow matching engine) past the 8 s reply timeout,
    # then executes it. The gateway must find that order, not place a second one over REST.
    db = tmp_path / "a.db"
    async with open_simulator(SimConfig(rate=0.01)) as sim, engine_on(sim, db) as engine:
        assert engine.gateway is not None
        sim.hold_orders(12.0)
        order_id = await engine.gateway.place(
            "BTC/USD", "buy", D("0.001"), order_type="market", cl_ord_id="held"
        )
        mine = [o for o in sim.exchange.account.orders.values() if o.cl_ord_id == "held"]
        assert [o.order_id for o in mine] == [order_id]
        await engine.audit.flush()
        assert "AddOrder" not in _rest_methods(db)


async def test_an_order_held_past_the_settle_window_is_unknown_never_placed_twice(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(SimConfig(rate=0.01)) as sim, engine_on(sim, db) as engine:
        assert engine.gateway is not None and engine.account is not None
        alerts = engine.bus.subscribe(Alert)
        updates = engine.bus.subscribe(OrderUpdate, capacity=1000)
        sim.hold_orders(60.0)
        with pytest.raises(OrderOutcomeUnknown) as info:
            await engine.gateway.place(
                "BTC/USD", "buy", D("0.001"), order_type="market", cl_ord_id="lost"
            )
        assert info.value.cl_ord_id == "lost"
        alert = alerts.receive_nowait()
        assert isinstance(alert, Alert) and alert.severity is Severity.CRITICAL
        await trio.sleep(60)  # the held order reaches the book after all: once
        mine = [o for o in sim.exchange.account.orders.values() if o.cl_ord_id == "lost"]
        assert len(mine) == 1
        with trio.fail_after(30):  # and the stream reports it
            async for update in updates:
                assert isinstance(update, OrderUpdate)
                if update.order.cl_ord_id == "lost":
                    break
        await engine.audit.flush()
        assert "AddOrder" not in _rest_methods(db)
        with sqlite3.connect(db) as conn:
            review = conn.execute("SELECT kind, subject, status FROM review_queue").fetchall()
            anomalies = conn.execute("SELECT kind FROM order_anomalies").fetchall()
        assert review == [("order_outcome_unknown", "lost", "open")]
        assert ("order_outcome_unknown",) in anomalies


async def test_cancelling_an_order_twice_is_not_an_error(tmp_path: Path) -> None:
    async with (
        open_simulator(SimConfig(rate=0.01)) as sim,
        engine_on(sim, tmp_path / "a.db") as engine,
    ):
        assert engine.gateway is not None and engine.account is not None
        book = sim.exchange.books["BTC/USD"]
        bid = book.spec.price((book.best("bids") or 0) - 100)
        order_id = await engine.gateway.place("BTC/USD", "buy", D("0.001"), bid)
        await engine.gateway.cancel(order_id)
        await engine.gateway.cancel(order_id)  # already cancelled: success, not a refusal
        with pytest.raises(OrderRejected):
            await engine.gateway.cancel("ONEVER-EXIST-EDXXXX")


@pytest.mark.slow
async def test_dead_man_switch_is_armed_while_healthy_and_left_to_fire_when_not(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with (
        open_simulator(SimConfig(rate=20)) as sim,
        engine_on(sim, tmp_path / "a.db", dead_man_timeout=60, dead_man_refresh=20) as engine,
    ):
        assert engine.gateway is not None
        book = sim.exchange.books["BTC/USD"]
        bid = book.spec.price((book.best("bids") or 0) - 100)
        await engine.gateway.place("BTC/USD", "buy", D("0.001"), bid)
        await trio.sleep(200)  # refreshed every 20 s: the 60 s switch never fires
        assert engine.healthy() and len(sim.exchange.account.open_orders()) == 1

        async def keep_market_dark() -> None:
            while True:  # every public connection, old or new, goes silent
                sim.stall("public", 3600)
                await trio.sleep(0.5)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_market_dark)
            await trio.sleep(200)
            assert not engine.healthy()  # it stopped refreshing, and Kraken cancelled for it
            assert sim.exchange.account.open_orders() == []
            nursery.cancel_scope.cancel()
        reasons = {o.reason for o in sim.exchange.account.orders.values()}
        assert reasons == {"cancel_all_orders_after"}


async def test_a_public_stall_turns_unhealthy_and_recovers(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with (
        open_simulator(SimConfig(rate=20)) as sim,
        engine_on(sim, tmp_path / "a.db", silence_timeout=60.0) as engine,
    ):
        changes = engine.bus.subscribe(HealthChanged)
        sim.stall("public", 3600)
        with trio.fail_after(120):
            while True:
                event = await changes.receive()
                assert isinstance(event, HealthChanged)
                if event.connection == "public" and event.new == "unhealthy":
                    break
        assert engine.public.metrics.reconnects >= 0
        with trio.fail_after(120):
            while True:
                event = await changes.receive()
                assert isinstance(event, HealthChanged)
                if event.connection == "public" and event.new == "healthy":
                    break
        assert engine.public.metrics.reconnects >= 1


async def test_shutdown_flushes_the_audit_trail(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with open_simulator(SimConfig(rate=200)) as sim:
        async with engine_on(sim, db) as engine:
            queued = engine.audit.queued
        assert engine.audit.written + engine.audit.failed >= queued
        assert _count(db, "connection_events") >= 4
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_market_data_only_needs_no_keys(tmp_path: Path) -> None:
    async with open_simulator(SimConfig(rate=200)) as sim:
        assert sim.urls is not None
        config = EngineConfig(
            ws_public=sim.urls.ws_public,
            ws_private=sim.urls.ws_private,
            rest=sim.urls.rest,
            database=tmp_path / "a.db",
            marketdata=MarketDataConfig(symbols=("ETH/USD",)),
        )
        async with open_engine(config) as engine:
            assert engine.private is None and engine.gateway is None
            assert engine.marketdata.books["ETH/USD"].verified
    _ = Fault  # the fault catalogue stays importable here for future end-to-end cases


async def test_an_oversized_frame_is_refused_and_the_connection_comes_back(
    tmp_path: Path,
) -> None:
    from galfriday.live.connection import MAX_FRAME

    db = tmp_path / "a.db"
    async with open_simulator(SimConfig(rate=50)) as sim, engine_on(sim, db) as engine:
        states = engine.bus.subscribe(ConnectionStateChanged)
        with trio.fail_after(10):  # the engine starts on its first snapshots: subscribed soon
            while engine.public.state is not ConnectionState.SUBSCRIBED:
                await states.receive()
        [session] = sim.sessions["public"]
        huge = b'{"channel":"book","type":"update","data":[{"symbol":"' + b"X" * MAX_FRAME + b'"}]}'
        session.push(huge, data=False)
        reasons = []
        with trio.fail_after(20):
            async for event in states:
                assert isinstance(event, ConnectionStateChanged)
                if event.connection == "public":
                    reasons.append(event.reason)
                    if event.new is ConnectionState.SUBSCRIBED:
                        break
        assert any("1009" in r or "MESSAGE_TOO_BIG" in r for r in reasons), reasons
        await engine.audit.flush()
        assert _count(db, "decode_errors") == 0  # refused by the socket, not decoded


@pytest.mark.slow
async def test_an_unreadable_token_answer_is_a_lost_connection_not_a_crash(tmp_path: Path) -> None:
    rest = GarblingTransport()
    async with (
        open_simulator(SimConfig(rate=20)) as sim,
        engine_on(sim, tmp_path / "a.db", transport=rest) as engine,
    ):
        # Kraken changed a field name, for one answer:
        garbled = rest.garble({"GetWebSocketsToken": {"tokn": "?"}}, once=True)
        states = engine.bus.subscribe(ConnectionStateChanged, capacity=1000)
        await sim.drop_connections("private")
        with trio.fail_after(30):
            async for event in states:
                assert isinstance(event, ConnectionStateChanged)
                if event.connection == "private" and event.new is ConnectionState.SUBSCRIBED:
                    break
        assert garbled and engine.private is not None
        assert engine.private.metrics.errors >= 1  # counted as a lost connection, then back


async def test_a_full_disk_under_the_audit_trail_halts_orders_then_stops_the_engine(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # On a full disk batches were dropped and the engine traded on unrecorded, exiting 0.
    db = tmp_path / "a.db"
    stopped: list[StorageFailure] = []
    async with open_simulator(SimConfig(rate=5)) as sim:
        try:
            async with engine_on(sim, db, audit_give_up=30.0) as engine:
                assert engine.gateway is not None
                alerts = engine.bus.subscribe(Alert)

                def fill_the_disk(store: AuditStore) -> None:
                    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
                    store.db.execute(f"PRAGMA max_page_count = {pages}")

                await engine.audit.read(fill_the_disk)
                for n in range(200):  # rows keep coming; none fits
                    engine.write(
                        GapRow(at_wall=0.0, stream="x" * 2000, first_missing=n, last_missing=n)
                    )
                with trio.fail_after(10):
                    while True:
                        alert = await alerts.receive()
                        assert isinstance(alert, Alert)
                        if alert.source == "audit":
                            break
                assert alert.severity is Severity.CRITICAL
                assert not engine.healthy()  # the dead-man switch is left to run out
                with pytest.raises(TradingHalted):
                    await engine.gateway.place("BTC/USD", "buy", D("0.001"), order_type="market")
                assert sim.exchange.account.orders == {}
                await trio.sleep(120)  # the engine gives up after 30 s of it
                raise AssertionError("the engine kept running on an unwritable audit trail")
        except* StorageFailure as group:
            stopped.extend(e for e in group.exceptions if isinstance(e, StorageFailure))
    assert stopped and "could not be written for 30s" in str(stopped[0])


async def test_names_come_from_assets_and_the_dead_man_switch_disarms(tmp_path: Path) -> None:
    async with (
        open_simulator(SimConfig(rate=5)) as sim,
        engine_on(sim, tmp_path / "a.db") as engine,
    ):
        assert engine.gateway is not None
        assert engine.symbols.ws_asset("KFEE") == "FEE"  # from Assets, not a fixed table
        assert engine.symbols.ws_asset("XXBT") == "BTC"
        await engine.gateway.arm_dead_man_switch(60)
        await engine.gateway.arm_dead_man_switch(0)  # answered with triggerTime "0"


async def test_an_unanswered_orders_search_outlives_a_caller_that_stops(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # A strategy stopping while its order is in limbo must not leave that order unaccounted:
    # the search goes on without it, and its verdict is recorded.
    db = tmp_path / "a.db"
    async with open_simulator(SimConfig(rate=0.01)) as sim, engine_on(sim, db) as engine:
        assert engine.gateway is not None
        sim.hold_orders(60.0)
        with trio.move_on_after(9.0):  # past the reply timeout, then the caller is gone
            await engine.gateway.place(
                "BTC/USD", "buy", D("0.001"), order_type="market", cl_ord_id="orphan"
            )
        await trio.sleep(30)
        await engine.audit.flush()
        with sqlite3.connect(db) as conn:
            review = conn.execute("SELECT kind, subject FROM review_queue").fetchall()
        assert review == [("order_outcome_unknown", "orphan")]


async def test_a_start_up_that_times_out_says_what_it_still_waits_for(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # Every token answer is unreadable: the private stream never gets its snapshots.
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(m.record["message"]), level="WARNING")
    logger.enable("galfriday")
    rest = GarblingTransport()
    rest.garble({"GetWebSocketsToken": {"expires": 900}}, once=False)
    try:
        async with (
            open_simulator(SimConfig(rate=20)) as sim,
            engine_on(sim, tmp_path / "a.db", transport=rest) as engine,
        ):
            assert engine.started.is_set() and engine.account is not None
            assert not engine.account.snapshots.is_set()
    finally:
        logger.remove(sink)
    [said] = [w for w in warnings if w.startswith("start-up:")]
    assert "the account's snapshots" in said and "book" not in said
