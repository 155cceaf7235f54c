from __future__ import annotations

from decimal import Decimal

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed

from galfriday.core.sequencing import SequenceTracker, Verdict
from galfriday.errors import MalformedFrame
from galfriday.kraken import wire
from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.sim.exchange import OrderRequest
from galfriday.sim.faults import Fault
from galfriday.sim.server import SimConfig, Simulator, open_simulator
from tests.sim.helpers import Client, connect, is_channel, private_call, public_call, token

D = Decimal
QUIET = SimConfig(rate=0.001)


async def _book_client(client: Client, symbol: str = "BTC/USD") -> OrderBook:
    await client.send(method="subscribe", req_id=1, params={"channel": "book", "symbol": [symbol]})
    book = OrderBook(symbol, 10, 1, 8)
    snapshot = await client.channel("book", "snapshot")
    assert book.apply(snapshot.data[0], snapshot=True) is BookCheck.MATCH
    return book


def _churn(sim: Simulator, symbol: str = "BTC/USD", events: int = 200) -> None:
    for _ in range(events):
        sim.publish(sim.exchange.background_event(sim.wall(), symbol))


async def _private_balances(sim: Simulator, client: Client) -> str:
    tok = await token(sim)
    await client.send(method="subscribe", req_id=1, params={"channel": "balances", "token": tok})
    await client.channel("balances", "snapshot")
    return tok


async def _make_ledger_updates(sim: Simulator, count: int) -> None:
    for _ in range(count):
        sim.exchange.account.move_funds("USD", D(1), "deposit", sim.wall(), announce=True)
    sim.flush_private()


@pytest.mark.parametrize(("code", "expected"), [(None, 1006), (1011, 1011), (1001, 1001)])
async def test_connection_drops_abruptly_or_with_a_close_code(
    code: int | None, expected: int
) -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.recv()
        assert await sim.drop_connections("public", code) == 1
        with pytest.raises(ConnectionClosed) as info:
            await client.recv()
        assert info.value.reason.code == expected
        assert sim.faults.injected()[0].fault in (Fault.DROP_CONNECTION, Fault.CLOSE_CONNECTION)


async def test_stall_keeps_the_socket_open_but_silent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.send(method="subscribe", req_id=1, params={"channel": "instrument"})
        await client.channel("instrument")
        await client.until(is_channel("heartbeat"))
        sim.stall("public", 30)
        start = trio.current_time()
        await client.until(is_channel("heartbeat"), seconds=60)
        assert trio.current_time() - start >= 30


async def test_duplicated_private_frames_repeat_a_sequence_number() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        await _private_balances(sim, client)
        sim.frame_fault(Fault.DUPLICATE_FRAMES, "private", 1)
        await _make_ledger_updates(sim, 2)
        tracker = SequenceTracker()
        tracker.observe(1)
        verdicts = [
            tracker.observe((await client.channel("balances")).sequence).verdict for _ in range(3)
        ]
        assert verdicts == [Verdict.IN_ORDER, Verdict.DUPLICATE, Verdict.IN_ORDER]


async def test_dropped_private_frames_leave_a_sequence_gap() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        await _private_balances(sim, client)
        sim.frame_fault(Fault.DROP_FRAMES, "private", 2)
        await _make_ledger_updates(sim, 3)
        tracker = SequenceTracker()
        tracker.observe(1)
        result = tracker.observe((await client.channel("balances")).sequence)
        assert result.verdict is Verdict.GAP and result.missing == (2, 3)


async def test_reordered_frames_arrive_swapped() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        await _private_balances(sim, client)
        sim.frame_fault(Fault.REORDER_FRAMES, "private", 1)
        await _make_ledger_updates(sim, 2)
        sequences = [(await client.channel("balances")).sequence for _ in range(2)]
        assert sequences == [3, 2]


async def test_corrupted_checksum_is_caught_by_the_book() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        book = await _book_client(client)
        sim.frame_fault(Fault.CORRUPT_CHECKSUM, "public", 1)
        _churn(sim)
        results = []
        for _ in range(5):
            update = await client.channel("book", "update")
            results.append(book.apply(update.data[0], snapshot=False))
        assert results[0] is BookCheck.MISMATCH
        assert len(sim.faults.injected(Fault.CORRUPT_CHECKSUM)) == 1


async def test_malformed_and_unknown_frames() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.recv()
        sim.send_garbage("public")
        with pytest.raises(MalformedFrame):
            await client.recv()
        sim.send_garbage("public", unknown=True)
        assert isinstance(await client.recv(), wire.UnknownFrame)


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        (Fault.REST_UNAVAILABLE, lambda r: r == {"error": ["EService:Unavailable"]}),
        (Fault.REST_RATE_LIMIT, lambda r: r == {"error": ["EAPI:Rate limit exceeded"]}),
    ],
)
async def test_rest_error_faults(fault: Fault, check: object) -> None:
    async with open_simulator(QUIET) as sim:
        sim.rest_fault(fault, count=1)
        assert check(await private_call(sim, "Balance"))  # type: ignore[operator]
        assert (await private_call(sim, "Balance"))["error"] == []


async def test_rest_5xx_fault() -> None:
    import httpx

    async with open_simulator(QUIET) as sim:
        assert sim.urls is not None
        sim.rest_fault(Fault.REST_5XX, count=2)
        async with httpx.AsyncClient(base_url=sim.urls.rest) as http:
            assert (await http.get("/0/public/Time")).status_code == 502
            assert (await http.get("/0/public/Time")).status_code == 502
            assert (await http.get("/0/public/Time")).status_code == 200


async def test_slow_rest_answers_late_or_times_the_client_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    import httpx

    async with open_simulator(QUIET) as sim:
        assert sim.urls is not None
        sim.rest_fault(Fault.REST_SLOW, count=2, seconds=12)
        async with httpx.AsyncClient(base_url=sim.urls.rest, timeout=5) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/0/public/Time")
        async with httpx.AsyncClient(base_url=sim.urls.rest, timeout=30) as http:
            start = trio.current_time()
            assert (await http.get("/0/public/Time")).json()["error"] == []
            assert trio.current_time() - start >= 12


async def test_invalidated_token_stops_working_and_a_new_one_does() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        old = await token(sim)
        sim.invalidate_tokens()
        await client.send(
            method="subscribe", req_id=1, params={"channel": "executions", "token": old}
        )
        assert (await client.response("subscribe", 1)).error == "EAPI:Invalid token"
        await client.send(
            method="subscribe",
            req_id=2,
            params={"channel": "executions", "token": await token(sim)},
        )
        assert (await client.response("subscribe", 2)).ok


async def test_system_status_is_pushed_and_enforced() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.recv()
        sim.set_system_status("maintenance")
        status = await client.channel("status")
        assert status.data[0].system == "maintenance"
        assert (await public_call(sim, "SystemStatus"))["result"]["status"] == "maintenance"
        refused = await private_call(
            sim,
            "AddOrder",
            pair="XBTUSD",
            type="buy",
            ordertype="limit",
            volume="0.001",
            price="1000.0",
        )
        assert refused["error"] == ["EService:Market in maintenance mode"]


async def test_drift_changes_the_account_without_a_private_message() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await _private_balances(sim, client)
        await client.send(
            method="subscribe", req_id=2, params={"channel": "executions", "token": tok}
        )
        await client.channel("executions", "snapshot")
        sim.drift_funds("USD", D("250"))
        sim.drift_funds("BTC", D("-0.1"))
        book = sim.exchange.books["BTC/USD"]
        price = book.spec.price((book.best("bids") or 0) - 100)
        foreign = sim.drift_order("BTC/USD", "buy", D("0.001"), price)
        truth = sim.ground_truth()
        assert truth.balances["USD"] == D("100250.0000") and truth.balances["BTC"] == D("0.9")
        assert foreign.order_id in truth.open_orders
        balance = (await private_call(sim, "Balance"))["result"]
        assert balance["ZUSD"] == "100250.0000"
        await client.send(method="ping", req_id=9)
        await client.response("pong", 9)
        assert not [
            m
            for m in client.backlog
            if isinstance(m, wire.BalancesMessage | wire.ExecutionsMessage)
        ]
        kinds = [r.fault for r in sim.faults.records]
        assert kinds == [Fault.DRIFT_DEPOSIT, Fault.DRIFT_WITHDRAWAL, Fault.DRIFT_ORDER]
        assert all(r.at > 1.7e9 for r in sim.faults.records)


@pytest.mark.slow
async def test_random_schedule_injects_many_kinds_and_keeps_serving(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = SimConfig(rate=20, chaos_per_minute=60, chaos_seed=3)
    async with open_simulator(config) as sim:
        await trio.sleep(600)
        kinds = {r.fault for r in sim.faults.records}
        assert len(sim.faults.records) > 100 and len(kinds) >= 12
        async with connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
            await client.send(method="ping", req_id=1)
            assert (await client.response("pong", 1)).ok


async def test_ground_truth_reports_orders_fills_and_ledger() -> None:
    async with open_simulator(QUIET) as sim:
        order = sim.place_order(OrderRequest("BTC/USD", "buy", "market", D("0.001")))
        truth = sim.ground_truth()
        assert truth.order_status[order.order_id] == "filled"
        assert truth.filled_qty[order.order_id] == D("0.001")
        assert truth.fills and len(truth.ledger) == 2 * len(truth.fills)
