"""The guard in front of every route: tokens for writes (and for all on a public bind),
loopback answering to loopback names only."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from galfriday.web.guard import BearerGuard, bearer_matches, host_name

TOKEN = "s3cret-token-0123456789"


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _client(
    token: str | None, *, everything: bool = False, host: str = "127.0.0.1"
) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/healthz", _ok), Route("/api/x", _ok, methods=["GET", "POST"])])
    guarded = BearerGuard(app, token, ("/healthz",), everything=everything, loopback=not everything)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guarded), base_url=f"http://{host}:8321"
    )


BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_reads_on_loopback_need_no_token() -> None:
    async with _client(TOKEN) as http:
        assert (await http.get("/api/x")).status_code == 200


async def test_a_write_without_the_token_is_401_with_a_challenge() -> None:
    async with _client(TOKEN) as http:
        reply = await http.post("/api/x")
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"


async def test_a_write_with_the_token_passes() -> None:
    async with _client(TOKEN) as http:
        assert (await http.post("/api/x", headers=BEARER)).status_code == 200


async def test_a_wrong_token_is_401() -> None:
    async with _client(TOKEN) as http:
        reply = await http.post("/api/x", headers={"Authorization": "Bearer nope"})
    assert reply.status_code == 401


async def test_writes_are_refused_when_no_token_is_configured() -> None:
    async with _client(None) as http:
        reply = await http.post("/api/x", headers=BEARER)
    assert reply.status_code == 403
    assert "http.token" in reply.json()["detail"]


async def test_on_a_public_bind_reads_need_the_token_too() -> None:
    async with _client(TOKEN, everything=True, host="10.0.0.5") as http:
        refused = await http.get("/api/x")
        allowed = await http.get("/api/x", headers=BEARER)
    assert refused.status_code == 401
    assert allowed.status_code == 200


async def test_probes_are_open_even_on_a_public_bind() -> None:
    async with _client(TOKEN, everything=True, host="10.0.0.5") as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_a_foreign_host_name_on_loopback_is_refused() -> None:
    async with _client(TOKEN, host="evil.example") as http:
        reply = await http.get("/api/x")
    assert reply.status_code == 403


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
async def test_loopback_host_names_are_accepted(host: str) -> None:
    async with _client(TOKEN, host=host) as http:
        assert (await http.get("/api/x")).status_code == 200


@pytest.mark.parametrize(
    ("header", "host"),
    [(b"localhost:8321", "localhost"), (b"[::1]:8321", "::1"), (b"127.0.0.1", "127.0.0.1"),
     (b"::1", "::1"), (None, "")],
)  # fmt: skip
def test_host_name_drops_the_port(header: bytes | None, host: str) -> None:
    assert host_name(header) == host


def test_bearer_needs_the_scheme() -> None:
    assert bearer_matches(b"Bearer abc", b"abc")
    assert bearer_matches(b"bearer abc", b"abc")
    assert not bearer_matches(b"Basic abc", b"abc")
    assert not bearer_matches(b"abc", b"abc")
