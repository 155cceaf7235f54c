from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import trio
import trio.testing

from galfriday.sim.exchange import OrderRequest
from galfriday.sim.server import SimConfig, Simulator, open_simulator
from tests.sim.helpers import private_call, public_call

D = Decimal
QUIET = SimConfig(rate=0.001)


def _best(sim: Simulator, side: str, symbol: str = "BTC/USD") -> Decimal:
    book = sim.exchange.books[symbol]
    price = book.best(side)
    assert price is not None
    return book.spec.price(price)


async def test_public_time_status_pairs_and_depth() -> None:
    async with open_simulator(QUIET) as sim:
        time = await public_call(sim, "Time")
        assert time["error"] == [] and abs(time["result"]["unixtime"] - sim.wall()) < 5
        assert (await public_call(sim, "SystemStatus"))["result"]["status"] == "online"
        pairs = (await public_call(sim, "AssetPairs"))["result"]
        assert set(pairs) == {"XXBTZUSD", "XETHZUSD", "XXRPZUSD", "XDGUSD"}
        btc = pairs["XXBTZUSD"]
        assert (btc["altname"], btc["wsname"], btc["base"], btc["quote"]) == (
            "XBTUSD",
            "XBT/USD",
            "XXBT",
            "ZUSD",
        )
        assert (btc["pair_decimals"], btc["lot_decimals"], btc["ordermin"]) == (1, 8, "0.0001")
        asked = (await public_call(sim, "AssetPairs", pair="XBTUSD,DOGE/USD"))["result"]
        assert set(asked) == {"XXBTZUSD", "DOGE/USD"}
        depth = (await public_call(sim, "Depth", pair="XBTUSD", count=3))["result"]["XXBTZUSD"]
        assert len(depth["asks"]) == 3 and D(depth["asks"][0][0]) > D(depth["bids"][0][0])
        unknown = await public_call(sim, "Depth", pair="NOPE")
        assert unknown == {"error": ["EQuery:Unknown asset pair"]}


async def test_balance_and_balance_ex_use_rest_asset_names() -> None:
    async with open_simulator(QUIET) as sim:
        balance = (await private_call(sim, "Balance"))["result"]
        assert balance["ZUSD"] == "100000.0000" and balance["XXBT"] == "1.0000000000"
        assert "XXDG" in balance
        price = _best(sim, "bids") - D(100)
        await private_call(
            sim,
            "AddOrder",
            pair="XBTUSD",
            type="buy",
            ordertype="limit",
            volume="0.01",
            price=str(price),
        )
        ex = (await private_call(sim, "BalanceEx"))["result"]
        assert D(ex["ZUSD"]["hold_trade"]) == D("0.01") * price * D("1.004")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"key": "someone-else"}, "EAPI:Invalid key"),
        ({"secret": "c29tZSBvdGhlciBzZWNyZXQ="}, "EAPI:Invalid signature"),
    ],
)
async def test_bad_credentials_are_refused(kwargs: dict[str, str], error: str) -> None:
    async with open_simulator(QUIET) as sim:
        assert (await private_call(sim, "Balance", **kwargs))["error"] == [error]  # type: ignore[arg-type]


async def test_non_increasing_nonce_is_refused() -> None:
    async with open_simulator(QUIET) as sim:
        assert (await private_call(sim, "Balance", nonce=10**18))["error"] == []
        assert (await private_call(sim, "Balance", nonce=10**18))["error"] == ["EAPI:Invalid nonce"]
        assert (await private_call(sim, "Balance", nonce=10**18 - 1))["error"] == [
            "EAPI:Invalid nonce"
        ]


@pytest.mark.slow
async def test_call_counter_limits_and_decays(autojump_clock: trio.testing.MockClock) -> None:
    async with open_simulator(QUIET) as sim:
        errors = [(await private_call(sim, "Balance"))["error"] for _ in range(21)]
        assert errors[:20] == [[]] * 20 and errors[20] == ["EAPI:Rate limit exceeded"]
        assert (
            await private_call(
                sim,
                "AddOrder",
                pair="XBTUSD",
                type="buy",
                ordertype="limit",
                volume="0.001",
                price="1000.0",
            )
        )["error"] == []
        await trio.sleep(2.1)  # 0.5 a second: one call's worth
        assert (await private_call(sim, "Balance"))["error"] == []
        assert (await private_call(sim, "Ledgers"))["error"] == ["EAPI:Rate limit exceeded"]


@pytest.mark.slow
async def test_add_query_cancel_and_closed_orders_paging() -> None:
    async with open_simulator(QUIET) as sim:
        price = _best(sim, "bids") - D(200)
        ids = []
        for i in range(55):
            added = await private_call(
                sim,
                "AddOrder",
                pair="XXBTZUSD",
                type="buy",
                ordertype="limit",
                volume="0.001",
                price=str(price),
                userref=str(i),
            )
            assert added["error"] == [] and added["result"]["descr"]["order"].startswith(
                "buy 0.001 XBTUSD"
            )
            ids.append(added["result"]["txid"][0])
        open_orders = (await private_call(sim, "OpenOrders"))["result"]["open"]
        assert set(open_orders) == set(ids)
        assert (
            open_orders[ids[0]]["status"] == "open"
            and open_orders[ids[0]]["descr"]["pair"] == "XBTUSD"
        )
        for order_id in ids:
            assert (await private_call(sim, "CancelOrder", txid=order_id))["result"] == {"count": 1}
        assert (await private_call(sim, "CancelOrder", txid=ids[0]))["error"] == [
            "EOrder:Invalid order"
        ]
        first = (await private_call(sim, "ClosedOrders"))["result"]
        second = (await private_call(sim, "ClosedOrders", ofs="50"))["result"]
        assert first["count"] == 55 and len(first["closed"]) == 50 and len(second["closed"]) == 5
        assert set(first["closed"]) | set(second["closed"]) == set(ids)
        queried = (await private_call(sim, "QueryOrders", txid=",".join(ids[:3])))["result"]
        assert [queried[i]["status"] for i in ids[:3]] == ["canceled"] * 3


async def test_trades_history_and_ledgers_after_a_fill() -> None:
    async with open_simulator(QUIET) as sim:
        added = await private_call(
            sim, "AddOrder", pair="XBTUSD", type="sell", ordertype="market", volume="0.01"
        )
        order_id = added["result"]["txid"][0]
        trades = (await private_call(sim, "TradesHistory"))["result"]
        assert trades["count"] >= 1
        trade = next(iter(trades["trades"].values()))
        assert (trade["ordertxid"], trade["pair"], trade["type"], trade["maker"]) == (
            order_id,
            "XXBTZUSD",
            "sell",
            False,
        )
        ledger = (await private_call(sim, "Ledgers", asset="ZUSD"))["result"]
        entries = list(ledger["ledger"].values())
        assert entries and all(e["asset"] == "ZUSD" and e["type"] == "trade" for e in entries)
        assert D(entries[0]["balance"]) == sim.exchange.account.balances["USD"]
        queried = (await private_call(sim, "QueryOrders", txid=order_id, trades="true"))["result"]
        assert queried[order_id]["status"] == "closed" and queried[order_id]["trades"]


async def _sweep(sim: Simulator) -> tuple[str, list[str]]:
    """A market buy large enough to take several price levels: (order id, its exec ids)."""
    book = sim.exchange.books["BTC/USD"]
    spec = book.spec
    qty = sum((spec.qty(q) for _, q in book.top("asks", 3)), D(0))
    added = await private_call(
        sim, "AddOrder", pair="XBTUSD", type="buy", ordertype="market", volume=str(qty)
    )
    order_id = added["result"]["txid"][0]
    fills = [f.exec_id for f in sim.exchange.fills_of(order_id)]
    assert len(fills) >= 3
    return order_id, fills


async def test_a_takers_fills_are_consolidated_in_rest_unless_asked_not_to() -> None:
    async with open_simulator(SimConfig(rate=0.001, delisted_trade=False)) as sim:
        order_id, fills = await _sweep(sim)
        consolidated = (await private_call(sim, "TradesHistory"))["result"]["trades"]
        assert len(consolidated) == 1 and not set(consolidated) & set(fills)
        [row] = consolidated.values()
        assert D(row["vol"]) == sum(f.qty for f in sim.exchange.fills_of(order_id))
        separate = await private_call(sim, "TradesHistory", consolidate_taker="false")
        assert sorted(separate["result"]["trades"]) == sorted(fills)
        queried = await private_call(
            sim, "QueryOrders", txid=order_id, trades="true", consolidate_taker="false"
        )
        assert sorted(queried["result"][order_id]["trades"]) == sorted(fills)


async def test_websocket_token_and_order_errors() -> None:
    async with open_simulator(QUIET) as sim:
        token = (await private_call(sim, "GetWebSocketsToken"))["result"]
        assert token["expires"] == 900 and len(token["token"]) > 20
        small = await private_call(
            sim,
            "AddOrder",
            pair="XBTUSD",
            type="buy",
            ordertype="limit",
            volume="0.00001",
            price="60000",
        )
        assert small["error"] == ["EOrder:Order minimum not met"]
        unknown = await private_call(
            sim, "AddOrder", pair="NOPE", type="buy", ordertype="limit", volume="1", price="1"
        )
        assert unknown["error"] == ["EQuery:Unknown asset pair"]


async def test_json_bodies_are_signed_and_accepted_too() -> None:
    import json

    from galfriday.kraken.auth import decode_secret, sign
    from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

    async with open_simulator(QUIET) as sim:
        assert sim.urls is not None
        body = json.dumps({"nonce": 123456})
        headers = {
            "API-Key": DEFAULT_API_KEY,
            "Content-Type": "application/json",
            "API-Sign": sign("/0/private/Balance", 123456, body, decode_secret(DEFAULT_API_SECRET)),
        }
        async with httpx.AsyncClient(base_url=sim.urls.rest) as http:
            reply = (await http.post("/0/private/Balance", content=body, headers=headers)).json()
        assert reply["error"] == [] and "ZUSD" in reply["result"]


async def test_garbage_http_gets_400_and_the_server_keeps_serving() -> None:
    async with open_simulator(QUIET) as sim:
        assert sim.urls is not None
        host, port = sim.urls.rest.removeprefix("http://").split(":")
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        with trio.fail_after(5):
            reply = await stream.receive_some(1000)
        await stream.aclose()
        assert reply.startswith(b"HTTP/1.1 400")
        async with httpx.AsyncClient(base_url=sim.urls.rest) as http:
            assert (await http.get("/0/public/Nope")).json() == {
                "error": ["EGeneral:Unknown method"]
            }
            assert (await http.get("/elsewhere")).status_code == 404
        assert (await public_call(sim, "Time"))["error"] == []


async def test_assets_fee_credits_earn_and_a_delisted_pairs_trade_as_on_a_real_account() -> None:
    async with open_simulator(QUIET) as sim:
        assets = (await public_call(sim, "Assets"))["result"]
        assert assets["XXBT"]["altname"] == "XBT" and assets["KFEE"]["altname"] == "FEE"
        balance = (await private_call(sim, "Balance"))["result"]
        assert balance["KFEE"] == "500.00" and balance["ETH.F"] == "2.5000000000"
        assert balance["XETH"] == "10.0000000000"  # spot apart from earn
        trades = (await private_call(sim, "TradesHistory"))["result"]["trades"]
        assert [t["pair"] for t in trades.values()] == ["LUNAUSD"]  # AssetPairs lacks it
        pairs = (await public_call(sim, "AssetPairs"))["result"]
        assert "LUNAUSD" not in pairs


async def test_a_partly_filled_resting_order_is_open_with_its_executed_volume() -> None:
    # Kraken lists it as status open with vol_exec > 0 (REST) and, in a new executions
    # snapshot, as exec_type new with order_status partially_filled.
    async with open_simulator(QUIET) as sim:
        book = sim.exchange.books["BTC/USD"]
        [(_, lots)] = book.top("asks", 1)
        qty = book.spec.qty(lots) + D("0.01")
        order = sim.place_order(OrderRequest("BTC/USD", "buy", "limit", qty, _best(sim, "asks")))
        assert order.is_open and 0 < order.cum_qty < qty
        [info] = (await private_call(sim, "OpenOrders"))["result"]["open"].values()
        assert (info["status"], D(info["vol_exec"]), D(info["vol"])) == ("open", order.cum_qty, qty)
        queried = (await private_call(sim, "QueryOrders", txid=order.order_id))["result"]
        assert queried[order.order_id]["status"] == "open"
        report = sim.exchange.account.order_report(order)
        assert (report.exec_type, report.order_status) == ("new", "partially_filled")
        assert report.cum_qty == order.cum_qty


@pytest.mark.parametrize(
    ("name", "text"),
    [("volume", "1E-2"), ("price", "6.5E+4"), ("volume", "1.234e-7"), ("price", "NaN")],
)
async def test_a_number_not_in_fixed_point_is_refused_as_kraken_would(name: str, text: str) -> None:
    # str(Decimal) writes 1.234E-7 below one millionth: an engine that regressed to it must
    # fail against the simulator, not pass because Python's Decimal reads anything.
    async with open_simulator(QUIET) as sim:
        order = {"volume": "0.01", "price": str(_best(sim, "bids") - D(100)), name: text}
        answer = await private_call(sim, "AddOrder", pair="XBTUSD", type="buy",
                                    ordertype="limit", **order)  # fmt: skip
        assert answer == {"error": [f"EGeneral:Invalid arguments:{name}"]}
        assert sim.ground_truth().open_orders == []


async def test_a_history_window_not_in_fixed_point_is_refused() -> None:
    async with open_simulator(QUIET) as sim:
        start = f"{sim.wall() - 3600:.6f}"
        assert (await private_call(sim, "TradesHistory", start=start))["error"] == []
        refused = await private_call(sim, "Ledgers", start="1.7E+9")
        assert refused == {"error": ["EGeneral:Invalid arguments:start"]}


async def test_balance_ex_writes_a_round_hold_in_fixed_point() -> None:
    # Decimal.normalize() writes a hold of 10 as 1E+1; Kraken writes numbers in fixed point.
    async with open_simulator(QUIET) as sim:
        price = _best(sim, "asks", "ETH/USD") + D(100)
        sim.place_order(OrderRequest("ETH/USD", "sell", "limit", D(10), price))
        hold = (await private_call(sim, "BalanceEx"))["result"]["XETH"]["hold_trade"]
        assert hold == "10"
