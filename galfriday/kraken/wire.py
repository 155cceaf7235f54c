"""Kraken WebSocket v2 inbound frames: the one name callers import them by.

This module holds no code of its own; it gathers three modules under one name:

- :mod:`galfriday.kraken.messages`: the typed msgspec structs frames decode into (account values
  as ``Decimal``, book levels as floats for speed, defaults on every optional field).
- :mod:`galfriday.kraken.decoder`: :class:`FrameDecoder`, one per stream; unknown channels and
  methods become :class:`UnknownFrame`, anything that does not decode raises
  :class:`~galfriday.errors.MalformedFrame` with msgspec's path.
- :mod:`galfriday.kraken.bounds`: the sanity rule for numbers (finite, below
  :data:`MAX_MAGNITUDE`) and :func:`bad_number`, which finds the one that breaks it.

Each of them states its own rules. Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

from galfriday.kraken.bounds import MAX_MAGNITUDE, bad_number
from galfriday.kraken.decoder import FrameDecoder
from galfriday.kraken.messages import (
    AssetInfo,
    BalanceEntry,
    BalancesMessage,
    BookData,
    BookLevel,
    BookMessage,
    Candle,
    ExactBookData,
    ExactBookLevel,
    ExactBookMessage,
    ExecutionReport,
    ExecutionsMessage,
    Fee,
    Heartbeat,
    InstrumentData,
    InstrumentMessage,
    Message,
    OhlcMessage,
    PairInfo,
    Response,
    ResponseResult,
    SkippedEntry,
    StatusMessage,
    SystemStatus,
    Ticker,
    TickerMessage,
    Trade,
    TradeMessage,
    UnknownFrame,
    Wallet,
)

__all__ = [
    "MAX_MAGNITUDE", "AssetInfo", "BalanceEntry", "BalancesMessage", "BookData", "BookLevel",
    "BookMessage", "Candle", "ExactBookData", "ExactBookLevel", "ExactBookMessage",
    "ExecutionReport", "ExecutionsMessage", "Fee", "FrameDecoder", "Heartbeat", "InstrumentData",
    "InstrumentMessage", "Message", "OhlcMessage", "PairInfo", "Response", "ResponseResult",
    "SkippedEntry", "StatusMessage", "SystemStatus", "Ticker", "TickerMessage", "Trade",
    "TradeMessage", "UnknownFrame", "Wallet", "bad_number",
]  # fmt: skip
