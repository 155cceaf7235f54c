from __future__ import annotations

from decimal import Decimal

import pytest
import trio
import trio.testing

from galfriday.kraken import wire
from galfriday.sim.exchange import OrderRequest
from galfriday.sim.server import SimConfig, Simulator, open_simulator
from tests.sim.helpers import Client, connect, token

D = Decimal
QUIET = SimConfig(rate=0.001)


async def _subscribe(client: Client, channel: str, tok: str, **extra: object) -> wire.Response:
    await client.send(
        method="subscribe", req_id=1, params={"channel": channel, "token": tok, **extra}
    )
    return await client.response("subscribe", 1)


async def _limit_buy(
    client: Client, tok: str, req_id: int, price: Decimal, **extra: object
) -> wire.Response:
    """Send a 0.001 BTC limit buy at ``price`` and wait for its reply."""
    params = {
        "order_type": "limit",
        "side": "buy",
        "order_qty": 0.001,
        "limit_price": float(price),
        "symbol": "BTC/USD",
        "token": tok,
        **extra,
    }
    await client.send(method="add_order", req_id=req_id, params=params)
    return await client.response("add_order", req_id)


def _best(sim: Simulator, side: str, symbol: str = "BTC/USD") -> Decimal:
    book = sim.exchange.books[symbol]
    price = book.best(side)
    assert price is not None
    return book.spec.price(price)


async def test_private_channels_need_a_valid_token() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        ack = await _subscribe(client, "executions", "not-a-token")
        assert not ack.ok and ack.error == "EAPI:Invalid token"


async def test_unused_token_expires_after_15_minutes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(QUIET) as sim:
        tok = await token(sim)
        await trio.sleep(901)
        async with connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
            ack = await _subscribe(client, "balances", tok)
            assert ack.error == "EAPI:Invalid token"


@pytest.mark.slow
async def test_used_token_keeps_working_past_15_minutes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await token(sim)
        assert (await _subscribe(client, "balances", tok)).ok
        await trio.sleep(1000)
        await client.send(method="cancel_all", req_id=5, params={"token": tok})
        assert (await client.response("cancel_all", 5)).ok


async def test_a_token_is_refused_once_no_subscription_uses_it() -> None:
    # Kraken guarantees a token only while a private subscription made with it is maintained.
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await token(sim)
        assert (await _subscribe(client, "balances", tok)).ok
        await client.send(
            method="unsubscribe", req_id=2, params={"channel": "balances", "token": tok}
        )
        assert (await client.response("unsubscribe", 2)).ok
        again = await _subscribe(client, "balances", tok)
        assert not again.ok and again.error == "EAPI:Invalid token"


async def test_a_token_stays_valid_while_another_subscription_uses_it() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await token(sim)
        assert (await _subscribe(client, "balances", tok)).ok
        assert (await _subscribe(client, "executions", tok)).ok
        await client.send(
            method="unsubscribe", req_id=2, params={"channel": "balances", "token": tok}
        )
        assert (await client.response("unsubscribe", 2)).ok
        await client.send(method="cancel_all", req_id=5, params={"token": tok})
        assert (await client.response("cancel_all", 5)).ok


async def test_executions_snapshot_then_order_life_with_sequences() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await token(sim)
        ack = await _subscribe(client, "executions", tok)
        assert ack.ok and ack.result is not None and ack.result.maxratecount == 125
        snapshot = await client.channel("executions", "snapshot")
        assert snapshot.sequence == 1 and snapshot.data == []
        price = _best(sim, "bids") - D("100")
        await client.send(
            method="add_order",
            req_id=42,
            params={
                "order_type": "limit",
                "side": "buy",
                "order_qty": 0.01,
                "limit_price": float(price),
                "symbol": "BTC/USD",
                "order_userref": 7,
                "token": tok,
            },
        )
        reply = await client.response("add_order", 42)
        assert reply.ok and reply.result is not None and reply.result.order_userref == 7
        order_id = reply.result.order_id
        first = await client.channel("executions", "update")
        second = await client.channel("executions", "update")
        assert [first.sequence, second.sequence] == [2, 3]
        assert (first.data[0].exec_type, first.data[0].order_id) == ("pending_new", order_id)
        assert first.data[0].limit_price == price and first.data[0].symbol == "BTC/USD"
        assert second.data[0].exec_type == "new" and second.data[0].symbol is None  # sparse
        await client.send(
            method="cancel_order", req_id=43, params={"order_id": [order_id], "token": tok}
        )
        cancel = await client.response("cancel_order", 43)
        assert cancel.ok and cancel.result is not None and cancel.result.order_id == order_id
        canceled = await client.channel("executions", "update")
        assert canceled.sequence == 4 and canceled.data[0].exec_type == "canceled"


async def test_open_orders_appear_in_a_new_snapshot() -> None:
    async with open_simulator(QUIET) as sim:
        price = _best(sim, "asks") + D("500")
        order = sim.place_order(OrderRequest("BTC/USD", "sell", "limit", D("0.01"), price))
        async with connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
            await _subscribe(client, "executions", await token(sim))
            snapshot = await client.channel("executions", "snapshot")
            assert [r.order_id for r in snapshot.data] == [order.order_id]
            assert snapshot.data[0].order_qty == D("0.01") and snapshot.data[0].limit_price == price


async def _subscribe_account(sim: Simulator, client: Client) -> tuple[str, wire.BalancesMessage]:
    """Subscribe ``client`` to executions, then balances; the token and balances' snapshot."""
    tok = await token(sim)
    await _subscribe(client, "executions", tok)
    await client.channel("executions", "snapshot")
    await client.send(method="subscribe", req_id=2, params={"channel": "balances", "token": tok})
    snapshot = await client.channel("balances", "snapshot")
    assert isinstance(snapshot, wire.BalancesMessage)
    return tok, snapshot


async def test_taker_fill_reports_trade_then_filled_and_moves_balances() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok, balances = await _subscribe_account(sim, client)
        assert {e.asset: e.balance for e in balances.data}["USD"] == D("100000.0000")
        await client.send(
            method="add_order",
            req_id=3,
            params={
                "order_type": "market",
                "side": "buy",
                "order_qty": 0.002,
                "symbol": "BTC/USD",
                "token": tok,
            },
        )
        types = []
        while "filled" not in types:
            message = await client.channel("executions", "update")
            report = message.data[0]
            types.append(report.exec_type)
            if report.exec_type == "trade":
                assert report.order_status == "partially_filled"
                assert report.exec_id and report.fees and report.liquidity_ind == "t"
        assert types[:2] == ["pending_new", "new"] and types[-1] == "filled"
        ledger = [
            await client.channel("balances", "update") for _ in range(2 * types.count("trade"))
        ]
        assets = {m.data[0].asset for m in ledger}
        assert assets == {"BTC", "USD"}
        last_usd = [m.data[0] for m in ledger if m.data[0].asset == "USD"][-1]
        assert last_usd.balance == sim.exchange.account.balances["USD"]
        assert last_usd.ledger_type == "trade"


async def test_a_fill_s_reports_reach_the_socket_before_its_balance_updates() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok, _ = await _subscribe_account(sim, client)
        params = {"order_type": "market", "side": "buy", "order_qty": 0.0001}
        await client.send(
            method="add_order", req_id=3, params={**params, "symbol": "BTC/USD", "token": tok}
        )
        kinds: list[str] = []
        while kinds.count("balances") < 2:
            message = await client.recv()
            if isinstance(message, wire.ExecutionsMessage):
                kinds.append(message.data[0].exec_type)
            elif isinstance(message, wire.BalancesMessage):
                kinds.append("balances")
            elif isinstance(message, wire.Response):
                kinds.append(message.method)
        assert kinds == [
            "add_order",
            "pending_new",
            "new",
            "trade",
            "filled",
            "balances",
            "balances",
        ]


async def test_order_errors_use_kraken_strings() -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await token(sim)
        await client.send(
            method="add_order",
            req_id=1,
            params={
                "order_type": "limit",
                "side": "buy",
                "order_qty": 1000,
                "limit_price": 60000.0,
                "symbol": "BTC/USD",
                "token": tok,
            },
        )
        assert (await client.response("add_order", 1)).error == "EOrder:Insufficient funds"
        await client.send(
            method="cancel_order", req_id=2, params={"order_id": ["NOPE"], "token": tok}
        )
        assert (await client.response("cancel_order", 2)).error == "EOrder:Invalid order"
        await client.send(
            method="add_order",
            req_id=3,
            params={
                "order_type": "limit",
                "side": "buy",
                "order_qty": 0.01,
                "limit_price": 60000.0,
                "symbol": "BTC/USD",
                "token": tok,
                "cl_ord_id": "a",
                "order_userref": 1,
            },
        )
        assert not (await client.response("add_order", 3)).ok


async def test_cancel_all_counts_and_dead_man_switch_fires(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await token(sim)
        assert (await _subscribe(client, "executions", tok)).ok  # else idle sockets are closed
        price = _best(sim, "bids") - D("300")
        for i in range(3):
            assert (await _limit_buy(client, tok, 10 + i, price)).ok
        await client.send(
            method="cancel_all_orders_after", req_id=20, params={"timeout": 60, "token": tok}
        )
        armed = await client.response("cancel_all_orders_after", 20)
        assert armed.ok and armed.result is not None and armed.result.trigger_time is not None
        await trio.sleep(59)
        assert len(sim.exchange.account.open_orders()) == 3
        await trio.sleep(2)
        assert sim.exchange.account.open_orders() == []
        assert {o.reason for o in sim.exchange.account.orders.values()} == {
            "cancel_all_orders_after"
        }
        await _limit_buy(client, tok, 30, price)
        await client.send(method="cancel_all", req_id=31, params={"token": tok})
        done = await client.response("cancel_all", 31)
        assert done.result is not None and done.result.count == 1


async def test_rearming_the_switch_postpones_it_and_zero_disarms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await token(sim)
        assert (await _subscribe(client, "executions", tok)).ok
        price = _best(sim, "bids") - D("300")
        await _limit_buy(client, tok, 1, price)
        for i in range(3):
            await client.send(
                method="cancel_all_orders_after", req_id=2 + i, params={"timeout": 30, "token": tok}
            )
            await client.response("cancel_all_orders_after", 2 + i)
            await trio.sleep(20)
        await client.send(
            method="cancel_all_orders_after", req_id=9, params={"timeout": 0, "token": tok}
        )
        await client.response("cancel_all_orders_after", 9)
        await trio.sleep(100)
        assert len(sim.exchange.account.open_orders()) == 1


async def test_gtd_order_expires_at_its_expire_time(autojump_clock: trio.testing.MockClock) -> None:
    from galfriday.sim.frames import rfc3339

    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await token(sim)
        await _subscribe(client, "executions", tok)
        await client.channel("executions", "snapshot")
        price = _best(sim, "bids") - D("300")
        assert (
            await _limit_buy(
                client, tok, 2, price, time_in_force="gtd", expire_time=rfc3339(sim.wall() + 30)
            )
        ).ok
        start = trio.current_time()
        expired = await client.until(
            lambda m: isinstance(m, wire.ExecutionsMessage) and m.data[0].exec_type == "expired",
            seconds=60,
        )
        assert 29 <= trio.current_time() - start <= 31
        assert isinstance(expired, wire.ExecutionsMessage)
        assert expired.data[0].order_status == "expired"


async def test_disarming_the_switch_answers_trigger_time_zero_and_the_engine_decodes_it() -> None:
    # Kraken answers cancel_all_orders_after(0) with "triggerTime":"0" (v1 and futures
    # examples; assumed for v2), which the engine once refused as a malformed frame.
    async with open_simulator(QUIET) as sim, connect(sim.urls.ws_private) as client:  # type: ignore[union-attr]
        tok = await token(sim)
        await client.send(
            method="cancel_all_orders_after", req_id=8, params={"timeout": 0, "token": tok}
        )
        reply = await client.response("cancel_all_orders_after", 8)
        [raw] = [text for text in client.raw if '"req_id":8' in text]
        assert '"triggerTime":"0"' in raw
        assert reply.ok and reply.result is not None
        assert reply.result.trigger_time is None and reply.result.current_time is not None
        assert client.decoder.malformed == 0
