"""``GET /api/events``: the bus as Server-Sent Events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import trio

from galfriday.bus import Bus
from galfriday.events import Alert, Severity
from galfriday.web.events import _body, event_types, sse_message
from tests.web.helpers import served, sse


async def test_book_updates_arrive_as_typed_json_with_string_levels(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s:
        with trio.fail_after(10):
            async with sse(s.url, "/api/events?types=BookUpdate") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                [(name, data)] = await stream.messages(1)
    assert name == "BookUpdate"
    assert data["symbol"] in ("BTC/USD", "ETH/USD")
    price, qty = data["bid_side"][0]
    assert isinstance(price, str) and isinstance(qty, str)


async def test_every_event_kind_passes_without_a_filter(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s:
        with trio.fail_after(10):
            async with sse(s.url, "/api/events") as stream:
                s.engine.bus.publish(Alert(severity=Severity.LOW, source="test", message="hi"))
                got = await stream.messages(200)
    alerts = [data for name, data in got if name == "Alert"]
    assert alerts == [{"received_at": 0.0, "severity": "low", "source": "test", "message": "hi"}]


async def test_a_symbols_filter_keeps_that_pair(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s:
        with trio.fail_after(10):
            async with sse(s.url, "/api/events?types=BookUpdate&symbols=ETH/USD") as stream:
                got = await stream.messages(5)
    assert {data["symbol"] for _, data in got} == {"ETH/USD"}


async def test_an_unknown_event_type_is_400(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        reply = await http.get("/api/events", params={"types": "Nonsense"})
    assert reply.status_code == 400
    assert "Nonsense" in reply.json()["detail"]


async def test_the_subscription_ends_when_the_client_goes_away(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s:
        before = s.engine.bus.subscribers
        async with sse(s.url, "/api/events?types=Alert") as stream:
            assert stream.status == 200  # the handler has subscribed
            during = s.engine.bus.subscribers
        for _ in range(100):
            if s.engine.bus.subscribers == before:
                break
            await trio.sleep(0.05)
        after = s.engine.bus.subscribers
    assert during == before + 1
    assert after == before


async def test_events_a_slow_client_lost_are_announced() -> None:
    bus = Bus()
    subscription = bus.subscribe(Alert, capacity=2)
    for n in range(5):
        bus.publish(Alert(severity=Severity.LOW, source="t", message=str(n)))
    subscription.close()
    sent: list[bytes] = []

    async def send(message: Any) -> None:
        sent.append(message["body"])

    await _body(subscription, send)
    assert b'event: EventsLost\ndata: {"lost":3}\n\n' in sent
    assert sent[-1] == sse_message(Alert(severity=Severity.LOW, source="t", message="4"))


def test_event_types_are_named_by_class() -> None:
    assert [kind.__name__ for kind in event_types("FillEvent, Alert")] == ["FillEvent", "Alert"]
    assert event_types("") == ()
