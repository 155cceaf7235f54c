"""Wiring for the HTTP tests: an engine against the simulator, its server on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import h11
import trio
from prometheus_client.parser import text_string_to_metric_families

from galfriday.live.engine import Engine
from galfriday.sim.server import SimConfig, Simulator, open_simulator
from galfriday.web import HttpConfig, serve_http
from tests.live.test_engine import engine_on

LOOPBACK = HttpConfig(bind="127.0.0.1", port=0)


@dataclass
class Served:
    sim: Simulator
    engine: Engine
    url: str  # the server's base URL, e.g. http://127.0.0.1:41234


@asynccontextmanager
async def served(
    db: Path, http: HttpConfig = LOOPBACK, *, rate: float = 100, **engine: object
) -> AsyncIterator[Served]:
    """A simulator, an engine against it, and the engine's HTTP server on a free port."""
    async with (
        open_simulator(SimConfig(rate=rate)) as sim,
        engine_on(sim, db, **engine) as running,
        trio.open_nursery() as nursery,
    ):
        port = await nursery.start(serve_http, running, http)
        yield Served(sim, running, f"http://127.0.0.1:{port}")
        nursery.cancel_scope.cancel()


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Prometheus text -> sample name -> (sorted labels) -> value, via prometheus-client's
    own parser (which refuses what is not the format)."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


def families(text: str) -> set[str]:
    """The metric family names in Prometheus text (counters without ``_total``)."""
    return {family.name for family in text_string_to_metric_families(text)}


class SseClient:
    """A minimal Server-Sent Events client over h11 (httpx's streaming generators cannot be
    closed early under trio without warnings): open with :func:`sse`, read :meth:`messages`."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)
        self.status = 0
        self.headers: dict[str, str] = {}
        self._buffer = b""

    async def _event(self) -> h11.Event | type[h11.NEED_DATA]:
        while (event := self.conn.next_event()) is h11.NEED_DATA:
            data = await self.stream.receive_some()
            self.conn.receive_data(data)
            if not data:
                return event
        return event

    async def start(self, path: str) -> None:
        request = h11.Request(method="GET", target=path, headers=[("Host", "127.0.0.1")])
        await self.stream.send_all(self.conn.send(request) + self.conn.send(h11.EndOfMessage()))
        response = await self._event()
        if isinstance(response, h11.Response):
            self.status = response.status_code
            self.headers = {k.decode(): v.decode() for k, v in response.headers}

    async def messages(self, count: int) -> list[tuple[str, object]]:
        """The next ``count`` messages as (event name, decoded data); comments skipped."""
        out: list[tuple[str, object]] = []
        while len(out) < count:
            while b"\n\n" not in self._buffer:
                event = await self._event()
                if not isinstance(event, h11.Data):
                    return out
                self._buffer += bytes(event.data)
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.decode().splitlines() if ": " in line
            )
            if "data" in fields:
                out.append((fields.get("event", "message"), json.loads(fields["data"])))
        return out


@asynccontextmanager
async def sse(url: str, path: str) -> AsyncIterator[SseClient]:
    """An SSE stream of ``path`` on the server at ``url``, closed when the block ends."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        client = SseClient(stream)
        await client.start(path)
        yield client
