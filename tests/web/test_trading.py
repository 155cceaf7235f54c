"""The API's writes over a real loopback server: orders and review decisions."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import trio

from galfriday.audit.store import AuditStore
from galfriday.events import OrderStatus, OrderUpdate
from galfriday.live.engine import Engine
from galfriday.web import HttpConfig
from tests.web.helpers import served

TOKEN = "t0ken-for-the-tests-0123"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
TRADING = HttpConfig(port=0, token=TOKEN, allow_trading=True)
NO_TRADING = HttpConfig(port=0, token=TOKEN)


def _far_bid(engine: Engine) -> str:
    """A buy price far under the market (it rests, never fills)."""
    book = engine.marketdata.books["BTC/USD"].book
    best = book.price_of(book.top_levels(1)[0][0][0])
    return str((best / 2).quantize(Decimal("0.1")))


async def test_an_order_posted_is_placed_and_listed(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db", TRADING) as s, httpx.AsyncClient(base_url=s.url) as http:
        body = {"symbol": "BTC/USD", "side": "buy", "qty": "0.001", "price": _far_bid(s.engine)}
        placed = await http.post("/api/orders", json=body, headers=BEARER)
        listed = await http.get("/api/orders")
    assert placed.status_code == 201
    order_id = placed.json()["order_id"]
    assert order_id in [o["order_id"] for o in listed.json()]


async def test_orders_are_403_without_allow_trading(tmp_path: Path) -> None:
    async with (
        served(tmp_path / "a.db", NO_TRADING) as s,
        httpx.AsyncClient(base_url=s.url) as http,
    ):
        body = {"symbol": "BTC/USD", "side": "buy", "qty": "0.001", "price": "1"}
        reply = await http.post("/api/orders", json=body, headers=BEARER)
        cancel = await http.delete("/api/orders/OABC", headers=BEARER)
        assert s.engine.account is not None
        assert s.engine.account.orders.open_orders() == []
    assert reply.status_code == 403
    assert cancel.status_code == 403
    assert "allow_trading" in reply.json()["detail"]


async def test_an_order_body_with_an_unknown_field_is_400(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db", TRADING) as s, httpx.AsyncClient(base_url=s.url) as http:
        body = {"symbol": "BTC/USD", "side": "buy", "qty": "0.001", "prise": "1"}
        reply = await http.post("/api/orders", json=body, headers=BEARER)
    assert reply.status_code == 400


async def test_an_order_kraken_refuses_is_422(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db", TRADING) as s, httpx.AsyncClient(base_url=s.url) as http:
        body = {"symbol": "BTC/USD", "side": "buy", "qty": "1000000", "price": _far_bid(s.engine)}
        reply = await http.post("/api/orders", json=body, headers=BEARER)
    assert reply.status_code == 422, reply.text


async def test_delete_cancels_an_open_order(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db", TRADING) as s, httpx.AsyncClient(base_url=s.url) as http:
        gateway, account = s.engine.gateway, s.engine.account
        assert gateway is not None and account is not None
        price = Decimal(_far_bid(s.engine))
        order_id = await gateway.place("BTC/USD", "buy", Decimal("0.001"), price)
        async with s.engine.bus.subscribe(OrderUpdate) as updates:
            reply = await http.delete(f"/api/orders/{order_id}", headers=BEARER)
            with trio.fail_after(10):
                while (order := account.orders.get(order_id)) is None or not order.status.final:
                    await updates.receive()
    assert reply.status_code == 200
    assert order.status is OrderStatus.CANCELED


def _queue_item(item_id: str) -> Callable[[AuditStore], None]:
    def insert(store: AuditStore) -> None:
        with store.db.conn:
            store.db.conn.execute(
                "INSERT INTO review_queue (id, reconciliation_id, kind, subject, severity, "
                "internal, exchange, created_wall) VALUES (?, 'run1', 'balance', 'USD', "
                "'high', '10', '12', ?)",
                (item_id, time.time()),
            )

    return insert


async def test_a_review_item_is_resolved_with_the_token(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    async with served(db, NO_TRADING) as s, httpx.AsyncClient(base_url=s.url) as http:
        await s.engine.audit.read(_queue_item("R1"))
        listed = await http.get("/api/reviews")
        decision = {"decision": "accept-exchange", "note": "checked the statement"}
        reply = await http.post("/api/reviews/R1/resolve", json=decision, headers=BEARER)
        again = await http.post("/api/reviews/R1/resolve", json=decision, headers=BEARER)
    assert [item["id"] for item in listed.json()] == ["R1"]
    assert reply.status_code == 200
    assert reply.json()["decision"] == "accept-exchange"
    assert again.status_code == 409
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT status, note FROM review_queue WHERE id = 'R1'").fetchone()
    assert row == ("resolved", "checked the statement")


async def test_resolving_an_unknown_item_is_404(tmp_path: Path) -> None:
    async with (
        served(tmp_path / "a.db", NO_TRADING) as s,
        httpx.AsyncClient(base_url=s.url) as http,
    ):
        decision = {"decision": "keep-internal", "note": "n"}
        reply = await http.post("/api/reviews/NOPE/resolve", json=decision, headers=BEARER)
    assert reply.status_code == 404


async def test_an_unknown_decision_is_400(tmp_path: Path) -> None:
    async with (
        served(tmp_path / "a.db", NO_TRADING) as s,
        httpx.AsyncClient(base_url=s.url) as http,
    ):
        await s.engine.audit.read(_queue_item("R2"))
        decision = {"decision": "flip-a-coin", "note": "n"}
        reply = await http.post("/api/reviews/R2/resolve", json=decision, headers=BEARER)
    assert reply.status_code == 400
    assert "decision" in reply.json()["detail"]
