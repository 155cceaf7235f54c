"""The JSON API: what the engine knows, read over HTTP (issue 17 item 3).

Routes (all JSON; Decimals as strings, see :mod:`galfriday.web.jsonio`):

========================================= ==================================================
GET    /api/status                        connections, books, orders, audit, readiness
GET    /api/books/{symbol}                one book (``BTC%2FUSD``): bids/asks ``[[price,
                                          qty], ...]`` best first, ``verified``; ``?depth=``
GET    /api/orders                        open orders (``?open=0``: every order known)
GET    /api/fills                         the newest fills first, from the audit trail
                                          (``?limit=``, default 100)
GET    /api/balances                      spot balances by asset
GET    /api/positions                     each pair's base holding, its mid and value
GET    /api/reconciliations               the newest runs first (``?limit=``, default 20)
GET    /api/reviews                       open review items (``?status=all|resolved|...``)
POST   /api/reviews/{id}/resolve          a person's decision (:mod:`galfriday.web.trading`)
GET    /api/alerts                        the newest alerts first (``?limit=``, default 50)
GET    /api/events                        every bus event, Server-Sent Events
                                          (:mod:`galfriday.web.events`)
POST   /api/orders, DELETE /api/orders/{id} trading (:mod:`galfriday.web.trading`)
========================================= ==================================================

Rules:
- Handlers read the engine's memory directly and never block; what lives only in the audit
  database (fills, runs, reviews, alerts) is read in the audit writer's thread
  (:meth:`~galfriday.audit.writer.AuditWriter.read`).
- An engine without keys (market data only) answers the account routes with empty lists.
- A bad query parameter is a 400; an unknown pair a 404.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import msgspec
import trio
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from galfriday.audit import queries
from galfriday.version import version
from galfriday.web.events import events
from galfriday.web.jsonio import JSON, BadRequest, error, reading
from galfriday.web.probes import health_verdict, readiness
from galfriday.web.trading import cancel_order, place_order, resolve_review

if TYPE_CHECKING:
    from galfriday.live.engine import Engine

__all__ = ["api_routes", "book_body", "int_param", "status_body"]

DEFAULT_DEPTH: Final = 10
MAX_DEPTH: Final = 1000
MAX_LIMIT: Final = 10_000


def api_routes() -> list[BaseRoute]:
    """Every route of the JSON API (the table in the module docstring)."""
    return [
        Route("/api/status", status),
        Route("/api/books/{symbol:path}", book),
        Route("/api/orders", orders, methods=["GET"]),
        Route("/api/orders", place_order, methods=["POST"]),
        Route("/api/orders/{order_id:path}", cancel_order, methods=["DELETE"]),
        Route("/api/fills", fills),
        Route("/api/balances", balances),
        Route("/api/positions", positions),
        Route("/api/reconciliations", reconciliations),
        Route("/api/reviews", reviews),
        Route("/api/reviews/{item_id}/resolve", resolve_review, methods=["POST"]),
        Route("/api/alerts", alerts),
        Route("/api/events", events),
    ]


def int_param(request: Request, name: str, default: int, most: int = MAX_LIMIT) -> int:
    """A query parameter as an int from 1 to ``most``.

    Raises:
        BadRequest: not such an int (400).
    """
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(400, f"{name} must be a whole number, not {raw!r}") from None
    if not 1 <= value <= most:
        raise BadRequest(400, f"{name} must be 1 to {most}")
    return value


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def status_body(engine: Engine, allow_trading: bool) -> dict[str, Any]:
    """``/api/status``: the engine at a glance (what ``galfriday status`` shows, live)."""
    healthy, health = health_verdict(engine)
    waiting = readiness(engine)
    books = engine.marketdata.books
    account = engine.account
    capture = engine.capture
    now = trio.current_time()
    connections = health["connections"]
    for connection in (engine.public, engine.private):
        if connection is not None:
            entry = connections[connection.config.name]
            entry["rate"] = round(connection.metrics.rate(now), 1)
            entry["reconnects"] = connection.metrics.reconnects
    return {
        "version": version(),
        "healthy": healthy,
        "ready": not waiting,
        "waiting": waiting,
        "trading": engine.gateway is not None and engine.config.trading,
        "http_trading": allow_trading,
        "connections": connections,
        "books": {
            "total": len(books),
            "verified": sum(1 for feed in books.values() if feed.verified),
            "symbols": sorted(books),
        },
        "orders_open": len(account.orders.open_orders()) if account is not None else 0,
        "fills": account.orders.fills if account is not None else 0,
        "audit": {**health["audit"], "written": engine.audit.written,
                  "waiting": engine.audit.rows_waiting, "lost": engine.audit.lost},
        "capture": None if capture is None else {
            "dropped": capture.dropped, "failing": bool(capture.failing)},
        "summary": engine.summary(),
    }  # fmt: skip


async def status(request: Request) -> JSON:
    return JSON(status_body(_engine(request), request.app.state.http.allow_trading))


def book_body(engine: Engine, symbol: str, depth: int) -> dict[str, Any] | None:
    """``/api/books/{symbol}``; ``None`` for a pair the engine does not follow."""
    feed = engine.marketdata.books.get(symbol)
    if feed is None:
        if symbol not in engine.marketdata.symbols:
            return None
        return {"symbol": symbol, "bids": [], "asks": [], "verified": False}
    book = feed.book
    bids, asks = book.top_levels(depth)
    price, qty = book.price_of, book.qty_of
    return {
        "symbol": symbol,
        "bids": [[price(p), qty(q)] for p, q in bids],
        "asks": [[price(p), qty(q)] for p, q in asks],
        "verified": feed.verified and not feed.resyncing,
    }


async def book(request: Request) -> JSON:
    depth = int_param(request, "depth", DEFAULT_DEPTH, MAX_DEPTH)
    symbol = request.path_params["symbol"]
    body = book_body(_engine(request), symbol, depth)
    if body is None:
        return error(404, f"{symbol} is not followed (see /api/status books.symbols)")
    return JSON(body)


async def orders(request: Request) -> JSON:
    account = _engine(request).account
    open_only = request.query_params.get("open", "1") not in ("0", "false", "no")
    if account is None:
        return JSON([])
    known = account.orders.open_orders() if open_only else account.orders.orders()
    return JSON(list(known))


async def balances(request: Request) -> JSON:
    account = _engine(request).account
    return JSON({} if account is None else dict(sorted(account.portfolio.balances.items())))


async def positions(request: Request) -> JSON:
    """Each followed pair's base holding, valued at the book's mid (``null`` without one), and
    its P&L since the engine started (``null`` before its first fill)."""
    engine = _engine(request)
    account = engine.account
    if account is None:
        return JSON([])
    out = []
    figures = engine.state.pnl_figures()
    for symbol in engine.pairs:
        held = account.portfolio.position(symbol)
        mid = _mid(engine, symbol)
        value = None if mid is None else held * mid
        pnl = figures.get(symbol)
        row = None if pnl is None else {**msgspec.structs.asdict(pnl), "net": pnl.net}
        out.append({"symbol": symbol, "qty": held, "mid": mid, "value": value, "pnl": row})
    return JSON(out)


def _mid(engine: Engine, symbol: str) -> Decimal | None:
    feed = engine.marketdata.books.get(symbol)
    if feed is None or not feed.verified:
        return None
    bids, asks = feed.book.top_levels(1)
    if not bids or not asks:
        return None
    return (feed.book.price_of(bids[0][0]) + feed.book.price_of(asks[0][0])) / 2


async def _rows(request: Request, sql: str, limit: int) -> list[dict[str, Any]]:
    def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        return [dict(row) for row in conn.execute(sql, (limit,)).fetchall()]

    return await _engine(request).audit.read(reading(query))


async def fills(request: Request) -> JSON:
    limit = int_param(request, "limit", 100)
    sql = "SELECT * FROM fills ORDER BY at_wall DESC, rowid DESC LIMIT ?"
    return JSON(await _rows(request, sql, limit))


async def alerts(request: Request) -> JSON:
    limit = int_param(request, "limit", 50)
    sql = "SELECT * FROM alerts ORDER BY id DESC LIMIT ?"
    return JSON(await _rows(request, sql, limit))


async def reconciliations(request: Request) -> JSON:
    limit = int_param(request, "limit", 20)
    runs = await _engine(request).audit.read(reading(lambda conn: queries.runs(conn, limit)))
    return JSON(runs)


async def reviews(request: Request) -> JSON:
    wanted = request.query_params.get("status", "open")
    chosen = None if wanted == "all" else wanted
    items = await _engine(request).audit.read(
        reading(lambda conn: queries.review_items(conn, chosen))
    )
    return JSON(items)
