"""``galfriday sim --from-capture``: a recorded session served to clients as Kraken would."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from trio_websocket import ConnectionClosed

from galfriday.capture.format import Reader, Record
from galfriday.cli import main
from galfriday.events import BookUpdate, TickerUpdate
from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.live.marketdata import MarketDataConfig
from galfriday.sim.playback import Playback, load_frames
from tests.live.helpers import public_feed
from tests.replay.session import Session
from tests.sim.helpers import connect


def _load(session: Session) -> tuple[Reader, list[Record]]:
    readers = [Reader(str(p), p.read_bytes()) for p in session.captures]
    return readers[0], [r for reader in readers for block in reader.blocks() for r in block]


@asynccontextmanager
async def _serving(session: Session, speed: float) -> AsyncIterator[tuple[Playback, str]]:
    reader, records = _load(session)
    assert reader.header is not None
    playback = Playback(reader.header, load_frames(records), speed=speed)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(playback.serve, 0)
        yield playback, url
        nursery.cancel_scope.cancel()


@pytest.mark.slow
async def test_a_client_gets_verified_books_from_a_recorded_session(
    session: Session,
) -> None:
    async with _serving(session, speed=5) as (_, url):
        config = MarketDataConfig(symbols=("BTC/USD", "ETH/USD"))
        async with public_feed(url, config) as feed:
            events = feed.bus.subscribe(capacity=100_000)
            verified: set[str] = set()
            tickers = 0
            with trio.fail_after(20):
                async for event in events:
                    if isinstance(event, BookUpdate) and event.verified and not event.snapshot:
                        verified.add(event.symbol)
                    tickers += isinstance(event, TickerUpdate)
                    if verified == {"BTC/USD", "ETH/USD"} and tickers >= 4:
                        break
            assert all(feed.marketdata.books[s].total_verified > 1 for s in verified)


@pytest.mark.slow
async def test_playback_is_paced_filtered_and_ends_with_a_normal_close(
    session: Session,
) -> None:
    _, records = _load(session)
    recorded = [f for f in load_frames(records) if f.channel == "ticker" and "ETH/USD" in f.symbols]
    frames = load_frames(records)
    span = frames[-1].mono - frames[0].mono
    async with _serving(session, speed=20) as (_, url):
        got: list[dict[str, object]] = []
        started = trio.current_time()
        async with connect(url) as client:
            params = {"channel": "ticker", "symbol": ["ETH/USD"]}
            await client.send(method="subscribe", params=params, req_id=7)
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(30):
                while True:
                    got.append(json.loads(await client.ws.get_message()))
        elapsed = trio.current_time() - started
    assert closed.value.reason.code == 1000
    acks = [m for m in got if m.get("method") == "subscribe"]
    assert acks and acks[0]["success"] is True and acks[0]["req_id"] == 7
    tickers = [m for m in got if m.get("channel") == "ticker"]
    assert tickers and all(t["data"][0]["symbol"] == "ETH/USD" for t in tickers)  # type: ignore[index]
    assert len(tickers) == len(recorded)
    assert not [m for m in got if m.get("channel") in ("book", "trade", "ohlc")]
    assert elapsed >= span / 20 * 0.9  # paced, not dumped


@pytest.mark.slow
async def test_a_late_book_subscription_gets_the_snapshot_and_the_updates_since(
    session: Session,
) -> None:
    async with _serving(session, speed=5) as (_, url), connect(url) as client:
        await client.send(method="subscribe", params={"channel": "instrument"})
        instrument = await client.channel("instrument")
        pair = next(p for p in instrument.data.pairs if p.symbol == "BTC/USD")
        await client.send(method="subscribe", params={"channel": "ticker", "symbol": ["BTC/USD"]})
        for _ in range(10):  # some way into the session
            await client.channel("ticker")
        params = {"channel": "book", "symbol": ["BTC/USD"]}
        await client.send(method="subscribe", params=params, req_id=3)
        ack = await client.response("subscribe", 3)
        assert ack.success and ack.result is not None and ack.result.channel == "book"
        book = OrderBook("BTC/USD", 10, pair.price_precision, pair.qty_precision)
        first = await client.channel("book")
        assert first.type == "snapshot"
        results = [book.apply(first.data[0], snapshot=True)]
        for _ in range(30):
            update = await client.channel("book", "update")
            results.append(book.apply(update.data[0], snapshot=False))
        assert results.count(BookCheck.MATCH) >= 30  # one may be the capture's corrupted frame


@pytest.mark.slow
async def test_the_command_serves_a_capture_and_prints_its_url(session: Session) -> None:
    command = [sys.executable, "-m", "galfriday", "sim", "--log-level", "ERROR"]
    command += ["--from-capture", str(session.captures[0]), "--speed", "10"]
    # A quick spawn; the blocking reads and the wait go through a worker thread.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: ASYNC220
    try:
        assert process.stdout is not None
        line = await trio.to_thread.run_sync(process.stdout.readline)
        urls = json.loads(line)
        assert urls["rest"] is None and urls["ws_private"] is None
        async with connect(urls["ws_public"]) as client:
            await client.send(
                method="subscribe", params={"channel": "trade", "symbol": ["BTC/USD"]}
            )
            trade = await client.channel("trade")
            assert trade.data[0].symbol == "BTC/USD"
    finally:
        process.terminate()
        await trio.to_thread.run_sync(process.wait)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0


def test_the_command_refuses_a_file_that_is_not_a_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert main(["sim", "--from-capture", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"galfriday: {path}: not a galfriday capture")
