"""The market-data service: public subscriptions, verified books, tickers, trades, candles.

:class:`MarketData` owns the public frame channel's receiving end and processes frames in
order; its :meth:`MarketData.on_connect` is the public connection's subscription hook.

Books: precisions come from the ``instrument`` channel, so books are subscribed after its
snapshot. Every book message is verified. A checksum mismatch (or an invalid level, or a
symbol gone silent) resyncs that symbol only: its book is flagged unverified on the bus, the
symbol is unsubscribed and subscribed again, and deltas are dropped until the new snapshot.
Resyncs of one symbol are capped (``max_resyncs`` in a row without a verified update); past
the cap the symbol keeps publishing, unverified, an alert is raised (and audited), and after a
quiet period (``retry_after``, doubling each time it gives up again, at most ``retry_max``) it
tries again. Other symbols and the socket are never touched. No frame can stop the service: one
that raises is counted, logged and audited as a decode error.

Trades: ``trade_id`` is a per-symbol sequence; a jump is reported on the trade event
(``gap_before``) and counted.

Subscriptions are paced (``pace`` seconds between requests) so a reconnect never bursts past
Kraken's message-rate limit; symbols can be added and removed at runtime.

Replay: :meth:`MarketData.handle` is everything the loop does with a frame, and the actions
that talk to the exchange (a resync, adding or removing symbols) are tape operations, so
``galfriday replay`` drives this same class from a capture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import trio
from loguru import logger

from galfriday.bus import Bus
from galfriday.capture.tape import Tape
from galfriday.errors import ConnectionBroken
from galfriday.events import (
    Alert,
    BookSide,
    BookUpdate,
    CandleUpdate,
    Severity,
    TickerUpdate,
    TradePrint,
)
from galfriday.kraken import requests as rq
from galfriday.kraken import wire
from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.live.connection import Frame, Session
from galfriday.live.health import ConnectionMetrics
from galfriday.live.notify import announce_resync, decode_or_audit

__all__ = ["BookFeed", "MarketData", "MarketDataConfig"]

CHECK_REPORT_SECONDS: Final = 10.0


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
class _TradeSequence:
    last_id: int | None = None
    gaps: int = 0


@dataclass
class _Stats:
    frames: int = 0
    malformed: int = 0
    failed: int = 0
    unknown: int = 0
    errors: list[str] = field(default_factory=list)
    by_type: dict[type, int] = field(default_factory=dict)


class MarketData:
    """Processes public frames; publishes market events on the bus."""

    def __init__(
        self,
        config: MarketDataConfig,
        bus: Bus,
        metrics: ConnectionMetrics,
        audit: Callable[..., None] | None = None,
        tape: Tape | None = None,
    ) -> None:
        if config.depth not in rq.BOOK_DEPTHS:
            raise ValueError(f"depth must be one of {sorted(rq.BOOK_DEPTHS)}")
        self.config = config
        self.bus = bus
        self.metrics = metrics
        self._audit = audit or (lambda table, **row: None)
        self.tape = tape or Tape()
        self.symbols: list[str] = list(dict.fromkeys(config.symbols))
        self._followed = set(self.symbols)
        self.pairs: dict[str, wire.PairInfo] = {}
        self.books: dict[str, BookFeed] = {}
        self.trades: dict[str, _TradeSequence] = {}
        self.decoder = wire.FrameDecoder()
        self.stats = _Stats()
        self._instrument_ready = trio.Event()
        self.ready = trio.Event()  # set once every symbol has had its first book snapshot
        self._session: Session | None = None
        self._last_report = 0.0
        self._next_retry = float("inf")  # the earliest retry_at of a symbol given up on

    # --- subscriptions ---------------------------------------------------------------------

    async def on_connect(self, session: Session) -> None:
        """Subscribe everything on a (re)connect: instrument first, then the symbols."""
        self._session = session
        for feed in self.books.values():
            feed.resyncing, feed.verified = True, False
        for sequence in self.trades.values():
            sequence.last_id = None
        self._instrument_ready = trio.Event()
        await session.send(
            rq.subscribe(rq.SubscriptionParams(channel="instrument"), session.next_req_id())
        )
        with trio.move_on_after(self.config.instrument_wait) as waited:
            await self._instrument_ready.wait()
        if waited.cancelled_caught:
            raise ConnectionBroken(
                f"public: no instrument snapshot within {self.config.instrument_wait:g}s"
                " (the pairs' precisions): books cannot be verified without it"
            )
        await self._subscribe(session, self.symbols)

    async def _subscribe(self, session: Session, symbols: list[str]) -> None:
        config = self.config
        for start in range(0, len(symbols), config.symbols_per_request):
            chunk = symbols[start : start + config.symbols_per_request]
            for params in self._params(chunk):
                await session.send(rq.subscribe(params, session.next_req_id()))
                await trio.sleep(config.pace)

    def _params(self, symbols: list[str]) -> Iterable[rq.SubscriptionParams]:
        config = self.config
        yield rq.SubscriptionParams(channel="book", symbol=symbols, depth=config.depth)
        if config.ticker:
            yield rq.SubscriptionParams(channel="ticker", symbol=symbols)
        if config.trades:
            yield rq.SubscriptionParams(channel="trade", symbol=symbols)
        for interval in config.ohlc_intervals:
            yield rq.SubscriptionParams(channel="ohlc", symbol=symbols, interval=interval)

    async def add_symbols(self, symbols: Iterable[str]) -> None:
        """Follow more symbols from now on (subscribed at once if connected)."""
        with self.tape.op("add_symbols", symbols=list(symbols)) as op:
            new = [s for s in op.args["symbols"] if s not in self.symbols]
            self.symbols += new
            self._followed.update(new)
            if new and self._session is not None and self._instrument_ready.is_set():
                await self._subscribe(self._session, new)

    async def remove_symbols(self, symbols: Iterable[str]) -> None:
        """Stop following symbols; their books are dropped."""
        with self.tape.op("remove_symbols", symbols=list(symbols)) as op:
            gone = [s for s in op.args["symbols"] if s in self.symbols]
            self.symbols = [s for s in self.symbols if s not in gone]
            self._followed.difference_update(gone)
            for symbol in gone:
                self.books.pop(symbol, None)
                for channel in ("book", "ticker", "trade", "ohlc"):
                    self.metrics.forget(channel, symbol)
            session = self._session
            if gone and session is not None:
                for params in self._params(gone):
                    await session.send(rq.unsubscribe(params, session.next_req_id()))

    async def resync(self, symbol: str, reason: str) -> None:
        """Rebuild one symbol's book from a fresh snapshot (unsubscribe, subscribe)."""
        feed = self.books.get(symbol)
        if feed is None or feed.gave_up:
            return
        with self.tape.op("resync", symbol=symbol, reason=reason) as op:
            await self._resync(symbol, reason, feed, op.wall, op.mono)

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
        logger.bind(symbol=symbol).error(message)
        self.bus.publish(
            Alert(severity=Severity.HIGH, source="marketdata", message=message, received_at=wall)
        )
        self._audit(
            "alerts", at_wall=wall, severity=Severity.HIGH, source="marketdata", message=message
        )

    def _due_retry(self, now: float) -> tuple[str, str] | None:
        """A symbol given up on whose quiet period is over, to resync again."""
        if now < self._next_retry:
            return None
        due = None
        for symbol, feed in self.books.items():
            if feed.gave_up and feed.retry_at <= now and due is None:
                feed.gave_up, feed.failed_resyncs = False, 0
                due = symbol
        self._next_retry = min(
            (f.retry_at for f in self.books.values() if f.gave_up), default=float("inf")
        )
        return (due, "retry after giving up") if due is not None else None

    async def _resync(
        self, symbol: str, reason: str, feed: BookFeed, wall: float, mono: float
    ) -> None:
        if feed.failed_resyncs >= self.config.max_resyncs:
            self._give_up(symbol, feed, wall, mono)
            return
        feed.failed_resyncs += 1
        feed.resyncs += 1
        feed.resyncing, feed.verified = True, False
        announce_resync(self.bus, self._audit, "book", symbol, reason, feed.failed_resyncs, wall)
        session = self._session
        if session is None:
            return  # the next connection starts from snapshots anyway
        params = rq.SubscriptionParams(channel="book", symbol=[symbol], depth=self.config.depth)
        await session.send(rq.unsubscribe(params, session.next_req_id()))
        await session.send(rq.subscribe(params, session.next_req_id()))

    # --- processing ------------------------------------------------------------------------

    async def run(
        self,
        frames: trio.MemoryReceiveChannel[Frame],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Process frames until the channel closes or the task is cancelled."""
        task_status.started()
        tape = self.tape
        async with frames:
            async for frame in frames:
                tape.ws_in(frame.connection, frame.received_mono, frame.received_wall, frame.raw)
                resync = self.handle(frame)
                if resync is not None:
                    await self.resync(*resync)

    def handle(self, frame: Frame) -> tuple[str, str] | None:
        """What the loop does with one frame: :meth:`process`, the periodic check report, and
        a symbol given up on whose quiet period is over."""
        resync = self.process(frame)
        now = frame.received_mono
        if now - self._last_report >= CHECK_REPORT_SECONDS:
            self.report_checks(frame.received_wall)
            self._last_report = now
        if resync is None and now >= self._next_retry:
            resync = self._due_retry(now)
        return resync

    def process(self, frame: Frame) -> tuple[str, str] | None:
        """Apply one frame; returns (symbol, reason) when that symbol needs a resync. Never
        raises: a frame that breaks something of ours is counted, logged, audited, skipped."""
        try:
            return self._process(frame)
        except Exception as exc:  # one bad frame must never stop the market data
            self.stats.failed += 1
            logger.exception("public frame failed: {}", frame.raw[:200])
            self._audit(
                "decode_errors",
                at_wall=frame.received_wall,
                connection=frame.connection,
                path="$",
                reason=f"{type(exc).__name__}: {exc}"[:500],
                raw=frame.raw[:200],
            )
            return None

    def _process(self, frame: Frame) -> tuple[str, str] | None:
        self.stats.frames += 1
        message = decode_or_audit(self.decoder, frame, self._audit)
        if message is None:
            self.stats.malformed += 1
            return None
        kind = type(message)
        self.stats.by_type[kind] = self.stats.by_type.get(kind, 0) + 1
        if isinstance(message, wire.BookMessage | wire.ExactBookMessage):
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
            feed = self._feed(symbol)
            if feed is None:
                continue
            if feed.resyncing and not snapshot:
                continue  # deltas between a resync and its snapshot are meaningless
            result = feed.book.apply(data, snapshot=snapshot)
            if result is BookCheck.INEXACT:
                exact = self.decoder.decode_exact_book(frame.raw)
                result = feed.book.apply(
                    next(d for d in exact.data if d.symbol == symbol), snapshot=snapshot
                )
            self.metrics.channel_update("book", symbol, frame.received_mono)
            if result in (BookCheck.MATCH, BookCheck.UNCHECKED):
                if snapshot:
                    feed.resyncing = False
                    if not self.ready.is_set() and all(s in self.books for s in self.symbols):
                        self.ready.set()
                feed.verified = result is BookCheck.MATCH or feed.verified
                if result is BookCheck.MATCH:
                    feed.verified_count += 1
                    feed.total_verified += 1
                    if not snapshot:
                        feed.failed_resyncs = feed.give_ups = 0
                self._publish_book(symbol, feed, snapshot, data.timestamp, frame.received_wall)
                continue
            feed.verified = False
            if result is BookCheck.MISMATCH:
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

    def _feed(self, symbol: str) -> BookFeed | None:
        feed = self.books.get(symbol)
        if feed is None:
            if symbol not in self.symbols:
                return None
            pair = self.pairs.get(symbol)
            if pair is None:
                logger.bind(symbol=symbol).warning("book before its precisions; skipped")
                return None
            feed = BookFeed(
                OrderBook(symbol, self.config.depth, pair.price_precision, pair.qty_precision)
            )
            self.books[symbol] = feed
        return feed

    def _publish_book(
        self, symbol: str, feed: BookFeed, snapshot: bool, stamp: str | None, wall: float
    ) -> None:
        if not self.bus.wanted(BookUpdate):
            return
        book = feed.book
        bids, asks = book.top_levels(self.config.publish_levels)
        pp, qp = book.price_precision, book.qty_precision
        self.bus.publish(
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
            self.bus.publish(
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
            sequence = self.trades.setdefault(t.symbol, _TradeSequence())
            gap = 0
            if sequence.last_id is not None and message.type == "update":
                gap = max(0, t.trade_id - sequence.last_id - 1)
                if gap:
                    sequence.gaps += 1
            if sequence.last_id is None or t.trade_id > sequence.last_id:
                sequence.last_id = t.trade_id
            self.bus.publish(
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
            self.bus.publish(
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
        """The pairs' precisions. Pairs that did not decode were left out by the decoder: each
        is logged and audited, the others serve (one odd pair among a thousand must not keep
        every book from being subscribed)."""
        for pair in message.data.pairs:
            self.pairs[pair.symbol] = pair
        for entry in message.data.skipped:
            logger.warning(
                "instrument {} {} skipped: {} at {}",
                entry.kind,
                entry.name,
                entry.reason,
                entry.path,
            )
            self._audit(
                "decode_errors",
                at_wall=frame.received_wall,
                connection=frame.connection,
                path=entry.path,
                reason=f"{entry.kind} {entry.name}: {entry.reason}",
                raw=entry.raw,
            )
        self._instrument_ready.set()

    def _response(self, message: wire.Response) -> None:
        if not message.ok and message.method not in ("pong",):
            error = f"{message.method} {message.symbol or ''}: {message.error}"
            self.stats.errors.append(error)
            logger.warning("public request refused: {}", error)

    def report_checks(self, wall: float) -> None:
        """Audit each book's verification counts since the last report."""
        for symbol, feed in self.books.items():
            self._audit(
                "book_checks",
                at_wall=wall,
                symbol=symbol,
                verified=feed.verified_count,
                mismatched=feed.mismatched,
                unverified=feed.unverified,
            )
            feed.verified_count = feed.mismatched = feed.unverified = 0
