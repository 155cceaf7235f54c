from __future__ import annotations

import time
from decimal import Decimal

import pytest
import trio
import trio.testing

from galfriday.errors import ConnectionBroken, LocalError, OrderRejected, ServiceUnavailable
from galfriday.kraken.auth import decode_secret, load_nonce_floor
from galfriday.kraken.ratelimit import TIERS, CallCounter
from galfriday.kraken.rest import KrakenRest, RestCall, RestConfig
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


async def test_private_call_without_credentials_is_a_local_error() -> None:
    async with KrakenRest(RestConfig(base_url="http://127.0.0.1:9")) as rest:
        with pytest.raises(LocalError):
            await rest.private("Balance")


async def test_nonce_floor_is_persisted_before_each_private_call(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "nonce"
    async with open_simulator(QUIET) as sim, _client(sim, nonce_path=path) as rest:
        await rest.private("Balance")
        first = load_nonce_floor(path)
        await rest.private("Balance")
        assert load_nonce_floor(path) > first > 0


async def test_a_restart_continues_above_the_persisted_nonce(tmp_path: object) -> None:
    from pathlib import Path

    from galfriday.kraken.auth import save_nonce_floor

    path = Path(str(tmp_path)) / "nonce"
    ahead = (time.time_ns() // 1000) + 3_600_000_000  # used by a run whose clock was ahead
    save_nonce_floor(path, ahead)
    async with open_simulator(QUIET) as sim, _client(sim, nonce_path=path) as rest:
        await rest.private("Balance")  # the simulator refuses a nonce that goes backwards
        assert load_nonce_floor(path) == ahead + 1


def test_counter_decays_and_weights_expensive_calls() -> None:
    counter = CallCounter(TIERS["intermediate"], margin=0)
    for _ in range(20):
        counter.spend("Balance", 0.0)
    assert counter.wait_for("Balance", 0.0) == pytest.approx(2.0)
    assert counter.wait_for("Ledgers", 0.0) == pytest.approx(4.0)
    assert counter.wait_for("AddOrder", 0.0) == 0.0
    assert counter.wait_for("Balance", 2.0) == pytest.approx(0.0)
