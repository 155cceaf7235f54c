from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from galfriday.errors import ConnectionBroken, LocalError, OrderRejected, ServiceUnavailable
from galfriday.kraken.auth import KeyState, decode_secret, load_key_state, save_key_state
from galfriday.kraken.ratelimit import TIERS, CallCounter, Priority
from galfriday.kraken.rest import KrakenRest, RestCall, RestConfig, rest_priority
from galfriday.sim.faults import Fault
from galfriday.sim.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    SimConfig,
    Simulator,
    open_simulator,
)

QUIET = SimConfig(rate=0.001)


def _client(sim: Simulator, calls: list[RestCall] | None = None, **config: object) -> KrakenRest:
    assert sim.urls is not None
    rest = RestConfig(
        base_url=sim.urls.rest,
        api_key=DEFAULT_API_KEY,
        secret=decode_secret(DEFAULT_API_SECRET),
        retry_base=0.1,
        **config,  # type: ignore[arg-type]
    )
    return KrakenRest(rest, on_call=None if calls is None else calls.append)


async def test_signed_calls_and_typed_helpers() -> None:
    async with open_simulator(QUIET) as sim, _client(sim) as rest:
        balances = await rest.balance()
        assert balances["ZUSD"] == Decimal("100000.0000")
        assert len(await rest.websocket_token()) > 20
        pairs = await rest.public("AssetPairs", pair="XBTUSD")
        assert pairs["XXBTZUSD"]["lot_decimals"] == 8


async def test_concurrent_private_calls_all_pass_the_nonce_check() -> None:
    async with open_simulator(QUIET) as sim, _client(sim) as rest:
        results: list[object] = []

        async def one() -> None:
            results.append(await rest.private("OpenOrders"))

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(one)
        assert len(results) == 10


async def test_kraken_errors_become_typed_exceptions_and_are_audited() -> None:
    calls: list[RestCall] = []
    async with open_simulator(QUIET) as sim, _client(sim, calls) as rest:
        with pytest.raises(OrderRejected) as info:
            await rest.private(
                "AddOrder",
                pair="XBTUSD",
                type="buy",
                ordertype="limit",
                volume="100",
                price="60000.0",
            )
        assert info.value.code == "EOrder:Insufficient funds"
        assert calls[-1].method == "AddOrder" and calls[-1].outcome == "EOrder:Insufficient funds"
        assert DEFAULT_API_SECRET not in repr(calls) and DEFAULT_API_KEY not in repr(calls)


async def test_safe_calls_are_retried_through_server_errors() -> None:
    calls: list[RestCall] = []
    async with open_simulator(QUIET) as sim, _client(sim, calls) as rest:
        sim.rest_fault(Fault.REST_5XX, count=1)
        sim.rest_fault(Fault.REST_UNAVAILABLE, count=1)
        assert "ZUSD" in await rest.private("Balance")
        assert [c.outcome for c in calls] == ["EService:HTTP 502", "EService:Unavailable", "ok"]


async def test_add_order_is_never_retried_blindly() -> None:
    calls: list[RestCall] = []
    async with open_simulator(QUIET) as sim, _client(sim, calls) as rest:
        sim.rest_fault(Fault.REST_5XX, count=1)
        with pytest.raises(ServiceUnavailable):
            await rest.private(
                "AddOrder",
                pair="XBTUSD",
                type="buy",
                ordertype="limit",
                volume="0.001",
                price="1000.0",
            )
        assert len(calls) == 1 and sim.exchange.account.orders == {}


async def test_timeouts_surface_as_broken_after_the_retries(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(QUIET) as sim, _client(sim, timeout=2.0, retries=1) as rest:
        sim.rest_fault(Fault.REST_SLOW, count=2, seconds=10)
        with pytest.raises(ConnectionBroken):
            await rest.public("Time")


async def test_local_counter_keeps_bursts_under_krakens_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[RestCall] = []
    async with open_simulator(QUIET) as sim, _client(sim, calls) as rest:
        for _ in range(40):
            await rest.private("Balance")
        assert all(c.outcome == "ok" for c in calls)
        assert sum(c.waited for c in calls) > 30  # it paced itself instead of being refused


async def test_the_call_counter_is_kept_with_the_nonce(tmp_path: Path) -> None:
    path = tmp_path / "nonce"
    async with open_simulator(QUIET) as sim, _client(sim, nonce_path=path) as rest:
        await rest.private("Balance")
        first = load_key_state(path)
        assert first.counter == pytest.approx(1.0, abs=0.01)  # this call included
        await rest.private("Ledgers")
        second = load_key_state(path)
        assert second.nonce > first.nonce
        assert 2.0 < second.counter <= 3.0  # ledger queries count 2; a little decay between


async def test_a_restart_carries_the_call_counter_over(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # Kraken's counter for the key does not restart with us: a crash loop that forgot it
    # would be refused (and the key restricted) a few restarts in.
    path = tmp_path / "nonce"
    save_key_state(path, KeyState(nonce=time.time_ns() // 1000, counter=20.0))  # full, just now
    calls: list[RestCall] = []
    async with open_simulator(QUIET) as sim, _client(sim, calls, nonce_path=path) as rest:
        sim.rest.set_counter(20.0)  # the exchange's side of the same story
        await rest.private("Balance")
    [call] = calls
    assert call.outcome == "ok"
    # A background call fills the counter to 20 - 2 (margin) - 3 (headroom for orders and the
    # token) = 15: it waits (20 + 1 - 15) / 0.5 = 12 s, less what decayed in the real time the
    # state was saved before (a busy machine takes a second or two to start the simulator).
    # A client that forgot the counter would not wait at all.
    assert 8.0 < call.waited <= 12.0


async def test_concurrent_callers_share_the_counter_and_are_never_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Thirty callers at once queue behind each other instead of all seeing an empty counter.
    calls: list[RestCall] = []
    async with (
        open_simulator(QUIET) as sim,
        _client(sim, calls) as rest,
        trio.open_nursery() as nursery,
    ):
        for _ in range(30):
            nursery.start_soon(rest.private, "Balance")
    assert [c.outcome for c in calls] == ["ok"] * 30
    assert max(c.waited for c in calls) > 20  # the last waited for (30 - 15) / 0.5 s of decay


async def test_private_call_without_credentials_is_a_local_error() -> None:
    async with KrakenRest(RestConfig(base_url="http://127.0.0.1:9")) as rest:
        with pytest.raises(LocalError):
            await rest.private("Balance")


async def test_nonce_floor_is_persisted_before_each_private_call(tmp_path: Path) -> None:
    path = tmp_path / "nonce"
    async with open_simulator(QUIET) as sim, _client(sim, nonce_path=path) as rest:
        await rest.private("Balance")
        first = load_key_state(path).nonce
        await rest.private("Balance")
        assert load_key_state(path).nonce > first > 0


async def test_a_restart_continues_above_the_persisted_nonce(tmp_path: Path) -> None:
    path = tmp_path / "nonce"
    ahead = (time.time_ns() // 1000) + 3_600_000_000  # used by a run whose clock was ahead
    save_key_state(path, KeyState(nonce=ahead, counter=0.0))
    async with open_simulator(QUIET) as sim, _client(sim, nonce_path=path) as rest:
        await rest.private("Balance")  # the simulator refuses a nonce that goes backwards
        assert load_key_state(path).nonce == ahead + 1


def test_counter_decays_and_weights_expensive_calls() -> None:
    counter = CallCounter(TIERS["intermediate"], margin=0)
    for _ in range(20):
        counter.spend("Balance", 0.0)
    assert counter.wait_for("Balance", 0.0) == pytest.approx(2.0)
    assert counter.wait_for("Ledgers", 0.0) == pytest.approx(4.0)
    assert counter.wait_for("AddOrder", 0.0) == 0.0
    assert counter.wait_for("Balance", 2.0) == pytest.approx(0.0)


def test_a_counter_carried_over_has_decayed_for_the_time_in_between() -> None:
    counter = CallCounter(TIERS["intermediate"])
    counter.carry_over(18.0, seconds_ago=4.0, now=100.0)
    assert counter.value(100.0) == pytest.approx(16.0)
    counter.carry_over(18.0, seconds_ago=-60.0, now=100.0)  # our clock went back: no decay
    assert counter.value(100.0) == pytest.approx(18.0)
    counter.carry_over(18.0, seconds_ago=3600.0, now=100.0)
    assert counter.value(100.0) == 0.0


async def test_the_token_is_not_queued_behind_background_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The soak's private stream never came back: its token call waited 4 to 10 s behind
    # reconciliation calls and was cancelled with each connection attempt.
    calls: list[RestCall] = []
    async with (
        open_simulator(QUIET) as sim,
        _client(sim, calls) as rest,
        trio.open_nursery() as nursery,
    ):
        for _ in range(12):
            nursery.start_soon(rest.private, "TradesHistory")
        await trio.sleep(1.0)  # the counter is at its background ceiling, calls are waiting
        await rest.websocket_token()
        [token] = [c for c in calls if c.method == "GetWebSocketsToken"]
        assert token.waited < 0.1
        assert sum(1 for c in calls if c.method == "TradesHistory") < 12


async def test_a_block_can_raise_its_calls_priority(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[RestCall] = []
    async with (
        open_simulator(QUIET) as sim,
        _client(sim, calls) as rest,
        trio.open_nursery() as nursery,
    ):
        for _ in range(12):
            nursery.start_soon(rest.private, "TradesHistory")
        await trio.sleep(1.0)
        with rest_priority(Priority.BACKFILL):
            await rest.private("Ledgers")
        [ledgers] = [c for c in calls if c.method == "Ledgers"]
        assert ledgers.waited < 4.0  # backfill, not behind the background queue
        assert sum(1 for c in calls if c.method == "TradesHistory") < 12


async def test_decimals_in_exponent_form_reach_the_simulator_in_fixed_point() -> None:
    # The simulator refuses 6.49E+4 as Kraken would: this fails if REST numbers regress to
    # str(Decimal).
    async with open_simulator(QUIET) as sim, _client(sim) as rest:
        book = sim.exchange.books["BTC/USD"]
        price = book.spec.price((book.best("bids") or 0) - 1000).quantize(Decimal("1E2"))
        assert "E" in str(price)
        result = await rest.private(
            "AddOrder", pair="XBTUSD", type="buy", ordertype="limit",
            volume=Decimal("0.0100"), price=price,
        )  # fmt: skip
        [order_id] = result["txid"]
        assert sim.exchange.account.orders[order_id].limit_price == price
