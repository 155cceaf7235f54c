"""The market-data service: the public connection's subscriptions and its frame loop.

:class:`MarketData` is the shell around :class:`~galfriday.core.marketdata.MarketDataMachine`,
which decides everything (books verified, resyncs and their cap, trade gaps, what to emit). The
shell owns the public frame channel's receiving end, the subscription hook
(:meth:`MarketData.on_connect`: instrument first, then the symbols, paced by ``pace`` seconds a
request so a reconnect never bursts past Kraken's message-rate limit), and sends what the
machine asks for: a resync's unsubscribe and subscribe, symbols added or removed at runtime.

No frame can stop the service: one that breaks the machine (a bug of ours) is counted, logged
and reported as a refused frame, and the loop goes on.

Replay: :meth:`MarketData.handle` is everything the loop does with a frame, and the actions
that talk to the exchange (a resync, adding or removing symbols) are tape operations, so
``galfriday replay`` drives this same class from a capture.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import trio

from galfriday.capture.tape import Tape
from galfriday.core.frames import Frame, Sink
from galfriday.core.health import ConnectionMetrics
from galfriday.core.marketdata import (
    BookFeed,
    MarketDataConfig,
    MarketDataMachine,
    MarketStats,
    TradeSequence,
)
from galfriday.core.steps import BookResync, PublicConnected, Step, SymbolsAdded, SymbolsRemoved
from galfriday.errors import ConnectionBroken
from galfriday.kraken import requests as rq
from galfriday.kraken import wire
from galfriday.kraken.symbols import SymbolMap
from galfriday.live.connection import DRAIN, Link, queued
from galfriday.state import EngineState

__all__ = ["BookFeed", "MarketData", "MarketDataConfig"]


class MarketData:
    """Runs the public feed: subscriptions, frames, resyncs (see the module docstring)."""

    def __init__(
        self,
        config: MarketDataConfig,
        sink: Sink,
        metrics: ConnectionMetrics,
        tape: Tape | None = None,
    ) -> None:
        self.config = config
        self.machine = MarketDataMachine(config, metrics, sink)
        # Every change to the machine's state besides frames is a step, applied through this
        # (the engine records it in the capture first); on its own, the service applies it.
        own = EngineState(self.machine, None, SymbolMap(), (), None, sink)
        self.do: Callable[[Step], Any] = own.apply
        self.receive: Callable[[Frame], tuple[str, str] | None] = own.receive_public
        self.sink = sink
        self.metrics = metrics
        self.tape = tape or Tape()
        self.ready = trio.Event()  # set once every symbol has had its first book snapshot
        self._instrument_seen = trio.Event()
        self._link: Link | None = None

    # --- what the machine knows --------------------------------------------------------------

    @property
    def books(self) -> dict[str, BookFeed]:
        return self.machine.books

    @property
    def pairs(self) -> dict[str, wire.PairInfo]:
        return self.machine.pairs

    @property
    def symbols(self) -> list[str]:
        return self.machine.symbols

    @property
    def stats(self) -> MarketStats:
        return self.machine.stats

    @property
    def trades(self) -> dict[str, TradeSequence]:
        return self.machine.trades

    # --- subscriptions ---------------------------------------------------------------------

    async def on_connect(self, link: Link) -> None:
        """Subscribe everything on a (re)connect: instrument first, then the symbols.

        Raises:
            ConnectionBroken: no instrument snapshot within ``instrument_wait`` seconds.
        """
        self._link = link
        self.do(PublicConnected(**_now()))
        self._instrument_seen = trio.Event()
        await link.send(
            rq.subscribe(rq.SubscriptionParams(channel="instrument"), link.next_req_id())
        )
        with trio.move_on_after(self.config.instrument_wait) as waited:
            await self._instrument_seen.wait()
        if waited.cancelled_caught:
            raise ConnectionBroken(
                f"public: no instrument snapshot within {self.config.instrument_wait:g}s"
                " (the pairs' precisions): books cannot be verified without it"
            )
        await self._subscribe(link, self.machine.symbols)

    async def _subscribe(self, link: Link, symbols: list[str]) -> None:
        config = self.config
        for start in range(0, len(symbols), config.symbols_per_request):
            chunk = symbols[start : start + config.symbols_per_request]
            for params in self._params(chunk):
                await link.send(rq.subscribe(params, link.next_req_id()))
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
            new = self.do(SymbolsAdded(symbols=list(op.args["symbols"]), **_now()))
            if new and self._link is not None and self.machine.instrument_ready:
                await self._subscribe(self._link, new)

    async def remove_symbols(self, symbols: Iterable[str]) -> None:
        """Stop following symbols; their books are dropped."""
        with self.tape.op("remove_symbols", symbols=list(symbols)) as op:
            gone = self.do(SymbolsRemoved(symbols=list(op.args["symbols"]), **_now()))
            link = self._link
            if gone and link is not None:
                for params in self._params(gone):
                    await link.send(rq.unsubscribe(params, link.next_req_id()))

    async def resync(self, symbol: str, reason: str) -> None:
        """Rebuild one symbol's book from a fresh snapshot (unsubscribe, subscribe), if the
        machine agrees (not past its cap, not given up on)."""
        feed = self.machine.books.get(symbol)
        if feed is None or feed.gave_up:
            return
        with self.tape.op("resync", symbol=symbol, reason=reason):
            if not self.do(BookResync(symbol=symbol, reason=reason, **_now())):
                return
            link = self._link
            if link is None:
                return  # the next connection starts from snapshots anyway
            params = rq.SubscriptionParams(channel="book", symbol=[symbol], depth=self.config.depth)
            await link.send(rq.unsubscribe(params, link.next_req_id()))
            await link.send(rq.subscribe(params, link.next_req_id()))

    # --- processing ------------------------------------------------------------------------

    async def run(
        self,
        frames: trio.MemoryReceiveChannel[Frame],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Process frames until the channel closes or the task is cancelled; frames that
        wait together are handled in one turn (:func:`~galfriday.live.connection.queued`)."""
        task_status.started()
        tape = self.tape
        async with frames:
            async for first in frames:
                for frame in (first, *queued(frames, DRAIN - 1)):
                    tape.ws_in(
                        frame.connection, frame.received_mono, frame.received_wall, frame.raw
                    )
                    resync = self.handle(frame)
                    if resync is not None:
                        await self.resync(*resync)

    def handle(self, frame: Frame) -> tuple[str, str] | None:
        """What the loop does with one frame; returns (symbol, reason) to resync."""
        resync = self.receive(frame)
        machine = self.machine
        if machine.instrument_ready and not self._instrument_seen.is_set():
            self._instrument_seen.set()
        if machine.ready and not self.ready.is_set():
            self.ready.set()
        return resync

    process = handle  # the name the fuzz tests and older callers use

    def report_checks(self, wall: float) -> None:
        """Emit each book's verification counts since the last report."""
        self.machine.report_checks(wall)


def _now() -> dict[str, float]:
    """A step's times: now (the shell reads the clocks; the machines never do)."""
    return {"wall": time.time(), "mono": trio.current_time()}
