"""Kraken WebSocket v2 inbound messages: the typed msgspec structs frames decode into.

Rules:
- Account values (prices, quantities, costs, fees, balances) are ``Decimal``, decoded straight
  from the JSON text, so ``0.00100000`` keeps its digits. No float touches them.
- Book levels are the one exception, for speed: :class:`BookLevel` holds floats, and
  :mod:`galfriday.kraken.book` turns them into exact integers only where that is provably exact;
  otherwise the caller re-decodes with
  :meth:`~galfriday.kraken.decoder.FrameDecoder.decode_exact_book`, whose
  :class:`ExactBookLevel` holds Decimals.
- Every struct is frozen and keyword-only, ignores unknown fields, and has defaults on optional
  fields, so older captures keep decoding.
- :data:`Message` is every struct a frame can decode into, :class:`UnknownFrame` included.

The decoding itself (one reusable decoder per stream) is :mod:`galfriday.kraken.decoder`.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TypeAlias

import msgspec

__all__ = [
    "AssetInfo", "BalanceEntry", "BalancesMessage", "BookData", "BookLevel", "BookMessage",
    "Candle", "ExactBookData", "ExactBookLevel", "ExactBookMessage", "ExecutionReport",
    "ExecutionsMessage", "Fee", "Heartbeat", "InstrumentData", "InstrumentMessage", "Message",
    "OhlcMessage", "PairInfo", "Response", "ResponseResult", "SkippedEntry", "StatusMessage",
    "SystemStatus", "Ticker", "TickerMessage", "Trade", "TradeMessage", "UnknownFrame", "Wallet",
]  # fmt: skip


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


class SkippedEntry(_Wire, frozen=True, kw_only=True):
    """An ``instrument`` asset or pair left out because it does not decode."""

    kind: str  # "asset" or "pair"
    name: str  # its id or symbol; "" when even that is unreadable
    path: str  # where it failed, e.g. ``$.data.pairs[7].price_precision``
    reason: str
    raw: str = ""  # its first 200 characters, for the audit trail


class InstrumentData(_Wire, frozen=True, kw_only=True):
    assets: list[AssetInfo] = []
    pairs: list[PairInfo] = []
    skipped: list[SkippedEntry] = []  # filled by the decoder, never read from the wire


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
