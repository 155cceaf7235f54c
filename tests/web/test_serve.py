"""serve_http itself: the engines it takes, the port it reports, what a bad address does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from galfriday import api
from galfriday.errors import ConfigError
from galfriday.kraken.auth import decode_secret
from galfriday.live.engine import EngineConfig
from galfriday.live.marketdata import MarketDataConfig
from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimConfig, open_simulator
from galfriday.web import HttpConfig, serve_http
from tests.web.helpers import LOOPBACK, served


async def test_the_public_facade_is_served_too(tmp_path: Path) -> None:
    async with open_simulator(SimConfig(rate=100)) as sim:
        assert sim.urls is not None
        config = EngineConfig(
            ws_public=sim.urls.ws_public, ws_private=sim.urls.ws_private, rest=sim.urls.rest,
            database=tmp_path / "a.db", api_key=DEFAULT_API_KEY,
            api_secret=decode_secret(DEFAULT_API_SECRET),
            marketdata=MarketDataConfig(symbols=("BTC/USD",)),
        )  # fmt: skip
        async with api.open_engine(config) as engine, trio.open_nursery() as nursery:
            port = await nursery.start(serve_http, engine, LOOPBACK)
            async with httpx.AsyncClient() as http:
                reply = await http.get(f"http://127.0.0.1:{port}/api/books/BTC%2FUSD")
            nursery.cancel_scope.cancel()
    assert reply.status_code == 200
    assert reply.json()["symbol"] == "BTC/USD"


async def test_an_address_in_use_is_a_one_line_config_error(tmp_path: Path) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    taken = listeners[0].socket.getsockname()[1]
    async with served(tmp_path / "a.db") as s, trio.open_nursery() as nursery:
        with pytest.raises(ConfigError) as raised:
            await nursery.start(serve_http, s.engine, HttpConfig(port=taken))
    for listener in listeners:
        await listener.aclose()
    assert raised.value.field == "http.bind"
    assert str(taken) in raised.value.problem


async def test_stopping_the_server_closes_its_port(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_http, s.engine, LOOPBACK)
            nursery.cancel_scope.cancel()
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)
