"""Small figures: python-kraken-sdk's order-book handler beside galfriday's, the audit
writer's durable throughput, and ``galfriday --help`` start-up time."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from galfriday.audit.store import AuditStore, AuditWriter
from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.kraken.wire import BookMessage, FrameDecoder
from tests.bench.frames import BookTraffic


def galfriday_book_handler(traffic: BookTraffic, depth: int = 10) -> dict[str, float]:
    """Decode + apply + checksum per update, µs (mean over the traffic, best of 3)."""
    best = float("inf")
    for _ in range(3):
        decoder = FrameDecoder()
        books: dict[str, OrderBook] = {}
        for frame in traffic.snapshots:
            message = decoder.decode(frame)
            assert isinstance(message, BookMessage)
            data = message.data[0]
            pp, qp = traffic.books[data.symbol]
            books[data.symbol] = OrderBook(data.symbol, depth, pp, qp)
            books[data.symbol].apply(data, snapshot=True)
        bad = 0
        match = BookCheck.MATCH  # bound once, as the engine's modules do
        started = time.perf_counter()
        for frame in traffic.updates:
            message = decoder.decode(frame)
            for data in message.data:  # type: ignore[union-attr]
                bad += books[data.symbol].apply(data, snapshot=False) is not match
        best = min(best, time.perf_counter() - started)
        if bad:
            raise SystemExit(f"bench traffic is broken: {bad} checksum mismatches")
    return {"us_per_update": best / len(traffic.updates) * 1e6}


def sdk_book_handler(traffic: BookTraffic, depth: int = 10) -> dict[str, float]:
    """python-kraken-sdk's ``SpotOrderBookClient.on_message`` on the same frames (its client
    parses each frame with ``json.loads`` first), µs per update, best of 3. Its pair precisions
    are filled in beforehand, where it would otherwise ask Kraken's REST API."""
    from kraken.spot.orderbook import SpotOrderBookClient

    async def once() -> tuple[float, int]:
        client = SpotOrderBookClient(depth=depth, callback=lambda pair, message: None)
        book: dict[str, Any] = client._SpotOrderBookClient__book  # type: ignore[attr-defined]
        for symbol, (pp, qp) in traffic.books.items():
            book[symbol] = {
                "bid": {},
                "ask": {},
                "valid": True,
                "price_decimals": pp,
                "qty_decimals": qp,
            }
        for frame in traffic.snapshots:
            await client.on_message(json.loads(frame))
        started = time.perf_counter()
        for frame in traffic.updates:
            await client.on_message(json.loads(frame))
        elapsed = time.perf_counter() - started
        invalid = sum(not b["valid"] for b in book.values())
        await client.close()
        return elapsed, invalid

    best = float("inf")
    for _ in range(3):
        elapsed, invalid = asyncio.run(once())
        if invalid:
            raise SystemExit(f"python-kraken-sdk found {invalid} invalid books")
        best = min(best, elapsed)
    return {"us_per_update": best / len(traffic.updates) * 1e6}


def audit_throughput(rows: int = 200_000) -> dict[str, float]:
    """Rows per second through the audit writer into a file database (WAL), until committed.

    Rows are queued with ``write_nowait`` a thousand between checkpoints, as the engine's
    processors queue them."""

    async def run(path: Path) -> float:
        writer = AuditWriter(AuditStore(path))
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            started = time.perf_counter()
            for i in range(rows):
                if i % 1000 == 0:  # as the engine's tasks do: rows between checkpoints
                    await trio.lowlevel.checkpoint()
                    if writer.queued - writer.written > 50_000:
                        await writer.flush()
                writer.write_nowait(
                    "order_events",
                    at_wall=1.7e9 + i,
                    order_id=f"O{i % 5000:06d}",
                    exec_type="trade",
                    status="partially_filled",
                    previous_status="new",
                    cum_qty="0.00010000",
                    avg_price="65000.1",
                )
            await writer.flush()
            elapsed = time.perf_counter() - started
            nursery.cancel_scope.cancel()
        writer.store.close()
        return elapsed

    with tempfile.TemporaryDirectory() as folder:
        elapsed = trio.run(run, Path(folder) / "a.db")
    return {"rows_per_s": rows / elapsed, "rows": rows}


def help_startup(repeat: int = 7) -> dict[str, float]:
    """Wall time of ``galfriday --help`` in a fresh interpreter (median, best)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "galfriday", "--help"], check=True, capture_output=True
        )
        times.append(time.perf_counter() - started)
    return {"median_ms": statistics.median(times) * 1000, "best_ms": min(times) * 1000}
