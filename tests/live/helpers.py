"""Wiring for live tests: a connection and a processor against a running simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from galfriday.bus import Bus
from galfriday.live.connection import Connection, ConnectionConfig, Frame
from galfriday.live.marketdata import MarketData, MarketDataConfig


@dataclass
class Audit:
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, table: str, **row: Any) -> None:
        self.rows.append((table, row))

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

    conn = Connection(conn_config, send, on_connect, bus, audit=audit)
    md = MarketData(config, bus, conn.metrics, audit=audit)
    holder["md"] = md
    async with trio.open_nursery() as nursery:
        await nursery.start(md.run, receive)
        await nursery.start(conn.run)
        yield PublicFeed(bus, conn, md, audit)
        nursery.cancel_scope.cancel()
