"""Market data, the decisions: verified books, tickers, trades, candles (a state machine).

:class:`MarketDataMachine` takes the public connection's frames (:meth:`~MarketDataMachine.receive`)
and a few steps from its shell (:meth:`~MarketDataMachine.connected`,
:meth:`~MarketDataMachine.start_resync`, :meth:`~MarketDataMachine.add_symbols`,
:meth:`~MarketDataMachine.remove_symbols`), emits events to its :class:`~galfriday.core.frames.Sink`
and answers what the shell must send. It decides everything; the shell only sends frames.

Rules:

- Books: precisions come from the ``instrument`` snapshot (pairs that did not decode are
  reported as :class:`~galfriday.events.FrameRefused` and skipped). Every book message is
  verified. A checksum mismatch or an invalid level resyncs that symbol only: the book is
  flagged unverified, :meth:`receive` returns the symbol (the shell unsubscribes and
  subscribes it again) and deltas are dropped until the new snapshot.
- Resyncs of one symbol are capped (``max_resyncs`` in a row without a verified update); past
  the cap the symbol keeps publishing, unverified, an alert is emitted, and after a quiet
  period (``retry_after``, doubling each time it gives up again, at most ``retry_max``) the
  next frame's :meth:`receive` returns it for a new try.
- Trades: ``trade_id`` is a per-symbol sequence; a jump is reported on the trade
  (``gap_before``) and counted.
- Every ``report_every`` seconds of frames, each book's verification counts are emitted
  (:class:`~galfriday.events.BookChecks`).

Time comes in with the frames (monotonic and wall). Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from galfriday.core.frames import Frame, Sink
from galfriday.core.health import ConnectionMetrics
from galfriday.errors import MalformedFrame
from galfriday.events import (
    Alert,
    BookChecks,
    BookSide,
    BookUpdate,
    CandleUpdate,
    ResyncStarted,
    Severity,
    TickerUpdate,
    TradePrint,
)
from galfriday.kraken import wire
from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.kraken.requests import BOOK_DEPTHS

__all__ = ["BookFeed", "MarketDataConfig", "MarketDataMachine", "MarketStats"]

CHECK_REPORT_SECONDS: Final = 10.0
# Module constants for the per-frame path: an Enum member read through its class costs a
# metaclass __getattr__ call in Python 3.11, several times a plain global.
_MATCH: Final = BookCheck.MATCH
_MISMATCH: Final = BookCheck.MISMATCH
_UNCHECKED: Final = BookCheck.UNCHECKED
_INEXACT: Final = BookCheck.INEXACT
_BOOK_TYPES: Final = (wire.BookMessage, wire.ExactBookMessage)
ERRORS_KEPT: Final = 100  # the most recent refusals of requests kept for the summary


@dataclass(frozen=True)
class MarketDataConfig:
    symbols: tuple[str, ...] = ("BTC/USD", "ETH/USD")
    depth: int = 10
    ticker: bool = True
    trades: bool = True
    ohlc_intervals: tuple[int, ...] = (1,)
    publish_levels: int = 10
    instrument_wait: float = 10.0  # seconds a connect waits for the instrument snapshot
    max_resyncs: int = 5
    retry_after: float = 60.0  # after giving up on a symbol's resyncs, try again this much later
    retry_max: float = 900.0  # ...doubling each time, at most this
    pace: float = 0.05
    symbols_per_request: int = 10


@dataclass
class BookFeed:
    """One symbol's book and its verification state."""

    book: OrderBook
    verified: bool = False
    resyncing: bool = True  # waiting for a snapshot
    failed_resyncs: int = 0
    gave_up: bool = False
    give_ups: int = 0  # times in a row it gave up
    retry_at: float = 0.0  # monotonic time of the next try after giving up
    verified_count: int = 0
    mismatched: int = 0
    unverified: int = 0
    resyncs: int = 0
    total_verified: int = 0  # the counts above, never reset
    total_mismatched: int = 0
    total_unverified: int = 0


@dataclass
class TradeSequence:
    last_id: int | None = None
    gaps: int = 0


@dataclass
class MarketStats:
    frames: int = 0
    malformed: int = 0
    failed: int = 0
    unknown: int = 0
    refused_requests: int = 0
    errors: list[str] = field(default_factory=list)  # the latest ERRORS_KEPT refusals
    by_type: dict[type, int] = field(default_factory=dict)


class MarketDataMachine:
    """The public feed's state and decisions (see the module docstring).

    Args:
        config: symbols, depth, channels, resync policy.
        metrics: the connection's metrics (last update per channel and symbol, for health).
        sink: where events go.
    """

    def __init__(self, config: MarketDataConfig, metrics: ConnectionMetrics, sink: Sink) -> None:
        if config.depth not in BOOK_DEPTHS:
            raise ValueError(f"depth must be one of {sorted(BOOK_DEPTHS)}")
        self.config = config
        self.metrics = metrics
        self.sink = sink
        self.symbols: list[str] = list(dict.fromkeys(config.symbols))
        self._followed = set(self.symbols)
        self.pairs: dict[str, wire.PairInfo] = {}
        self.books: dict[str, BookFeed] = {}
        self.trades: dict[str, TradeSequence] = {}
        self.decoder = wire.FrameDecoder()
        self.stats = MarketStats()
        self.instrument_ready = False
        self.ready = False  # every symbol has had its first book snapshot
        self._last_report = 0.0
        self._next_retry = float("inf")  # the earliest retry_at of a symbol given up on

    # --- steps from the shell ------------------------------------------------------------------

    def connected(self) -> None:
        """A new public connection: every book awaits a snapshot, the instrument too."""
        for feed in self.books.values():
            feed.resyncing, feed.verified = True, False
        for sequence in self.trades.values():
            sequence.last_id = None
        self.instrument_ready = False

    def start_resync(self, symbol: str, reason: str, wall: float, mono: float) -> bool:
        """Begin rebuilding ``symbol``'s book. True: the shell must unsubscribe and subscribe
        it; False: not followed, given up on (the quiet period runs), or just given up on."""
        feed = self.books.get(symbol)
        if feed is None or feed.gave_up:
            return False
        if feed.failed_resyncs >= self.config.max_resyncs:
            self._give_up(symbol, feed, wall, mono)
            return False
        feed.failed_resyncs += 1
        feed.resyncs += 1
        feed.resyncing, feed.verified = True, False
        self.sink.emit(
            ResyncStarted(
                stream="book",
                symbol=symbol,
                reason=reason,
                attempt=feed.failed_resyncs,
                received_at=wall,
            )
        )
        return True

    def add_symbols(self, symbols: Iterable[str]) -> list[str]:
        """Follow more symbols; returns the new ones (to subscribe if connected)."""
        new = [s for s in dict.fromkeys(symbols) if s not in self._followed]
        self.symbols += new
        self._followed.update(new)
        return new

    def remove_symbols(self, symbols: Iterable[str]) -> list[str]:
        """Stop following symbols (their books are dropped); returns those to unsubscribe."""
        gone = [s for s in dict.fromkeys(symbols) if s in self._followed]
        self.symbols = [s for s in self.symbols if s not in gone]
        self._followed.difference_update(gone)
        for symbol in gone:
            self.books.pop(symbol, None)
            for channel in ("book", "ticker", "trade", "ohlc"):
                self.metrics.forget(channel, symbol)
        return gone

    # --- frames --------------------------------------------------------------------------------

    def receive(self, frame: Frame) -> tuple[str, str] | None:
        """Apply one frame; returns (symbol, reason) when that symbol needs a resync (a
        mismatch, or a symbol given up on whose quiet period is over)."""
        self.stats.frames += 1
        resync = self._apply(frame)
        now = frame.received_mono
        if now - self._last_report >= CHECK_REPORT_SECONDS:
            self.report_checks(frame.received_wall)
            self._last_report = now
        if resync is None and now >= self._next_retry:
            resync = self._due_retry(now)
        return resync

    def _apply(self, frame: Frame) -> tuple[str, str] | None:
        try:
            message = self.decoder.decode(frame.raw)
        except MalformedFrame as exc:
            self.stats.malformed += 1
            self.sink.emit(frame.refused(exc.path, exc.reason, exc.raw))
            return None
        kind = type(message)
        by_type = self.stats.by_type
        by_type[kind] = by_type.get(kind, 0) + 1
        if isinstance(message, _BOOK_TYPES):
            return self._book(message, frame)
        if isinstance(message, wire.TickerMessage):
            self._ticker(message, frame)
        elif isinstance(message, wire.TradeMessage):
            self._trade(message, frame)
        elif isinstance(message, wire.OhlcMessage):
            self._ohlc(message, frame)
        elif isinstance(message, wire.InstrumentMessage):
            self._instrument(message, frame)
        elif isinstance(message, wire.Response):
            self._response(message)
        elif isinstance(message, wire.UnknownFrame):
            self.stats.unknown += 1
        return None

    def _book(
        self, message: wire.BookMessage | wire.ExactBookMessage, frame: Frame
    ) -> tuple[str, str] | None:
        snapshot = message.type == "snapshot"
        for data in message.data:
            symbol = data.symbol
            feed = self.books.get(symbol) or self._feed(symbol, frame)
            if feed is None or (feed.resyncing and not snapshot):
                continue  # not followed; or a delta between a resync and its snapshot
            result = feed.book.apply(data, snapshot=snapshot)
            if result is _INEXACT:
                exact = self.decoder.decode_exact_book(frame.raw)
                result = feed.book.apply(
                    next(d for d in exact.data if d.symbol == symbol), snapshot=snapshot
                )
            self.metrics.channel_update("book", symbol, frame.received_mono)
            if result is _MATCH or result is _UNCHECKED:
                if snapshot:
                    feed.resyncing = False
                    if not self.ready and all(s in self.books for s in self.symbols):
                        self.ready = True
                if result is _MATCH:
                    feed.verified = True
                    feed.verified_count += 1
                    feed.total_verified += 1
                    if not snapshot:
                        feed.failed_resyncs = feed.give_ups = 0
                self._publish_book(symbol, feed, snapshot, data.timestamp, frame.received_wall)
                continue
            feed.verified = False
            if result is _MISMATCH:
                feed.mismatched += 1
                feed.total_mismatched += 1
            else:
                feed.unverified += 1
                feed.total_unverified += 1
            self._publish_book(symbol, feed, snapshot, data.timestamp, frame.received_wall)
            if feed.gave_up:
                continue
            return symbol, f"checksum {result.value}"
        return None

    def _feed(self, symbol: str, frame: Frame) -> BookFeed | None:
        feed = self.books.get(symbol)
        if feed is None:
            if symbol not in self._followed:
                return None
            pair = self.pairs.get(symbol)
            if pair is None:
                reason = f"book of {symbol} before its precisions (instrument); skipped"
                self.sink.emit(frame.refused("$.data[].symbol", reason))
                return None
            feed = BookFeed(
                OrderBook(symbol, self.config.depth, pair.price_precision, pair.qty_precision)
            )
            self.books[symbol] = feed
        return feed

    def _publish_book(
        self, symbol: str, feed: BookFeed, snapshot: bool, stamp: str | None, wall: float
    ) -> None:
        if not self.sink.wants(BookUpdate):
            return
        book = feed.book
        bids, asks = book.top_levels(self.config.publish_levels)
        pp, qp = book.price_precision, book.qty_precision
        self.sink.emit(
            BookUpdate(
                symbol=symbol,
                verified=feed.verified,
                bid_side=BookSide(bids, pp, qp),
                ask_side=BookSide(asks, pp, qp),
                snapshot=snapshot,
                timestamp=stamp,
                received_at=wall,
            )
        )

    def _ticker(self, message: wire.TickerMessage, frame: Frame) -> None:
        for t in message.data:
            if t.symbol not in self._followed:
                continue
            self.metrics.channel_update("ticker", t.symbol, frame.received_mono)
            self.sink.emit(
                TickerUpdate(
                    symbol=t.symbol,
                    bid=t.bid,
                    ask=t.ask,
                    last=t.last,
                    volume=t.volume,
                    timestamp=t.timestamp,
                    received_at=frame.received_wall,
                )
            )

    def _trade(self, message: wire.TradeMessage, frame: Frame) -> None:
        for t in message.data:
            if t.symbol not in self._followed:
                continue
            self.metrics.channel_update("trade", t.symbol, frame.received_mono)
            sequence = self.trades.setdefault(t.symbol, TradeSequence())
            gap = 0
            if sequence.last_id is not None and message.type == "update":
                gap = max(0, t.trade_id - sequence.last_id - 1)
                if gap:
                    sequence.gaps += 1
            if sequence.last_id is None or t.trade_id > sequence.last_id:
                sequence.last_id = t.trade_id
            self.sink.emit(
                TradePrint(
                    symbol=t.symbol,
                    side=t.side,
                    price=t.price,
                    qty=t.qty,
                    trade_id=t.trade_id,
                    gap_before=gap,
                    timestamp=t.timestamp,
                    received_at=frame.received_wall,
                )
            )

    def _ohlc(self, message: wire.OhlcMessage, frame: Frame) -> None:
        for c in message.data:
            if c.symbol not in self._followed:
                continue
            self.metrics.channel_update("ohlc", c.symbol, frame.received_mono)
            self.sink.emit(
                CandleUpdate(
                    symbol=c.symbol,
                    interval=c.interval,
                    interval_begin=c.interval_begin,
                    open=c.open,
                    high=c.high,
                    low=c.low,
                    close=c.close,
                    volume=c.volume,
                    received_at=frame.received_wall,
                )
            )

    def _instrument(self, message: wire.InstrumentMessage, frame: Frame) -> None:
        for pair in message.data.pairs:
            self.pairs[pair.symbol] = pair
        for entry in message.data.skipped:
            reason = f"{entry.kind} {entry.name}: {entry.reason}"
            self.sink.emit(frame.refused(entry.path, reason, entry.raw))
        self.instrument_ready = True

    def _response(self, message: wire.Response) -> None:
        if not message.ok and message.method not in ("pong",):
            self.stats.refused_requests += 1
            self.stats.errors.append(f"{message.method} {message.symbol or ''}: {message.error}")
            del self.stats.errors[:-ERRORS_KEPT]

    # --- periodic ------------------------------------------------------------------------------

    def report_checks(self, wall: float) -> None:
        """Emit each book's verification counts since the last report (and reset them)."""
        for symbol, feed in self.books.items():
            self.sink.emit(
                BookChecks(
                    symbol=symbol,
                    verified=feed.verified_count,
                    mismatched=feed.mismatched,
                    unverified=feed.unverified,
                    received_at=wall,
                )
            )
            feed.verified_count = feed.mismatched = feed.unverified = 0

    def _give_up(self, symbol: str, feed: BookFeed, wall: float, mono: float) -> None:
        """Stop resyncing ``symbol`` for a quiet period (doubling each time), and alert."""
        feed.gave_up = True
        feed.give_ups += 1
        config = self.config
        quiet = min(config.retry_max, config.retry_after * 2.0 ** min(feed.give_ups - 1, 30))
        feed.retry_at = mono + quiet
        self._next_retry = min(self._next_retry, feed.retry_at)
        message = (
            f"{symbol}: {feed.failed_resyncs} resyncs failed; book stays unverified,"
            f" next try in {quiet:.0f}s"
        )
        self.sink.emit(
            Alert(severity=Severity.HIGH, source="marketdata", message=message, received_at=wall)
        )

    def _due_retry(self, now: float) -> tuple[str, str] | None:
        """A symbol given up on whose quiet period is over, to resync again."""
        due = None
        for symbol, feed in self.books.items():
            if feed.gave_up and feed.retry_at <= now and due is None:
                feed.gave_up, feed.failed_resyncs = False, 0
                due = symbol
        self._next_retry = min(
            (f.retry_at for f in self.books.values() if f.gave_up), default=float("inf")
        )
        return (due, "retry after giving up") if due is not None else None
