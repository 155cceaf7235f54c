"""Kraken WebSocket v2 inbound frames: typed msgspec structs and one reusable decoder.

Rules:
- Account values (prices, quantities, costs, fees, balances) decode to ``Decimal`` straight from
  the JSON text, so ``0.00100000`` keeps its digits. No float touches them.
- Book levels are the one exception, for speed: :class:`BookLevel` holds floats, and
  :mod:`galfriday.kraken.book` turns them into exact integers only where that is provably exact;
  otherwise the caller re-decodes with :meth:`FrameDecoder.decode_exact_book`, whose
  :class:`ExactBookLevel` holds Decimals.
- Unknown fields are ignored; unknown channels and methods decode to :class:`UnknownFrame` and
  are counted; a frame that does not decode raises :class:`~galfriday.errors.MalformedFrame`
  carrying msgspec's path (``$.data[0].price``). Nothing else escapes :meth:`FrameDecoder.decode`.
- Every struct has defaults on optional fields, so older captures keep decoding.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeAlias

import msgspec

from galfriday.errors import MalformedFrame

__all__ = [
    "AssetInfo",
    "BalanceEntry",
    "BalancesMessage",
    "BookData",
    "BookLevel",
    "BookMessage",
    "Candle",
    "ExactBookData",
    "ExactBookLevel",
    "ExactBookMessage",
    "ExecutionReport",
    "ExecutionsMessage",
    "Fee",
    "FrameDecoder",
    "Heartbeat",
    "InstrumentData",
    "InstrumentMessage",
    "Message",
    "OhlcMessage",
    "PairInfo",
    "Response",
    "ResponseResult",
    "StatusMessage",
    "SystemStatus",
    "Ticker",
    "TickerMessage",
    "Trade",
    "TradeMessage",
    "UnknownFrame",
    "Wallet",
]


class _Wire(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of every inbound struct: immutable, keyword-only, defaults omitted on encode."""


# --- control -------------------------------------------------------------------------------


class SystemStatus(_Wire, frozen=True, kw_only=True):
    system: str
    api_version: str | None = None
    connection_id: int | None = None
    version: str | None = None


class StatusMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="status"):
    type: str = "update"
    data: list[SystemStatus] = []


class Heartbeat(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="heartbeat"):
    pass


class ResponseResult(_Wire, frozen=True, kw_only=True):
    """The ``result`` of any method response; which fields are set depends on the method."""

    channel: str | None = None
    symbol: str | None = None
    depth: int | None = None
    snapshot: bool | None = None
    interval: int | None = None
    event_trigger: str | None = None
    snap_orders: bool | None = None
    snap_trades: bool | None = None
    maxratecount: int | None = None
    warnings: list[str] = []
    order_id: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    count: int | None = None
    current_time: datetime | None = msgspec.field(default=None, name="currentTime")
    trigger_time: datetime | None = msgspec.field(default=None, name="triggerTime")


class Response(_Wire, frozen=True, kw_only=True):
    """A reply to a request: pong, subscribe/unsubscribe ack, add_order, cancel_order, ...

    Kraken sends one ack per symbol. A failure carries ``error`` (a string) and may lack
    ``result``; an absent or non-true ``success`` counts as failure (see :attr:`ok`), except
    for ``pong``, which has no ``success`` at all.
    """

    method: str
    success: bool | None = None
    result: ResponseResult | None = None
    error: str | None = None
    req_id: int | None = None
    symbol: str | None = None
    time_in: datetime | None = None
    time_out: datetime | None = None

    @property
    def ok(self) -> bool:
        if self.method == "pong":
            return self.error is None
        return self.success is True


# --- public market data --------------------------------------------------------------------


class BookLevel(_Wire, frozen=True, kw_only=True, gc=False):
    price: float
    qty: float


class ExactBookLevel(_Wire, frozen=True, kw_only=True, gc=False):
    price: Decimal
    qty: Decimal


class BookData(_Wire, frozen=True, kw_only=True):
    symbol: str
    bids: list[BookLevel] = []
    asks: list[BookLevel] = []
    checksum: int | None = None
    timestamp: str | None = None


class ExactBookData(_Wire, frozen=True, kw_only=True):
    symbol: str
    bids: list[ExactBookLevel] = []
    asks: list[ExactBookLevel] = []
    checksum: int | None = None
    timestamp: str | None = None


class BookMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="book"):
    type: str
    data: list[BookData]


class ExactBookMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="book"):
    type: str
    data: list[ExactBookData]


class Ticker(_Wire, frozen=True, kw_only=True):
    symbol: str
    bid: Decimal | None = None
    bid_qty: Decimal | None = None
    ask: Decimal | None = None
    ask_qty: Decimal | None = None
    last: Decimal | None = None
    volume: Decimal | None = None
    vwap: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    change: Decimal | None = None
    change_pct: Decimal | None = None
    timestamp: datetime | None = None


class TickerMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="ticker"):
    type: str
    data: list[Ticker]


class Trade(_Wire, frozen=True, kw_only=True):
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    trade_id: int
    ord_type: str | None = None
    timestamp: datetime | None = None


class TradeMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="trade"):
    type: str
    data: list[Trade]


class Candle(_Wire, frozen=True, kw_only=True):
    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    interval_begin: datetime
    interval: int
    vwap: Decimal | None = None
    trades: int | None = None
    volume: Decimal | None = None
    timestamp: datetime | None = None


class OhlcMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="ohlc"):
    type: str
    data: list[Candle]
    timestamp: datetime | None = None


class AssetInfo(_Wire, frozen=True, kw_only=True):
    id: str
    status: str | None = None
    precision: int | None = None
    precision_display: int | None = None
    borrowable: bool | None = None
    collateral_value: Decimal | None = None
    margin_rate: Decimal | None = None
    multiplier: Decimal | None = None


class PairInfo(_Wire, frozen=True, kw_only=True):
    symbol: str
    base: str
    quote: str
    price_precision: int
    qty_precision: int
    status: str | None = None
    price_increment: Decimal | None = None
    qty_increment: Decimal | None = None
    qty_min: Decimal | None = None
    cost_min: Decimal | None = None
    cost_precision: int | None = None
    marginable: bool | None = None
    has_index: bool | None = None
    margin_initial: Decimal | None = None
    position_limit_long: int | None = None
    position_limit_short: int | None = None
    tick_size: Decimal | None = None


class InstrumentData(_Wire, frozen=True, kw_only=True):
    assets: list[AssetInfo] = []
    pairs: list[PairInfo] = []


class InstrumentMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="instrument"):
    type: str
    data: InstrumentData


# --- private -------------------------------------------------------------------------------


class Fee(_Wire, frozen=True, kw_only=True):
    asset: str
    qty: Decimal


class ExecutionReport(_Wire, frozen=True, kw_only=True):
    """One entry of an ``executions`` message. Only ``exec_type`` is guaranteed (sparse)."""

    exec_type: str
    order_id: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    limit_price_type: str | None = None
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    order_status: str | None = None
    cum_qty: Decimal | None = None
    cum_cost: Decimal | None = None
    avg_price: Decimal | None = None
    timestamp: datetime | None = None
    exec_id: str | None = None
    trade_id: int | None = None
    last_qty: Decimal | None = None
    last_price: Decimal | None = None
    cost: Decimal | None = None
    liquidity_ind: str | None = None
    fees: list[Fee] = []
    fee_usd_equiv: Decimal | None = None
    fee_ccy_pref: str | None = None
    reason: str | None = None
    cancel_reason: str | None = None
    amended: bool | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    margin: bool | None = None
    display_qty: Decimal | None = None


class ExecutionsMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="executions"):
    type: str
    data: list[ExecutionReport]
    sequence: int | None = None


class Wallet(_Wire, frozen=True, kw_only=True):
    type: str
    id: str
    balance: Decimal


class BalanceEntry(_Wire, frozen=True, kw_only=True):
    """A snapshot entry (``balance`` + ``wallets``) or a ledger update (``ledger_id``, ...)."""

    asset: str
    balance: Decimal | None = None
    asset_class: str | None = None
    wallets: list[Wallet] = []
    ledger_id: str | None = None
    ref_id: str | None = None
    timestamp: datetime | None = None
    ledger_type: str | None = msgspec.field(default=None, name="type")
    category: str | None = None
    wallet_type: str | None = None
    wallet_id: str | None = None
    amount: Decimal | None = None
    fee: Decimal | None = None


class BalancesMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="balances"):
    type: str
    data: list[BalanceEntry]
    sequence: int | None = None


class UnknownFrame(_Wire, frozen=True, kw_only=True):
    """A frame that decoded as JSON but names a channel or method galfriday does not know.

    ``kind`` is ``"channel"``, ``"method"`` or ``"shape"`` (neither key present).
    """

    kind: str
    name: str


Message: TypeAlias = (
    StatusMessage
    | Heartbeat
    | Response
    | BookMessage
    | ExactBookMessage
    | TickerMessage
    | TradeMessage
    | OhlcMessage
    | InstrumentMessage
    | ExecutionsMessage
    | BalancesMessage
    | UnknownFrame
)


class _Envelope(msgspec.Struct):
    channel: str | None = None
    method: str | None = None


_CHANNEL_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    "status": StatusMessage,
    "heartbeat": Heartbeat,
    "book": BookMessage,
    "ticker": TickerMessage,
    "trade": TradeMessage,
    "ohlc": OhlcMessage,
    "instrument": InstrumentMessage,
    "executions": ExecutionsMessage,
    "balances": BalancesMessage,
}
_PATH = re.compile(r" - at `(\$[^`]*)`$")
_PREFIX_STR: Final = '{"channel":"'
_PREFIX_BYTES: Final = b'{"channel":"'
_PREFIX_LEN: Final = len(_PREFIX_STR)


def _malformed(exc: Exception, raw: bytes | str) -> MalformedFrame:
    text = str(exc)
    match = _PATH.search(text)
    if match:
        return MalformedFrame(text[: match.start()], match.group(1), raw)
    return MalformedFrame(text, "$", raw)


class FrameDecoder:
    """Decodes Kraken v2 frames into :data:`Message` structs; one instance per stream.

    It counts what it saw (:meth:`statistics`): frames per channel or method, unknown frames
    and malformed ones. Not thread-safe; cheap to create.
    """

    def __init__(self) -> None:
        self._by_channel: dict[str, msgspec.json.Decoder[Any]] = {
            name: msgspec.json.Decoder(cls) for name, cls in _CHANNEL_TYPES.items()
        }
        self._by_channel_bytes = {name.encode(): name for name in self._by_channel}
        self._exact_book = msgspec.json.Decoder(ExactBookMessage)
        self._response = msgspec.json.Decoder(Response)
        self._envelope = msgspec.json.Decoder(_Envelope)
        self.counts: dict[str, int] = {}
        self.unknown = 0
        self.malformed = 0

    def decode(self, raw: bytes | str) -> Message:
        """Decode one frame.

        Raises:
            MalformedFrame: not JSON, or a known channel/method with the wrong shape.
        """
        try:
            name = self._sniff(raw)
            if name is not None:
                message: Message = self._by_channel[name].decode(raw)
            else:
                name, message = self._decode_slow(raw)
        except (msgspec.MsgspecError, ValueError, TypeError, RecursionError) as exc:
            self.malformed += 1
            raise _malformed(exc, raw) from exc
        self.counts[name] = self.counts.get(name, 0) + 1
        return message

    def decode_exact_book(self, raw: bytes | str) -> ExactBookMessage:
        """Decode a book frame with Decimal levels (for values too large for the float path).

        Raises:
            MalformedFrame: as :meth:`decode`.
        """
        try:
            message: ExactBookMessage = self._exact_book.decode(raw)
        except (msgspec.MsgspecError, ValueError, TypeError, RecursionError) as exc:
            self.malformed += 1
            raise _malformed(exc, raw) from exc
        return message

    def statistics(self) -> dict[str, int]:
        """A copy of the counters by channel or method, plus ``unknown`` and ``malformed``."""
        return {**self.counts, "unknown": self.unknown, "malformed": self.malformed}

    def _sniff(self, raw: bytes | str) -> str | None:
        """The channel of a frame written the way Kraken writes it (channel key first)."""
        if isinstance(raw, str):
            if raw.startswith(_PREFIX_STR):
                name = raw[_PREFIX_LEN : raw.find('"', _PREFIX_LEN)]
                return name if name in self._by_channel else None
        elif raw.startswith(_PREFIX_BYTES):
            return self._by_channel_bytes.get(raw[_PREFIX_LEN : raw.find(b'"', _PREFIX_LEN)])
        return None

    def _decode_slow(self, raw: bytes | str) -> tuple[str, Message]:
        envelope = self._envelope.decode(raw)
        if envelope.channel is not None:
            decoder = self._by_channel.get(envelope.channel)
            if decoder is not None:
                return envelope.channel, decoder.decode(raw)
            self.unknown += 1
            unknown = UnknownFrame(kind="channel", name=envelope.channel)
            return f"unknown channel {envelope.channel}", unknown
        if envelope.method is not None:
            return envelope.method, self._response.decode(raw)
        self.unknown += 1
        return "unknown shape", UnknownFrame(kind="shape", name="")
