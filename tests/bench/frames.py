"""Seeded, realistic Kraken book traffic for benchmarks: snapshots and updates with checksums.

Each pair's book is driven by random level changes near the top (inserts, size changes,
deletes); the checksum of every frame comes from applying the same changes to an OrderBook, so
a benchmark replaying the frames verifies every one of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from galfriday.kraken.book import OrderBook, format_scaled
from galfriday.kraken.wire import BookData, BookLevel

# symbol, mid price, price precision, qty precision
PAIRS = [
    ("BTC/USD", 65000.0, 1, 8),
    ("ETH/USD", 3400.0, 2, 8),
    ("XRP/USD", 0.52, 5, 8),
    ("DOGE/USD", 0.12, 7, 8),
    ("SOL/USD", 150.0, 2, 8),
    ("ADA/USD", 0.45, 6, 8),
    ("DOT/USD", 7.0, 4, 8),
    ("LTC/USD", 80.0, 2, 8),
    ("LINK/USD", 14.0, 5, 8),
    ("AVAX/USD", 35.0, 2, 8),
    ("ATOM/USD", 9.0, 4, 8),
    ("XLM/USD", 0.11, 6, 8),
    ("ETH/BTC", 0.052, 5, 8),
    ("BTC/EUR", 60000.0, 1, 8),
    ("ETH/EUR", 3100.0, 2, 8),
    ("UNI/USD", 7.5, 3, 8),
    ("BCH/USD", 450.0, 1, 8),
    ("TRX/USD", 0.12, 6, 8),
    ("MATIC/USD", 0.57, 4, 8),
    ("ALGO/USD", 0.18, 5, 8),
]


@dataclass
class BookTraffic:
    books: dict[str, tuple[int, int]]  # symbol -> (price precision, qty precision)
    snapshots: list[bytes]
    updates: list[bytes]


def _side_json(levels: list[tuple[int, int]], pp: int, qp: int) -> str:
    return ",".join(
        f'{{"price":{format_scaled(p, pp)},"qty":{format_scaled(q, qp)}}}' for p, q in levels
    )


def _frame(
    kind: str,
    symbol: str,
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    checksum: int,
    pp: int,
    qp: int,
) -> bytes:
    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}",'
        f'"bids":[{_side_json(bids, pp, qp)}],"asks":[{_side_json(asks, pp, qp)}],'
        f'"checksum":{checksum},"timestamp":"2026-11-24T09:00:00.000000Z"}}]}}'
    ).encode()


def _levels(changes: list[tuple[int, int]], pp: int, qp: int) -> list[BookLevel]:
    return [BookLevel(price=p / 10**pp, qty=q / 10**qp) for p, q in changes]


def make_traffic(
    pairs: int = 20, depth: int = 100, updates: int = 50_000, seed: int = 7
) -> BookTraffic:
    """Snapshots for ``pairs`` books at ``depth`` and ``updates`` update frames across them."""
    rng = random.Random(seed)
    truth: dict[str, OrderBook] = {}
    books: dict[str, tuple[int, int]] = {}
    snapshots = []
    for symbol, mid, pp, qp in PAIRS[:pairs]:
        book = OrderBook(symbol, depth, pp, qp)
        mid_ticks = round(mid * 10**pp)
        spread = max(1, mid_ticks // 20_000)
        bids = [(mid_ticks - spread - i, rng.randint(1, 5 * 10**qp)) for i in range(depth)]
        asks = [(mid_ticks + spread + i, rng.randint(1, 5 * 10**qp)) for i in range(depth)]
        book.apply(
            BookData(symbol=symbol, bids=_levels(bids, pp, qp), asks=_levels(asks, pp, qp)),
            snapshot=True,
        )
        snapshots.append(_frame("snapshot", symbol, bids, asks, book.checksum(), pp, qp))
        truth[symbol] = book
        books[symbol] = (pp, qp)
    symbols = list(truth)
    frames = []
    for _ in range(updates):
        symbol = rng.choice(symbols)
        book = truth[symbol]
        pp, qp = books[symbol]
        changes: dict[str, list[tuple[int, int]]] = {"bids": [], "asks": []}
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            side = rng.choice(("bids", "asks"))
            levels = book.bids() if side == "bids" else book.asks()
            if not levels:
                continue
            best = levels[0][0]
            offset = min(int(rng.expovariate(0.15)), depth - 1)
            price = best - offset if side == "bids" else best + offset
            action = rng.random()
            qty = 0 if action < 0.3 else rng.randint(1, 5 * 10**qp)
            if price <= 0:
                continue
            changes[side].append((price, qty))
        book.apply(
            BookData(
                symbol=symbol,
                bids=_levels(changes["bids"], pp, qp),
                asks=_levels(changes["asks"], pp, qp),
            ),
            snapshot=False,
        )
        frames.append(
            _frame("update", symbol, changes["bids"], changes["asks"], book.checksum(), pp, qp)
        )
    return BookTraffic(books, snapshots, frames)
