"""The tests' REST transport: which requests it answers by hand, and which it passes on."""

from __future__ import annotations

import httpx

from tests.transports import GarblingTransport


def _exchange(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"error": [], "result": {"from": "exchange"}})


def _client() -> tuple[httpx.AsyncClient, GarblingTransport]:
    transport = GarblingTransport(httpx.MockTransport(_exchange))
    return httpx.AsyncClient(base_url="http://sim", transport=transport), transport


async def test_an_armed_private_method_is_answered_by_hand_every_time() -> None:
    client, transport = _client()
    async with client:
        garbled = transport.garble({"Ledgers": {"ledger": "?"}}, once=False)
        first = await client.post("/0/private/Ledgers")
        second = await client.post("/0/private/Ledgers")
        other = await client.post("/0/private/Balance")
    assert first.json() == second.json() == {"error": [], "result": {"ledger": "?"}}
    assert other.json()["result"] == {"from": "exchange"}
    assert garbled == ["Ledgers", "Ledgers"]


async def test_armed_once_only_the_next_call_is_answered_by_hand() -> None:
    client, transport = _client()
    async with client:
        garbled = transport.garble({"GetWebSocketsToken": {"tokn": "?"}}, once=True)
        first = await client.post("/0/private/GetWebSocketsToken")
        second = await client.post("/0/private/GetWebSocketsToken")
    assert first.json()["result"] == {"tokn": "?"}
    assert second.json()["result"] == {"from": "exchange"}
    assert garbled == ["GetWebSocketsToken"]


async def test_public_calls_and_restored_methods_reach_the_exchange() -> None:
    client, transport = _client()
    async with client:
        transport.garble({"Time": {"unixtime": "?"}, "Balance": {}}, once=False)
        public = await client.get("/0/public/Time")
        transport.restore()
        restored = await client.post("/0/private/Balance")
    assert public.json()["result"] == restored.json()["result"] == {"from": "exchange"}
    assert transport.garbled == []
