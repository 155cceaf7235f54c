"""WebSocket v2 requests as the simulator reads them, and the replies they get (sans-IO).

A frame decodes into a :class:`Request` with typed :class:`Params`; one that does not gets
Kraken's error shapes (:func:`decode_request`). The rest is what a request asks for, checked
the way Kraken checks it: a subscription's option (book depth, OHLC interval, ticker trigger),
the order of an ``add_order``, the keys of a ``cancel_order``, and the replies: the ack, the
pong, and ``cancel_all_orders_after``'s own shape (its trigger time is the string ``"0"`` when
disarmed). Times come from the caller's ``wall``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import msgspec

from galfriday.kraken import wire
from galfriday.kraken.requests import BOOK_DEPTHS, OHLC_INTERVALS
from galfriday.sim import frames
from galfriday.sim.exchange import OrderRequest
from galfriday.sim.frames import rfc3339

__all__ = [
    "MAX_CANCEL_AFTER",
    "PRIVATE_CHANNELS",
    "PUBLIC_CHANNELS",
    "TRADING",
    "Params",
    "Request",
    "ack",
    "bad_channel",
    "cancel_keys",
    "dead_man_reply",
    "decode_request",
    "order_request",
    "pong",
    "subscription_option",
]

PUBLIC_CHANNELS: Final = frozenset({"book", "ticker", "trade", "ohlc", "instrument"})
PRIVATE_CHANNELS: Final = frozenset({"executions", "balances"})
TRADING: Final = frozenset({"add_order", "cancel_order", "cancel_all", "cancel_all_orders_after"})
MAX_CANCEL_AFTER: Final = 86400


class Params(msgspec.Struct, kw_only=True):
    channel: str | None = None
    symbol: list[str] | str | None = None
    depth: int | None = None
    snapshot: bool | None = None
    interval: int | None = None
    event_trigger: str | None = None
    token: str | None = None
    snap_orders: bool | None = None
    snap_trades: bool | None = None
    order_type: str | None = None
    side: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    time_in_force: str | None = None
    post_only: bool | None = None
    validate: bool | None = None
    cl_ord_id: list[str] | str | None = None
    order_id: list[str] | None = None
    order_userref: list[int] | int | None = None
    timeout: int | None = None
    expire_time: datetime | None = None


class Request(msgspec.Struct, kw_only=True):
    method: str
    params: Params | None = None
    req_id: int | None = None


_REQUEST: Final = msgspec.json.Decoder(Request)
_ENVELOPE: Final = msgspec.json.Decoder(dict[str, object])


def _stamp(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


def _seconds(wall: float) -> str:
    """``2023-10-06T17:35:55Z``: an epoch time to the second, as the dead-man reply has it."""
    return _stamp(wall).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def decode_request(raw: bytes, wall: float) -> Request | bytes | None:
    """The request in ``raw``; else the error frame its sender gets (``bytes``) when it is
    JSON of the wrong shape, or None when it is not JSON at all ("Malformed request")."""
    try:
        return _REQUEST.decode(raw)
    except msgspec.ValidationError as exc:
        error = f"EGeneral:Invalid arguments ({exc})"
        return frames.error_response(_method(raw), error, _req_id(raw), wall)
    except msgspec.DecodeError:
        return None


def ack(method: str, req_id: int | None, wall: float, **result: object) -> bytes:
    """A successful reply carrying ``result``."""
    stamp = _stamp(wall)
    response = wire.Response(
        method=method,
        success=True,
        req_id=req_id,
        time_in=stamp,
        time_out=stamp,
        result=wire.ResponseResult(**result),  # type: ignore[arg-type]
    )
    return frames.encode(response)


def pong(req_id: int | None, wall: float) -> bytes:
    stamp = _stamp(wall)
    return frames.encode(wire.Response(method="pong", req_id=req_id, time_in=stamp, time_out=stamp))


def bad_channel(channel: str | None) -> str:
    return "Subscription name invalid" if channel else "Malformed request"


def subscription_option(channel: str, params: Params) -> tuple[object, str | None]:
    """The option a public subscription is keyed by (depth, interval, trigger, or None), or
    the error for an option Kraken does not offer."""
    if channel == "book":
        depth = params.depth or 10
        return depth, None if depth in BOOK_DEPTHS else "EGeneral:Invalid arguments:depth"
    if channel == "ohlc":
        interval = params.interval or 1
        error = None if interval in OHLC_INTERVALS else "EGeneral:Invalid arguments:interval"
        return interval, error
    if channel == "ticker":
        trigger = params.event_trigger or "trades"
        error = None if trigger in ("trades", "bbo") else "EGeneral:Invalid arguments:event_trigger"
        return trigger, error
    return None, None


def order_request(params: Params) -> OrderRequest | str:
    """The order an ``add_order`` asks for, or the error for a request that names none."""
    if params.cl_ord_id is not None and params.order_userref is not None:
        return "EGeneral:Invalid arguments:cl_ord_id and order_userref"
    symbol = params.symbol
    if (
        params.order_type is None
        or params.side is None
        or params.order_qty is None
        or not isinstance(symbol, str)
    ):
        return "EGeneral:Invalid arguments"
    return OrderRequest(
        symbol=symbol,
        side=params.side,
        order_type=params.order_type,
        qty=params.order_qty,
        limit_price=params.limit_price,
        cl_ord_id=params.cl_ord_id if isinstance(params.cl_ord_id, str) else None,
        order_userref=params.order_userref if isinstance(params.order_userref, int) else None,
        time_in_force=params.time_in_force or "gtc",
        post_only=bool(params.post_only),
        expire_at=params.expire_time.timestamp() if params.expire_time else None,
    )


def cancel_keys(params: Params) -> tuple[list[str], list[str], list[int]]:
    """The order ids, ``cl_ord_id``\\ s and ``order_userref``\\ s a ``cancel_order`` names."""
    return params.order_id or [], _as_list(params.cl_ord_id), _as_list(params.order_userref)


def dead_man_reply(method: str, req_id: int | None, wall: float, trigger: float | None) -> bytes:
    """``cancel_all_orders_after``'s reply; ``trigger`` None: disarmed (Kraken answers the
    string ``"0"`` where the trigger time would be)."""
    stamp = rfc3339(wall)
    result = {
        "currentTime": _seconds(wall),
        "triggerTime": _seconds(trigger) if trigger is not None else "0",
    }
    reply = {"method": method, "req_id": req_id, "result": result, "success": True,
             "time_in": stamp, "time_out": stamp}  # fmt: skip
    return msgspec.json.encode(reply)


def _as_list(value: list[str] | str | list[int] | int | None) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _req_id(raw: bytes) -> int | None:
    try:
        value = _ENVELOPE.decode(raw).get("req_id")
    except msgspec.MsgspecError:
        return None
    return value if isinstance(value, int) else None


def _method(raw: bytes) -> str:
    try:
        value = _ENVELOPE.decode(raw).get("method")
    except msgspec.MsgspecError:
        return "unknown"
    return value if isinstance(value, str) else "unknown"
