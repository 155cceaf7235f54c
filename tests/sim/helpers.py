"""Clients for simulator tests: a WS connection that decodes, and signed REST calls."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import msgspec
import trio
from trio_websocket import WebSocketConnection, wrap_client_stream

from galfriday.kraken import wire
from galfriday.kraken.auth import decode_secret, sign
from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, Simulator

_nonces = itertools.count(int(time.time() * 1_000_000))


class Client:
    """A WebSocket client that sends dicts and receives decoded frames."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.decoder = wire.FrameDecoder()
        self.raw: list[str] = []
        self.backlog: list[wire.Message] = []  # frames skipped by until(), in order

    async def send(self, **request: Any) -> None:
        await self.ws.send_message(msgspec.json.encode(request).decode())

    async def recv(self) -> wire.Message:
        text = await self.ws.get_message()
        self.raw.append(text if isinstance(text, str) else text.decode())
        return self.decoder.decode(text)

    async def until(
        self, match: Callable[[wire.Message], bool], seconds: float = 10
    ) -> wire.Message:
        """The first frame that ``match``es; others stay in the backlog for later calls."""
        for index, message in enumerate(self.backlog):
            if match(message):
                del self.backlog[index]
                return message
        with trio.fail_after(seconds):
            while True:
                message = await self.recv()
                if match(message):
                    return message
                self.backlog.append(message)

    async def response(self, method: str, req_id: int | None = None) -> wire.Response:
        message = await self.until(
            lambda m: (
                isinstance(m, wire.Response)
                and m.method == method
                and (req_id is None or m.req_id == req_id)
            )
        )
        assert isinstance(message, wire.Response)
        return message

    async def channel(self, name: str, kind: str | None = None) -> Any:
        return await self.until(
            lambda m: (
                type(m).__struct_config__.tag == name
                and (kind is None or getattr(m, "type", None) == kind)
            )
        )


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[Client]:
    """A client on its own TCP stream, closed on exit whatever happened.

    (trio-websocket leaves the socket of an abnormally closed client connection open; owning
    the stream here keeps tests free of leaked sockets.)
    """
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(nursery, stream, parts.hostname, parts.path or "/")
            try:
                yield Client(ws)
            finally:
                with trio.move_on_after(2) as scope:
                    scope.shield = True
                    await ws.aclose()
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


def is_channel(name: str) -> Callable[[wire.Message], bool]:
    return lambda m: type(m).__struct_config__.tag == name  # type: ignore[attr-defined]


async def private_call(
    sim: Simulator,
    method: str,
    secret: str = DEFAULT_API_SECRET,
    key: str = DEFAULT_API_KEY,
    nonce: int | None = None,
    **params: Any,
) -> dict[str, Any]:
    """A signed private REST call; returns the decoded envelope."""
    assert sim.urls is not None
    nonce = next(_nonces) if nonce is None else nonce
    body = urlencode({"nonce": nonce, **params})
    path = f"/0/private/{method}"
    headers = {
        "API-Key": key,
        "API-Sign": sign(path, nonce, body, decode_secret(secret)),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    async with httpx.AsyncClient(base_url=sim.urls.rest) as http:
        response = await http.post(path, content=body, headers=headers)
    return response.json()  # type: ignore[no-any-return]


async def public_call(sim: Simulator, method: str, **params: Any) -> dict[str, Any]:
    assert sim.urls is not None
    async with httpx.AsyncClient(base_url=sim.urls.rest) as http:
        response = await http.get(f"/0/public/{method}", params=params)
    return response.json()  # type: ignore[no-any-return]


async def token(sim: Simulator) -> str:
    result = await private_call(sim, "GetWebSocketsToken")
    assert result["error"] == [], result
    return str(result["result"]["token"])
