"""Kraken WebSocket v2 requests: build and encode what galfriday sends.

Every builder checks Kraken's documented rules before anything is encoded and raises
:class:`~galfriday.errors.InvalidRequest` when one is broken, so a bad request never reaches the
wire. Decimals are written as JSON numbers in fixed-point with their exact digits (``26500.40``
stays ``26500.40``, ``1E-7`` is written ``0.0000001``: Kraken reads no exponents); a number that
is not finite, or would need more than a hundred digits, is refused. :func:`fixed` writes a
Decimal the same way for REST parameters. The token is a secret: these bytes must pass through
capture redaction.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

import msgspec

from galfriday.errors import InvalidRequest

__all__ = [
    "BOOK_DEPTHS",
    "MAX_DIGITS",
    "OHLC_INTERVALS",
    "AddOrder",
    "AmendOrder",
    "Request",
    "SubscriptionParams",
    "add_order",
    "amend_order",
    "cancel_all",
    "cancel_all_orders_after",
    "cancel_order",
    "encode",
    "fixed",
    "ping",
    "subscribe",
    "unsubscribe",
]

BOOK_DEPTHS: Final = frozenset({10, 25, 100, 500, 1000})
OHLC_INTERVALS: Final = frozenset({1, 5, 15, 30, 60, 240, 1440, 10080, 21600})
PUBLIC_CHANNELS: Final = frozenset({"book", "ticker", "trade", "ohlc", "instrument"})
PRIVATE_CHANNELS: Final = frozenset({"executions", "balances"})
ORDER_TYPES: Final = frozenset(
    {
        "market",
        "limit",
        "iceberg",
        "stop-loss",
        "stop-loss-limit",
        "take-profit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
        "settle-position",
    }
)
MAX_CANCEL_AFTER_SECONDS: Final = 86400


class _Params(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    pass


class SubscriptionParams(_Params, frozen=True, kw_only=True):
    """The params of subscribe/unsubscribe; ``None`` fields are left out of the frame."""

    channel: str
    symbol: list[str] | None = None
    depth: int | None = None
    interval: int | None = None
    snapshot: bool | None = None
    event_trigger: str | None = None
    token: str | None = None
    snap_orders: bool | None = None
    snap_trades: bool | None = None
    order_status: bool | None = None
    ratecounter: bool | None = None


class AddOrder(_Params, frozen=True, kw_only=True):
    """The params of ``add_order`` (without the token). Use ``cl_ord_id`` xor ``order_userref``."""

    order_type: str
    side: str
    order_qty: Decimal
    symbol: str
    limit_price: Decimal | None = None
    time_in_force: str | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    validate: bool | None = None
    deadline: str | None = None


class _AddOrderParams(AddOrder, frozen=True, kw_only=True):
    token: str


class AmendOrder(_Params, frozen=True, kw_only=True):
    """The params of ``amend_order`` (without the token): the order by ``order_id`` xor
    ``cl_ord_id``, and its new terms. ``order_qty`` is the new total quantity (filled part
    included); Kraken's page marks it required, so send the current quantity when only the
    price changes. ``post_only``: refuse the amend rather than let the new price take
    liquidity."""

    order_id: str | None = None
    cl_ord_id: str | None = None
    order_qty: Decimal
    limit_price: Decimal | None = None
    post_only: bool | None = None
    deadline: str | None = None


class _AmendOrderParams(AmendOrder, frozen=True, kw_only=True):
    token: str


class _CancelParams(_Params, frozen=True, kw_only=True):
    token: str
    order_id: list[str] | None = None
    cl_ord_id: list[str] | None = None
    order_userref: list[int] | None = None


class _TokenParams(_Params, frozen=True, kw_only=True):
    token: str


class _CancelAfterParams(_Params, frozen=True, kw_only=True):
    timeout: int
    token: str


class Request(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    method: str
    params: _Params | None = None
    req_id: int | None = None


MAX_DIGITS: Final = 100  # either side of the point; no price or quantity comes near
_ENCODER: Final = msgspec.json.Encoder()


def fixed(value: Decimal) -> str:
    """``value`` in fixed-point, never with an exponent: ``Decimal("1.234E-7")`` ->
    ``"0.0000001234"``, ``Decimal("1E+3")`` -> ``"1000"``; trailing zeros are kept.

    Raises:
        InvalidRequest: ``value`` is not finite (NaN, sNaN, Infinity), or would need more
            than :data:`MAX_DIGITS` digits before or after the point.
    """
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # "n", "N" or "F": NaN, sNaN, Infinity
        raise InvalidRequest(f"{value} is not a finite number")
    if (value and value.adjusted() >= MAX_DIGITS) or -exponent > MAX_DIGITS:
        raise InvalidRequest(f"{value} needs more than {MAX_DIGITS} digits")
    return format(value, "f")


def _fixed_point(params: _Params) -> _Params:
    """``params`` with every Decimal replaced by its fixed-point JSON number."""
    numbers = {
        name: msgspec.Raw(fixed(value).encode())
        for name in params.__struct_fields__
        if isinstance(value := getattr(params, name), Decimal)
    }
    return msgspec.structs.replace(params, **numbers) if numbers else params


def encode(request: Request) -> bytes:
    """The JSON bytes of a request, its Decimals written by :func:`fixed`.

    Raises:
        InvalidRequest: a Decimal :func:`fixed` refuses.
    """
    if request.params is not None:
        request = msgspec.structs.replace(request, params=_fixed_point(request.params))
    return _ENCODER.encode(request)


def _check_subscription(params: SubscriptionParams) -> None:
    channel = params.channel
    if channel not in PUBLIC_CHANNELS and channel not in PRIVATE_CHANNELS:
        raise InvalidRequest(f"unknown channel {channel!r}")
    if channel in PRIVATE_CHANNELS and not params.token:
        raise InvalidRequest(f"channel {channel!r} needs a token")
    if channel in {"book", "ticker", "trade", "ohlc"} and not params.symbol:
        raise InvalidRequest(f"channel {channel!r} needs at least one symbol")
    if params.depth is not None and params.depth not in BOOK_DEPTHS:
        raise InvalidRequest(f"book depth {params.depth} is not one of {sorted(BOOK_DEPTHS)}")
    if params.interval is not None and params.interval not in OHLC_INTERVALS:
        raise InvalidRequest(
            f"ohlc interval {params.interval} is not one of {sorted(OHLC_INTERVALS)}"
        )
    if channel == "ohlc" and params.interval is None:
        raise InvalidRequest("channel 'ohlc' needs an interval")


def subscribe(params: SubscriptionParams, req_id: int) -> bytes:
    """A ``subscribe`` request. Kraken answers with one ack per symbol."""
    _check_subscription(params)
    return encode(Request(method="subscribe", params=params, req_id=req_id))


def unsubscribe(params: SubscriptionParams, req_id: int) -> bytes:
    """An ``unsubscribe`` request: keyed like the subscription (``depth`` / ``interval``).

    ``snapshot``, ``event_trigger`` and the private snapshot flags are subscribe-only and are
    dropped here.
    """
    _check_subscription(params)
    keyed = msgspec.structs.replace(
        params, snapshot=None, event_trigger=None, snap_orders=None, snap_trades=None
    )
    return encode(Request(method="unsubscribe", params=keyed, req_id=req_id))


def ping(req_id: int) -> bytes:
    """An application-level ``ping``; Kraken answers ``pong`` with the same ``req_id``."""
    return encode(Request(method="ping", req_id=req_id))


def add_order(order: AddOrder, token: str, req_id: int) -> bytes:
    """An ``add_order`` request."""
    for value in (order.order_qty, order.limit_price):
        if value is not None:
            fixed(value)  # a NaN must not reach the comparisons below
    if order.order_type not in ORDER_TYPES:
        raise InvalidRequest(f"unknown order_type {order.order_type!r}")
    if order.side not in ("buy", "sell"):
        raise InvalidRequest(f"side must be 'buy' or 'sell', not {order.side!r}")
    if order.order_qty <= 0:
        raise InvalidRequest("order_qty must be positive")
    if order.order_type == "limit" and order.limit_price is None:
        raise InvalidRequest("a limit order needs a limit_price")
    if order.limit_price is not None and order.limit_price <= 0:
        raise InvalidRequest("limit_price must be positive")
    if order.cl_ord_id is not None and order.order_userref is not None:
        raise InvalidRequest("cl_ord_id and order_userref are mutually exclusive")
    params = _AddOrderParams(**msgspec.structs.asdict(order), token=token)
    return encode(Request(method="add_order", params=params, req_id=req_id))


def amend_order(amend: AmendOrder, token: str, req_id: int) -> bytes:
    """An ``amend_order`` request: the order keeps its ids and fills; Kraken answers once
    (``result.amend_id``) and reports ``exec_type: amended`` on ``executions``."""
    for value in (amend.order_qty, amend.limit_price):
        if value is not None:
            fixed(value)  # a NaN must not reach the comparisons below
    if (amend.order_id is None) == (amend.cl_ord_id is None):
        raise InvalidRequest("amend_order needs exactly one of order_id and cl_ord_id")
    if amend.order_qty <= 0:
        raise InvalidRequest("order_qty must be positive")
    if amend.limit_price is not None and amend.limit_price <= 0:
        raise InvalidRequest("limit_price must be positive")
    params = _AmendOrderParams(**msgspec.structs.asdict(amend), token=token)
    return encode(Request(method="amend_order", params=params, req_id=req_id))


def cancel_order(
    token: str,
    req_id: int,
    *,
    order_ids: Sequence[str] = (),
    cl_ord_ids: Sequence[str] = (),
    order_userrefs: Sequence[int] = (),
) -> bytes:
    """A ``cancel_order`` request; Kraken answers once per cancelled order."""
    if not (order_ids or cl_ord_ids or order_userrefs):
        raise InvalidRequest("cancel_order needs at least one order_id, cl_ord_id or userref")
    params = _CancelParams(
        token=token,
        order_id=list(order_ids) or None,
        cl_ord_id=list(cl_ord_ids) or None,
        order_userref=list(order_userrefs) or None,
    )
    return encode(Request(method="cancel_order", params=params, req_id=req_id))


def cancel_all(token: str, req_id: int) -> bytes:
    """A ``cancel_all`` request; the answer's ``result.count`` says how many were cancelled."""
    return encode(Request(method="cancel_all", params=_TokenParams(token=token), req_id=req_id))


def cancel_all_orders_after(timeout: int, token: str, req_id: int) -> bytes:
    """Arm (or with ``timeout=0`` disarm) the dead-man switch for ``timeout`` seconds."""
    if not 0 <= timeout < MAX_CANCEL_AFTER_SECONDS:
        raise InvalidRequest(f"timeout must be 0..{MAX_CANCEL_AFTER_SECONDS - 1} seconds")
    params = _CancelAfterParams(timeout=timeout, token=token)
    return encode(Request(method="cancel_all_orders_after", params=params, req_id=req_id))
