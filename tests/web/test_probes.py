"""``/healthz`` and ``/readyz`` over a real loopback server."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from galfriday.core.health import Health, HealthReport
from galfriday.web import HttpConfig
from tests.web.helpers import served

TOKEN = "t" * 32


async def test_healthz_is_200_while_the_engine_runs(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        reply = await http.get("/healthz")
    assert reply.status_code == 200
    assert reply.json()["status"] == "ok"


async def test_healthz_is_503_when_a_connection_is_unhealthy(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        s.engine.health["public"] = HealthReport(Health.UNHEALTHY, ("no frames for 30 s",))
        reply = await http.get("/healthz")
    assert reply.status_code == 503
    assert reply.json()["connections"]["public"]["reasons"] == ["no frames for 30 s"]


async def test_healthz_is_200_while_degraded(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        s.engine.health["public"] = HealthReport(Health.DEGRADED, ("slow",))
        reply = await http.get("/healthz")
    assert reply.status_code == 200


async def test_readyz_is_200_once_books_are_verified(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        reply = await http.get("/readyz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ready", "waiting": []}


async def test_readyz_is_503_before_the_first_books(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        s.engine.marketdata.machine.ready = False  # as before the first snapshots
        s.engine.marketdata.ready = trio.Event()
        reply = await http.get("/readyz")
    assert reply.status_code == 503
    assert reply.json()["waiting"] == ["the first book snapshots"]


async def test_probes_need_no_token_when_everything_else_does(tmp_path: Path) -> None:
    config = HttpConfig(bind="127.0.0.1", port=0, token=TOKEN)
    async with served(tmp_path / "a.db", config) as s, httpx.AsyncClient(base_url=s.url) as http:
        health = await http.get("/healthz")
        refused = await http.post("/api/reviews/x/resolve", json={})
    assert health.status_code == 200
    assert refused.status_code == 401
