"""Wiring for live tests: a connection and a processor against a running simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from galfriday.audit.tables import Row
from galfriday.bus import Bus
from galfriday.live.connection import Connection, ConnectionConfig, Frame
from galfriday.live.marketdata import MarketData, MarketDataConfig
from galfriday.live.recorder import Recorder


@dataclass
class Audit:
    """Collects audit rows as (table, columns)."""

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, row: Row) -> None:
        self.rows.append((row.__table__, msgspec.structs.asdict(row)))

    def table(self, name: str) -> list[dict[str, Any]]:
        return [row for table, row in self.rows if table == name]


@dataclass
class PublicFeed:
    bus: Bus
    connection: Connection
    marketdata: MarketData
    audit: Audit


@asynccontextmanager
async def public_feed(
    url: str, config: MarketDataConfig, **connection: Any
) -> AsyncIterator[PublicFeed]:
    bus = Bus()
    audit = Audit()
    send, receive = trio.open_memory_channel[Frame](10_000)
    conn_config = ConnectionConfig(name="public", url=url, seed=1, **connection)
    holder: dict[str, MarketData] = {}

    async def on_connect(session: Any) -> None:
        await holder["md"].on_connect(session)

    recorder = Recorder(bus, audit)
    conn = Connection(conn_config, send, on_connect, recorder)
    md = MarketData(config, recorder, conn.metrics)
    holder["md"] = md
    async with trio.open_nursery() as nursery:
        await nursery.start(md.run, receive)
        await nursery.start(conn.run)
        yield PublicFeed(bus, conn, md, audit)
        nursery.cancel_scope.cancel()


@dataclass
class PrivateFeed:
    bus: Bus
    connection: Connection
    stream: Any  # PrivateStream
    rest: Any  # KrakenRest
    audit: Audit


@asynccontextmanager
async def private_feed(sim: Any, **private: Any) -> AsyncIterator[PrivateFeed]:
    from galfriday.kraken.auth import decode_secret
    from galfriday.kraken.rest import KrakenRest, RestConfig
    from galfriday.live.private import PrivateConfig, PrivateStream
    from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

    bus = Bus()
    audit = Audit()
    send, receive = trio.open_memory_channel[Frame](10_000)
    rest = KrakenRest(
        RestConfig(
            base_url=sim.urls.rest,
            api_key=DEFAULT_API_KEY,
            secret=decode_secret(DEFAULT_API_SECRET),
            retry_base=0.1,
        )
    )
    holder: dict[str, Any] = {}

    async def on_connect(session: Any) -> None:
        await holder["stream"].on_connect(session)

    async def prepare() -> None:
        await holder["stream"].prepare()

    recorder = Recorder(bus, audit)
    conn = Connection(
        ConnectionConfig(name="private", url=sim.urls.ws_private, seed=1),
        send,
        on_connect,
        recorder,
        prepare=prepare,
        on_disconnect=lambda: holder["stream"].disconnected(),
    )
    stream = PrivateStream(PrivateConfig(**private), recorder, conn.metrics, rest)
    stream.request_reconnect = conn.reconnect
    holder["stream"] = stream
    async with rest, trio.open_nursery() as nursery:
        await nursery.start(stream.run, receive)
        await nursery.start(conn.run)
        with trio.fail_after(10):
            await stream.snapshots.wait()
        yield PrivateFeed(bus, conn, stream, rest, audit)
        nursery.cancel_scope.cancel()
