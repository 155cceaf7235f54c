"""Kraken REST answers: typed msgspec structs for every ``result`` the engine reads.

One function per method decodes its ``result`` (what follows ``"result":`` once the REST
client has raised for the errors): ``decode_balance`` (``Balance``), ``decode_balance_ex``,
``decode_open_orders``, ``decode_closed_orders``, ``decode_query_orders``,
``decode_trades_history``, ``decode_ledgers``, ``decode_websockets_token``
(``GetWebSocketsToken``), ``decode_add_order``, ``decode_cancel_order``, ``decode_asset_pairs``,
``decode_assets``, ``decode_server_time`` (``Time``) and ``decode_system_status``;
:func:`decode_answer` picks one by method name (:data:`ANSWER_DECODERS`).

Rules:
- ``result`` is either the JSON text of the result (bytes, str or ``msgspec.Raw``) or the
  object a JSON decoder made of it (dicts, lists, strings, numbers; Decimals when decoded with
  ``float_hook=Decimal``): both give the same structs.
- Money is ``Decimal``. Kraken writes REST numbers as strings mostly and as JSON numbers
  sometimes (``BalanceEx``): both are accepted. A number that is not finite or not below
  :data:`~galfriday.kraken.wire.MAX_MAGNITUDE` makes the answer unreadable.
- Times are ``float`` epoch seconds, as Kraken sends them (``1688666559.8974``): they are
  compared with the wall clock, and a float keeps them to the microsecond.
- Unknown fields are ignored and optional fields have defaults, so captures of older answers
  still decode. An answer that does not decode raises :class:`UnreadableAnswer` (an
  :class:`~galfriday.errors.ExchangeError`) naming the method and msgspec's path
  (``$.open[...].vol``); it never carries a value, so never a token.
- ``AssetPairs`` and ``Assets`` list every pair and asset (about a thousand): each entry is
  decoded on its own and one that does not decode is left out and listed in ``skipped``.

The converters to the core's types are in :mod:`galfriday.kraken.convert`.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, TypeVar

import msgspec

from galfriday.errors import ExchangeError
from galfriday.kraken.symbols import AssetPair
from galfriday.kraken.wire import SkippedEntry, bad_number

__all__ = [
    "ANSWER_DECODERS", "AddOrderDescr", "AddOrderResult", "AssetPairsAnswer", "AssetsAnswer",
    "BalanceExEntry", "CancelOrderResult", "ClosedOrders", "ExchangeStatus", "Ledgers",
    "OpenOrders", "OrderDescr", "RestAsset", "RestLedgerEntry", "RestOrder", "RestTrade",
    "ServerTime", "TradesHistory", "UnknownPair", "UnreadableAnswer", "WebSocketsToken",
    "decode_add_order", "decode_answer", "decode_asset_pairs", "decode_assets",
    "decode_balance", "decode_balance_ex", "decode_cancel_order", "decode_closed_orders",
    "decode_ledgers", "decode_open_orders", "decode_query_orders", "decode_server_time",
    "decode_system_status", "decode_trades_history", "decode_websockets_token",
]  # fmt: skip

_ZERO: Final = Decimal(0)
_T = TypeVar("_T")


class UnreadableAnswer(ExchangeError):
    """A REST answer that does not decode into its documented shape.

    Attributes:
        method: the REST method, e.g. ``OpenOrders``.
        path: where it failed, e.g. ``$.open[...].vol`` (msgspec does not name map keys).
        reason: msgspec's message (never a value from the answer).
    """

    def __init__(self, method: str, path: str, reason: str) -> None:
        super().__init__(f"unreadable answer to {method} at {path}: {reason}")
        self.method = method
        self.path = path
        self.reason = reason


class UnknownPair(ExchangeError):
    """A REST row names a pair the symbol map does not know (e.g. delisted, so missing from
    ``AssetPairs``): skip and count the row, never stop the whole backfill."""

    def __init__(self, pair: str, row: str) -> None:
        super().__init__(f"{row}: pair {pair!r} is not known (delisted?)")
        self.pair = pair
        self.row = row


class _Answer(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every REST struct: immutable, keyword-only."""


# --- account ---------------------------------------------------------------------------------


class BalanceExEntry(_Answer, frozen=True, kw_only=True):
    """One asset of ``BalanceEx``."""

    balance: Decimal
    hold_trade: Decimal = _ZERO
    credit: Decimal = _ZERO
    credit_used: Decimal = _ZERO

    @property
    def available(self) -> Decimal:
        """What can be traded: balance + credit - credit_used - hold_trade."""
        return self.balance + self.credit - self.credit_used - self.hold_trade


class OrderDescr(_Answer, frozen=True, kw_only=True):
    pair: str | None = None  # a REST pair name: XBTUSD, XXBTZUSD, ...
    type: str | None = None  # buy | sell
    ordertype: str | None = None
    price: Decimal | None = None  # the limit price (a trigger price for stop/take-profit)
    price2: Decimal | None = None  # the limit price of *-limit orders
    leverage: str | None = None
    order: str | None = None
    close: str | None = None


class RestOrder(_Answer, frozen=True, kw_only=True):
    """One order of ``OpenOrders``, ``ClosedOrders`` or ``QueryOrders``."""

    status: str  # pending | open | closed | canceled | expired
    vol: Decimal
    vol_exec: Decimal = _ZERO
    cost: Decimal = _ZERO
    fee: Decimal = _ZERO
    price: Decimal = _ZERO  # the average price of what was executed
    stopprice: Decimal | None = None
    limitprice: Decimal | None = None
    descr: OrderDescr = OrderDescr()
    opentm: float | None = None
    starttm: float | None = None
    expiretm: float | None = None
    closetm: float | None = None
    refid: str | None = None
    userref: int | None = None
    cl_ord_id: str | None = None
    misc: str = ""
    oflags: str = ""
    reason: str | None = None
    trades: list[str] = []


class OpenOrders(_Answer, frozen=True, kw_only=True):
    open: dict[str, RestOrder] = {}


class ClosedOrders(_Answer, frozen=True, kw_only=True):
    """One page (the 50 newest in the window); ``count`` is the total over all pages."""

    closed: dict[str, RestOrder] = {}
    count: int | None = None  # absent with without_count


class RestTrade(_Answer, frozen=True, kw_only=True):
    """One trade of ``TradesHistory`` (keyed by its trade id, ``T…``)."""

    ordertxid: str
    pair: str  # the canonical REST pair name, e.g. XXBTZUSD
    time: float
    type: str  # buy | sell
    price: Decimal
    cost: Decimal
    vol: Decimal
    fee: Decimal = _ZERO  # in the quote currency
    ordertype: str | None = None
    postxid: str | None = None
    margin: Decimal | None = None
    misc: str = ""
    trade_id: int | None = None
    maker: bool | None = None
    ledgers: list[str] = []


class TradesHistory(_Answer, frozen=True, kw_only=True):
    """One page (the 50 newest in the window); ``count`` is the total over all pages."""

    trades: dict[str, RestTrade] = {}
    count: int | None = None


class RestLedgerEntry(_Answer, frozen=True, kw_only=True):
    """One entry of ``Ledgers`` (keyed by its ledger id, ``L…``)."""

    time: float
    type: str
    asset: str  # a REST asset code, e.g. ZGBP, XBT.F
    amount: Decimal
    balance: Decimal
    fee: Decimal = _ZERO
    refid: str = ""  # the trade (or deposit, ...) it belongs to
    subtype: str = ""
    aclass: str | None = None


class Ledgers(_Answer, frozen=True, kw_only=True):
    """One page (the 50 newest in the window); ``count`` is the total over all pages."""

    ledger: dict[str, RestLedgerEntry] = {}
    count: int | None = None


class WebSocketsToken(_Answer, frozen=True, kw_only=True):
    token: str  # a secret: never log or capture it
    expires: int | None = None  # seconds


# --- trading ---------------------------------------------------------------------------------


class AddOrderDescr(_Answer, frozen=True, kw_only=True):
    order: str | None = None
    close: str | None = None


class AddOrderResult(_Answer, frozen=True, kw_only=True):
    txid: list[str] = []  # an array, though one order gets one id (empty with validate)
    descr: AddOrderDescr | None = None


class CancelOrderResult(_Answer, frozen=True, kw_only=True):
    count: int
    pending: bool | None = None


# --- public ----------------------------------------------------------------------------------


class RestAsset(_Answer, frozen=True, kw_only=True):
    """One asset of ``Assets`` (keyed by its REST code, e.g. XXBT)."""

    altname: str  # XBT for XXBT, USD for ZUSD, XDG for XXDG
    decimals: int
    display_decimals: int | None = None
    aclass: str | None = None
    collateral_value: Decimal | None = None
    margin_rate: Decimal | None = None
    status: str | None = None


class AssetPairsAnswer(_Answer, frozen=True, kw_only=True):
    pairs: dict[str, AssetPair] = {}
    skipped: list[SkippedEntry] = []


class AssetsAnswer(_Answer, frozen=True, kw_only=True):
    assets: dict[str, RestAsset] = {}
    skipped: list[SkippedEntry] = []


class ServerTime(_Answer, frozen=True, kw_only=True):
    unixtime: int
    rfc1123: str | None = None


class ExchangeStatus(_Answer, frozen=True, kw_only=True):
    status: str  # online | maintenance | cancel_only | post_only
    timestamp: datetime | None = None


# --- decoding --------------------------------------------------------------------------------

_JSON_TEXT: Final = (bytes, bytearray, memoryview, str, msgspec.Raw)
_BAD_NUMBER: Final = "a number that is not finite or not below 1e100"


def _decode(method: str, result: object, type_: type[_T]) -> _T:
    try:
        if isinstance(result, _JSON_TEXT):
            value = msgspec.json.decode(result, type=type_)
        else:
            value = msgspec.convert(result, type_)
    except msgspec.MsgspecError as exc:
        reason, at, where = str(exc).rpartition(" - at `")
        if not at:
            raise UnreadableAnswer(method, "$", str(exc)) from exc
        raise UnreadableAnswer(method, where.rstrip("`"), reason) from exc
    path = bad_number(value)
    if path is not None:
        raise UnreadableAnswer(method, path, _BAD_NUMBER)
    return value


def _decode_each(
    method: str, kind: str, result: object, type_: type[msgspec.Struct]
) -> tuple[dict[str, Any], list[SkippedEntry]]:
    """A map of entries decoded one by one; the ones that do not decode are skipped."""
    text = isinstance(result, _JSON_TEXT)
    shape: Any = dict[str, msgspec.Raw] if text else dict[str, Any]
    raws: dict[str, Any] = _decode(method, result, shape)
    entries: dict[str, Any] = {}
    skipped: list[SkippedEntry] = []
    for name, raw in raws.items():
        try:
            entries[name] = _decode(method, raw, type_)
        except UnreadableAnswer as exc:
            where, why = f"$.{name}{exc.path[1:]}", exc.reason
            preview = (bytes(raw) if text else msgspec.json.encode(raw, enc_hook=str))[:200]
            copy = preview.decode("utf-8", "replace")
            skipped.append(SkippedEntry(kind=kind, name=name, path=where, reason=why, raw=copy))
    return entries, skipped


def decode_balance(result: object) -> dict[str, Decimal]:
    """``Balance``: REST asset code (``XXBT``, ``XBT.F``, ``KFEE``) -> amount."""
    return _decode("Balance", result, dict[str, Decimal])


def decode_balance_ex(result: object) -> dict[str, BalanceExEntry]:
    """``BalanceEx``: REST asset code -> balance, hold_trade, credit, credit_used."""
    return _decode("BalanceEx", result, dict[str, BalanceExEntry])


def decode_open_orders(result: object) -> OpenOrders:
    return _decode("OpenOrders", result, OpenOrders)


def decode_closed_orders(result: object) -> ClosedOrders:
    return _decode("ClosedOrders", result, ClosedOrders)


def decode_query_orders(result: object) -> dict[str, RestOrder]:
    """``QueryOrders``: order id -> order (no wrapper object)."""
    return _decode("QueryOrders", result, dict[str, RestOrder])


def decode_trades_history(result: object) -> TradesHistory:
    return _decode("TradesHistory", result, TradesHistory)


def decode_ledgers(result: object) -> Ledgers:
    return _decode("Ledgers", result, Ledgers)


def decode_websockets_token(result: object) -> WebSocketsToken:
    return _decode("GetWebSocketsToken", result, WebSocketsToken)


def decode_add_order(result: object) -> AddOrderResult:
    return _decode("AddOrder", result, AddOrderResult)


def decode_cancel_order(result: object) -> CancelOrderResult:
    return _decode("CancelOrder", result, CancelOrderResult)


def decode_asset_pairs(result: object) -> AssetPairsAnswer:
    """``AssetPairs``: pair name -> pair, each decoded on its own (odd ones skipped)."""
    pairs, skipped = _decode_each("AssetPairs", "pair", result, AssetPair)
    return AssetPairsAnswer(pairs=pairs, skipped=skipped)


def decode_assets(result: object) -> AssetsAnswer:
    """``Assets``: REST asset code -> asset, each decoded on its own (odd ones skipped)."""
    assets, skipped = _decode_each("Assets", "asset", result, RestAsset)
    return AssetsAnswer(assets=assets, skipped=skipped)


def decode_server_time(result: object) -> ServerTime:
    return _decode("Time", result, ServerTime)


def decode_system_status(result: object) -> ExchangeStatus:
    return _decode("SystemStatus", result, ExchangeStatus)


ANSWER_DECODERS: Final[Mapping[str, Callable[[object], Any]]] = MappingProxyType({
    "Balance": decode_balance,
    "BalanceEx": decode_balance_ex,
    "OpenOrders": decode_open_orders,
    "ClosedOrders": decode_closed_orders,
    "QueryOrders": decode_query_orders,
    "TradesHistory": decode_trades_history,
    "Ledgers": decode_ledgers,
    "GetWebSocketsToken": decode_websockets_token,
    "AddOrder": decode_add_order,
    "CancelOrder": decode_cancel_order,
    "AssetPairs": decode_asset_pairs,
    "Assets": decode_assets,
    "Time": decode_server_time,
    "SystemStatus": decode_system_status,
})  # fmt: skip


def decode_answer(method: str, result: object) -> Any:
    """Decode the ``result`` of REST ``method`` with its function above.

    Raises:
        UnreadableAnswer: the answer does not decode, or ``method`` is not one galfriday reads.
    """
    decoder = ANSWER_DECODERS.get(method)
    if decoder is None:
        raise UnreadableAnswer(method, "$", "galfriday does not read this method")
    return decoder(result)
