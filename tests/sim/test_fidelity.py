"""A third-party Kraken client (python-kraken-sdk), unmodified, against ``galfriday sim``.

Only URLs are changed, through the SDK's own constructor arguments and class attributes;
its order book helper builds a REST ``Market()`` with Kraken's URL, so that class is swapped
for one pointed at the simulator: nothing reaches the internet.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # a simulator process and a third-party client on real time

kraken_spot = pytest.importorskip("kraken.spot")
orderbook_module = pytest.importorskip("kraken.spot.orderbook")

from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET  # noqa: E402


@pytest.fixture(scope="module")
def sim_urls() -> Iterator[dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "galfriday", "sim", "--rate", "400", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_signed_rest_calls_succeed(sim_urls: dict[str, str]) -> None:
    user = kraken_spot.User(key=DEFAULT_API_KEY, secret=DEFAULT_API_SECRET, url=sim_urls["rest"])
    balances = user.get_account_balance()
    assert balances["ZUSD"] == "100000.0000" and "XXBT" in balances
    trade = kraken_spot.Trade(key=DEFAULT_API_KEY, secret=DEFAULT_API_SECRET, url=sim_urls["rest"])
    placed = trade.create_order(
        ordertype="limit", side="buy", volume="0.001", pair="XBTUSD", price="30000"
    )
    order_id = placed["txid"][0]
    assert order_id in user.get_open_orders()["open"]
    assert trade.cancel_order(txid=order_id)["count"] == 1
    pairs = kraken_spot.Market(url=sim_urls["rest"]).get_asset_pairs(pair="XBTUSD")
    assert pairs["XXBTZUSD"]["pair_decimals"] == 1


def test_order_book_checksums_validate(
    sim_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    market = orderbook_module.Market
    monkeypatch.setattr(orderbook_module, "Market", lambda: market(url=sim_urls["rest"]))
    seen = {"valid": 0, "invalid": 0}

    class Book(orderbook_module.SpotOrderBookClient):  # type: ignore[misc]
        WS_URL = sim_urls["ws_public"]
        AUTH_WS_URL = sim_urls["ws_private"]

        async def on_book_update(self, pair: str, message: dict[str, Any]) -> None:
            book = self.get(pair)
            if book is not None and "error" not in message:
                seen["valid" if book["valid"] else "invalid"] += 1

    async def run() -> None:
        book = Book(depth=10)
        await book.start()
        await book.add_book(pairs=["BTC/USD", "ETH/USD", "DOGE/USD"])
        for _ in range(100):
            await asyncio.sleep(0.1)
            if seen["valid"] >= 200:
                break
        await book.close()

    asyncio.run(run())
    assert seen["valid"] >= 200 and seen["invalid"] == 0


def test_private_websocket_subscription_works(sim_urls: dict[str, str]) -> None:
    messages: list[dict[str, Any]] = []

    async def on_message(message: dict[str, Any]) -> None:
        messages.append(message)

    async def run() -> None:
        client = kraken_spot.SpotWSClient(
            key=DEFAULT_API_KEY,
            secret=DEFAULT_API_SECRET,
            callback=on_message,
            rest_url=sim_urls["rest"],
            ws_url=sim_urls["ws_public"],
            auth_ws_url=sim_urls["ws_private"],
        )
        await client.start()
        await client.subscribe(params={"channel": "balances"})
        for _ in range(50):
            await asyncio.sleep(0.1)
            if any(m.get("channel") == "balances" for m in messages):
                break
        await client.close()

    asyncio.run(run())
    snapshot = next(m for m in messages if m.get("channel") == "balances")
    assert snapshot["type"] == "snapshot" and snapshot["sequence"] == 1
    assert {entry["asset"] for entry in snapshot["data"]} >= {"USD", "BTC"}
