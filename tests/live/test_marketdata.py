from __future__ import annotations

import pytest
import trio
import trio.testing
from msgspec.structs import asdict

from galfriday.bus import Bus
from galfriday.core.health import ConnectionMetrics
from galfriday.events import (
    Alert,
    BookUpdate,
    CandleUpdate,
    ConnectionState,
    ConnectionStateChanged,
    ResyncStarted,
    TickerUpdate,
    TradePrint,
)
from galfriday.live.connection import Frame
from galfriday.live.marketdata import MarketData, MarketDataConfig
from galfriday.live.recorder import Recorder
from galfriday.sim.faults import Fault
from galfriday.sim.server import SimConfig, open_simulator
from tests.live.helpers import public_feed

SYMBOLS = ("BTC/USD", "ETH/USD", "DOGE/USD")


async def _verified_books(bus_sub: object, symbols: tuple[str, ...], seconds: float = 15) -> None:
    seen: set[str] = set()
    with trio.fail_after(seconds):
        async for event in bus_sub:  # type: ignore[attr-defined]
            if isinstance(event, BookUpdate) and event.verified and not event.snapshot:
                seen.add(event.symbol)
                if seen >= set(symbols):
                    return


async def test_every_symbol_gets_verified_books_and_market_events() -> None:
    async with open_simulator(SimConfig(rate=600)) as sim:
        config = MarketDataConfig(symbols=SYMBOLS, depth=25, ohlc_intervals=(1, 5))
        async with public_feed(sim.urls.ws_public, config) as feed:  # type: ignore[union-attr]
            events = feed.bus.subscribe(capacity=100_000)
            await _verified_books(events, SYMBOLS)
            kinds: set[type] = set()
            with trio.fail_after(15):
                async for event in events:
                    kinds.add(type(event))
                    if {TickerUpdate, TradePrint, CandleUpdate} <= kinds:
                        break
            for symbol in SYMBOLS:
                book = feed.marketdata.books[symbol]
                assert book.verified and len(book.book.bids()) == 25
            assert feed.marketdata.stats.malformed == 0


async def test_corrupted_checksum_resyncs_only_that_symbol() -> None:
    async with open_simulator(SimConfig(rate=600)) as sim:
        config = MarketDataConfig(symbols=SYMBOLS)
        async with public_feed(sim.urls.ws_public, config) as feed:  # type: ignore[union-attr]
            events = feed.bus.subscribe(capacity=100_000)
            await _verified_books(events, SYMBOLS)
            sim.frame_fault(Fault.CORRUPT_CHECKSUM, "public", 1)
            with trio.fail_after(15):
                async for event in events:
                    if isinstance(event, ResyncStarted):
                        resynced = event.symbol
                        break
            unverified = []
            with trio.fail_after(15):
                async for event in events:
                    if isinstance(event, BookUpdate) and not event.verified:
                        unverified.append(event.symbol)
                    if (
                        isinstance(event, BookUpdate)
                        and event.symbol == resynced
                        and event.verified
                    ):
                        break
            assert set(unverified) <= {resynced}
            assert feed.connection.metrics.reconnects == 0
            rows = feed.audit.table("resyncs")
            assert [(r["symbol"], r["reason"]) for r in rows] == [(resynced, "checksum mismatch")]
            for symbol in SYMBOLS:
                if symbol != resynced:
                    assert feed.marketdata.books[symbol].resyncs == 0


async def test_resyncs_are_capped_and_then_alerted() -> None:
    async with open_simulator(SimConfig(rate=600)) as sim:
        config = MarketDataConfig(
            symbols=("BTC/USD",), max_resyncs=2, trades=False, ticker=False, ohlc_intervals=()
        )
        async with public_feed(sim.urls.ws_public, config) as feed:  # type: ignore[union-attr]
            events = feed.bus.subscribe(capacity=100_000)
            await _verified_books(events, ("BTC/USD",))
            sim.frame_fault(Fault.CORRUPT_CHECKSUM, "public", 10_000)
            with trio.fail_after(20):
                async for event in events:
                    if isinstance(event, Alert):
                        break
            assert "resyncs failed" in event.message
            assert feed.marketdata.books["BTC/USD"].gave_up
            assert len(feed.audit.table("resyncs")) == 2


@pytest.mark.slow
async def test_a_symbol_given_up_on_tries_again_after_a_quiet_period() -> None:
    async with open_simulator(SimConfig(rate=600)) as sim:
        config = MarketDataConfig(
            symbols=("BTC/USD",),
            max_resyncs=2,
            retry_after=1.0,
            trades=False,
            ticker=False,
            ohlc_intervals=(),
        )
        async with public_feed(sim.urls.ws_public, config) as feed:  # type: ignore[union-attr]
            events = feed.bus.subscribe(capacity=100_000)
            await _verified_books(events, ("BTC/USD",))
            sim.frame_fault(Fault.CORRUPT_CHECKSUM, "public", 10_000)
            with trio.fail_after(20):
                async for event in events:
                    if isinstance(event, Alert):
                        break
            sim.faults.clear_frames()  # the feed is good again
            assert [a["source"] for a in feed.audit.table("alerts")] == ["marketdata"]
            await _verified_books(events, ("BTC/USD",))
            feed_state = feed.marketdata.books["BTC/USD"]
            assert not feed_state.gave_up and feed_state.verified
            assert feed.audit.table("resyncs")[-1]["reason"] == "retry after giving up"


async def test_symbols_can_be_added_and_removed_at_runtime() -> None:
    async with open_simulator(SimConfig(rate=600)) as sim:
        config = MarketDataConfig(symbols=("BTC/USD",))
        async with public_feed(sim.urls.ws_public, config) as feed:  # type: ignore[union-attr]
            events = feed.bus.subscribe(BookUpdate, capacity=100_000)
            await _verified_books(events, ("BTC/USD",))
            await feed.marketdata.add_symbols(["XRP/USD"])
            await _verified_books(events, ("XRP/USD",))
            await feed.marketdata.remove_symbols(["BTC/USD"])
            assert "BTC/USD" not in feed.marketdata.books


def _frame(raw: str) -> Frame:
    return Frame(raw, 1.0, 1.7e9, "public")


def test_malformed_frames_are_counted_and_audited_and_trade_gaps_reported() -> None:
    bus = Bus()
    trades = bus.subscribe(TradePrint)
    rows: list[tuple[str, dict[str, object]]] = []
    md = MarketData(
        MarketDataConfig(symbols=("BTC/USD",)),
        Recorder(bus, lambda row: rows.append((row.__table__, asdict(row)))),
        ConnectionMetrics("public", 0.0),
    )
    assert md.process(_frame('{"channel":"trade","type":"update","data":[{"symbol":1}]}')) is None
    assert md.stats.malformed == 1 and rows[0][0] == "decode_errors"
    assert rows[0][1]["path"] == "$.data[0].symbol"
    for trade_id in (10, 11, 15):
        md.process(
            _frame(
                '{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD",'
                f'"side":"buy","price":1.0,"qty":1.0,"trade_id":{trade_id}}}]}}'
            )
        )
    gaps = [trades.receive_nowait().gap_before for _ in range(3)]  # type: ignore[attr-defined]
    assert gaps == [0, 0, 3]


async def test_malformed_and_unknown_frames_from_the_exchange_are_counted_and_skipped() -> None:
    async with open_simulator(SimConfig(rate=600)) as sim:
        config = MarketDataConfig(symbols=("BTC/USD",))
        async with public_feed(sim.urls.ws_public, config) as feed:  # type: ignore[union-attr]
            events = feed.bus.subscribe(BookUpdate, capacity=100_000)
            await _verified_books(events, ("BTC/USD",))
            sim.send_garbage("public")
            sim.send_garbage("public", unknown=True)
            await _verified_books(events, ("BTC/USD",))  # the feed goes on
            with trio.fail_after(10):
                while feed.marketdata.stats.unknown == 0:
                    await events.receive()
            assert feed.marketdata.stats.malformed == 1
            assert [r["path"] for r in feed.audit.table("decode_errors")] == ["$.data[0].symbol"]
            assert feed.connection.metrics.reconnects == 0


def test_a_frame_that_breaks_the_processor_is_counted_and_skipped() -> None:
    audited: list[tuple[str, dict[str, object]]] = []
    md = MarketData(
        MarketDataConfig(symbols=("BTC/USD",)),
        Recorder(Bus(), lambda row: audited.append((row.__table__, asdict(row)))),
        ConnectionMetrics("public", 0.0),
    )

    def broken(*args: object) -> None:
        raise RuntimeError("a bug of ours")

    md.machine._ticker = broken  # type: ignore[method-assign]
    ticker = '{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":1,"ask":2}]}'
    assert md.process(_frame(ticker)) is None
    assert md.stats.failed == 1
    [(table, row)] = audited
    assert table == "decode_errors" and "RuntimeError: a bug of ours" in str(row["reason"])


async def test_an_odd_pair_in_the_instrument_snapshot_is_skipped_and_the_books_verify() -> None:
    # A snapshot of about a thousand pairs can hold one that does not decode: it made the
    # whole snapshot unreadable, and no book was ever subscribed.
    async with open_simulator(SimConfig(rate=600, odd_instrument_pair=True)) as sim:
        config = MarketDataConfig(symbols=SYMBOLS)
        async with public_feed(sim.urls.ws_public, config) as feed:  # type: ignore[union-attr]
            await _verified_books(feed.bus.subscribe(capacity=100_000), SYMBOLS)
            assert feed.marketdata.machine.decoder.skipped == 1
            assert feed.marketdata.stats.malformed == 0
            assert "ODD/USD" not in feed.marketdata.machine.pairs
            [row] = feed.audit.table("decode_errors")
            assert "pair ODD/USD" in str(row["reason"])
            assert str(row["path"]).startswith("$.data.pairs[4]")


async def test_no_instrument_snapshot_within_the_wait_drops_the_connection_and_says_why(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(SimConfig(rate=50)) as sim:
        sim.frame_fault(Fault.DROP_FRAMES, "public", 1)  # the first data frame: the snapshot
        config = MarketDataConfig(symbols=("BTC/USD",), instrument_wait=10.0)
        async with public_feed(sim.urls.ws_public, config) as feed:  # type: ignore[union-attr]
            states = feed.bus.subscribe(ConnectionStateChanged)
            with trio.fail_after(30):
                while (lost := await states.receive()).new is not ConnectionState.DISCONNECTED:
                    pass
            assert isinstance(lost, ConnectionStateChanged)
            assert 10.0 <= trio.current_time() - sim.connect_times[0] < 10.5
            assert "public: no instrument snapshot within 10s" in lost.reason
            await _verified_books(feed.bus.subscribe(capacity=100_000), ("BTC/USD",))
            assert len(sim.connect_times) == 2  # the next connection got its snapshot
