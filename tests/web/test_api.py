"""The JSON API over a real loopback server, an engine against the simulator behind it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx

from tests.web.helpers import served


async def test_status_reports_connections_books_and_readiness(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        reply = await http.get("/api/status")
    assert reply.status_code == 200
    body = reply.json()
    assert body["ready"] is True
    assert set(body["connections"]) == {"public", "private"}
    assert body["books"]["symbols"] == ["BTC/USD", "ETH/USD"]
    assert body["http_trading"] is False


async def test_book_takes_an_encoded_symbol_and_gives_string_levels(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        reply = await http.get("/api/books/BTC%2FUSD", params={"depth": 3})
    body = reply.json()
    assert body["symbol"] == "BTC/USD"
    assert body["verified"] is True
    assert len(body["bids"]) == 3
    price, qty = body["bids"][0]
    assert isinstance(price, str) and Decimal(price) > 0 and Decimal(qty) > 0
    assert Decimal(body["bids"][0][0]) < Decimal(body["asks"][0][0])


async def test_book_of_a_pair_not_followed_is_404(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        reply = await http.get("/api/books/DOGE%2FUSD")
    assert reply.status_code == 404


async def test_balances_match_the_simulated_account(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        reply = await http.get("/api/balances")
        truth = s.sim.ground_truth().balances
    assert {asset: Decimal(v) for asset, v in reply.json().items()} == dict(truth)


async def test_positions_value_each_pair_at_its_mid(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        reply = await http.get("/api/positions")
    rows = {row["symbol"]: row for row in reply.json()}
    assert set(rows) == {"BTC/USD", "ETH/USD"}
    btc = rows["BTC/USD"]
    assert Decimal(btc["value"]) == Decimal(btc["qty"]) * Decimal(btc["mid"])


async def test_a_bad_limit_is_a_400(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        reply = await http.get("/api/fills", params={"limit": "lots"})
    assert reply.status_code == 400
    assert "limit" in reply.json()["detail"]


async def test_database_routes_answer_lists(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        for path in ("/api/fills", "/api/reconciliations", "/api/reviews", "/api/alerts"):
            reply = await http.get(path)
            assert reply.status_code == 200, path
            assert isinstance(reply.json(), list), path


async def test_open_orders_list_an_order_placed_through_the_engine(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        assert s.engine.gateway is not None
        bid = s.engine.marketdata.books["BTC/USD"].book
        low = bid.price_of(bid.top_levels(1)[0][0][0]) / 2
        order_id = await s.engine.gateway.place(
            "BTC/USD", "buy", Decimal("0.001"), low.quantize(Decimal("0.1"))
        )
        reply = await http.get("/api/orders", params={"open": "1"})
    assert order_id in [order["order_id"] for order in reply.json()]
