"""The API's writes: orders placed and cancelled, review items decided.

Rules:
- Every write needs the token (:mod:`galfriday.web.guard` refuses a write without
  ``Authorization: Bearer <http.token>``, and every write when no token is configured: a
  custom header is also what keeps a web page in a browser from posting here).
- Orders additionally need ``http.allow_trading = true`` and an engine that trades
  (credentials, not ``--read-only``); otherwise 403 and nothing is sent.
- ``POST /api/orders`` takes ``{"symbol", "side", "qty", "price"?, "order_type"?,
  "post_only"?, "cl_ord_id"?}`` (quantities and prices as strings) and answers 201
  ``{"order_id", "cl_ord_id"}`` once Kraken accepted it. It goes through the engine's
  gateway, so it is never sent twice: an order whose fate is unknown answers 502 and waits
  in the review queue. ``DELETE /api/orders/{id}`` asks for a cancel (200; an order already
  closed is no error).
- ``POST /api/reviews/{id}/resolve`` takes ``{"decision": "accept-exchange" |
  "keep-internal", "note": "..."}``, like ``galfriday review resolve``; the engine applies
  it within seconds.
- Refusals map to statuses: the request itself 400, no such item 404, already decided 409,
  Kraken's refusal 422, the engine not trading now 503.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request

from galfriday.audit import queries
from galfriday.errors import (
    ConfigError,
    GalfridayError,
    InvalidRequest,
    KrakenApiError,
    OrderOutcomeUnknown,
    TradingHalted,
)
from galfriday.live.gateway import OrderGateway
from galfriday.web.jsonio import JSON, BadRequest, decode_body, error, reading

if TYPE_CHECKING:
    from galfriday.live.engine import Engine

__all__ = ["OrderRequest", "ResolveRequest", "cancel_order", "place_order", "resolve_review"]


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /api/orders``."""

    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None = None
    order_type: str = "limit"
    post_only: bool = False
    cl_ord_id: str | None = None


class ResolveRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /api/reviews/{id}/resolve``."""

    decision: str
    note: str


def _gateway(request: Request) -> OrderGateway:
    """The gateway, when orders over HTTP are allowed.

    Raises:
        BadRequest: 403, naming what is missing.
    """
    if not request.app.state.http.allow_trading:
        raise BadRequest(403, "orders over HTTP are off (set http.allow_trading = true)")
    engine: Engine = request.app.state.engine
    if engine.gateway is None or not engine.config.trading:
        raise BadRequest(403, "this engine does not trade (no credentials, or --read-only)")
    return engine.gateway


def _refusal(exc: GalfridayError) -> JSON:
    """A gateway's exception as the API's error."""
    if isinstance(exc, InvalidRequest):
        return error(400, str(exc))
    if isinstance(exc, TradingHalted):
        return error(503, str(exc))
    if isinstance(exc, OrderOutcomeUnknown):
        return error(502, f"{exc} (not sent again; see /api/reviews)")
    if isinstance(exc, KrakenApiError):
        return error(422, str(exc))
    return error(503, str(exc))


async def place_order(request: Request) -> JSON:
    gateway = _gateway(request)
    order = decode_body(await request.body(), OrderRequest)
    cl_ord_id = order.cl_ord_id or uuid.uuid4().hex
    try:
        order_id = await gateway.place(
            order.symbol, order.side, order.qty, order.price,
            order_type=order.order_type, cl_ord_id=cl_ord_id, post_only=order.post_only,
        )  # fmt: skip
    except GalfridayError as exc:
        return _refusal(exc)
    return JSON({"order_id": order_id, "cl_ord_id": cl_ord_id}, status_code=201)


async def cancel_order(request: Request) -> JSON:
    order_id = request.path_params["order_id"]
    gateway = _gateway(request)
    try:
        await gateway.cancel(order_id)
    except GalfridayError as exc:
        return _refusal(exc)
    return JSON({"order_id": order_id, "cancel": "requested"})


async def resolve_review(request: Request) -> JSON:
    item_id = request.path_params["item_id"]
    body = decode_body(await request.body(), ResolveRequest)
    if not body.note.strip():
        return error(400, "note: say why (it is kept in the audit trail)")
    engine: Engine = request.app.state.engine

    def decide(conn: sqlite3.Connection) -> tuple[int, Any]:
        item = queries.review_item(conn, item_id)
        if item is None:
            return 404, f"no review item {item_id}"
        if item["status"] != "open":
            return 409, f"{item_id} was already decided ({item['status']}: {item['decision']})"
        try:
            return 200, queries.resolve(conn, item_id, body.decision, body.note, time.time())
        except ConfigError as exc:
            return 400, f"decision: {exc.problem}"

    status, outcome = await engine.audit.read(reading(decide))
    if status != 200:
        return error(status, str(outcome))
    return JSON(outcome)
