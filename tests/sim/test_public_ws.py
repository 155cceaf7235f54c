from __future__ import annotations

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed

from galfriday.kraken import wire
from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.sim.server import SimConfig, open_simulator
from tests.sim.helpers import connect, is_channel


async def test_status_is_pushed_on_connect() -> None:
    async with open_simulator() as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        status = await client.recv()
        assert isinstance(status, wire.StatusMessage)
        assert status.data[0].system == "online" and status.data[0].api_version == "v2"


async def test_ping_pong_echoes_req_id() -> None:
    async with open_simulator() as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.send(method="ping", req_id=101)
        pong = await client.response("pong", 101)
        assert pong.ok


async def test_one_ack_per_symbol_and_unknown_symbol_error_shape() -> None:
    async with open_simulator() as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.send(
            method="subscribe",
            req_id=7,
            params={"channel": "ticker", "symbol": ["BTC/USD", "ETH/USD", "XBT/USD"]},
        )
        acks = [await client.response("subscribe", 7) for _ in range(3)]
        assert [(a.ok, a.result.symbol if a.result else a.symbol) for a in acks] == [
            (True, "BTC/USD"),
            (True, "ETH/USD"),
            (False, "XBT/USD"),
        ]
        assert acks[2].error == "Currency pair not supported XBT/USD" and acks[2].result is None


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"channel": "nonsense", "symbol": ["BTC/USD"]}, "Subscription name invalid"),
        ({"symbol": ["BTC/USD"]}, "Malformed request"),
        (
            {"channel": "book", "symbol": ["BTC/USD"], "depth": 7},
            "EGeneral:Invalid arguments:depth",
        ),
        (
            {"channel": "ohlc", "symbol": ["BTC/USD"], "interval": 2},
            "EGeneral:Invalid arguments:interval",
        ),
        ({"channel": "executions"}, "Subscription name invalid"),
    ],
)
async def test_bad_subscriptions_get_kraken_errors(params: dict[str, object], error: str) -> None:
    async with open_simulator() as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.send(method="subscribe", req_id=9, params=params)
        ack = await client.response("subscribe", 9)
        assert not ack.ok and ack.error == error


async def test_malformed_and_wrongly_typed_requests_get_errors_and_the_session_lives() -> None:
    async with open_simulator() as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.ws.send_message("{this is not json")
        bad = await client.until(lambda m: isinstance(m, wire.Response))
        assert isinstance(bad, wire.Response) and bad.error == "Malformed request"
        await client.send(method="subscribe", req_id="x", params=[1, 2])
        typed = await client.until(lambda m: isinstance(m, wire.Response))
        assert isinstance(typed, wire.Response) and (typed.error or "").startswith(
            "EGeneral:Invalid arguments"
        )
        await client.send(method="ping", req_id=3)
        assert (await client.response("pong", 3)).ok


async def test_oversized_frame_closes_only_that_connection() -> None:
    async with open_simulator() as sim:
        assert sim.urls is not None
        async with connect(sim.urls.ws_public) as other, connect(sim.urls.ws_public) as client:
            await client.ws.send_message("x" * (128 * 1024))
            with pytest.raises(ConnectionClosed) as info:
                with trio.fail_after(5):
                    while True:
                        await client.recv()
            assert info.value.reason.code == 1009
            await other.send(method="ping", req_id=1)
            assert (await other.response("pong", 1)).ok


async def test_duplicate_subscription_is_refused_and_unsubscribe_echoes_depth() -> None:
    async with open_simulator() as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        params = {"channel": "book", "symbol": ["BTC/USD"], "depth": 25}
        await client.send(method="subscribe", req_id=1, params=params)
        assert (await client.response("subscribe", 1)).ok
        await client.send(method="subscribe", req_id=2, params=params)
        assert (await client.response("subscribe", 2)).error == "Already subscribed"
        await client.send(method="unsubscribe", req_id=3, params=params)
        ack = await client.response("unsubscribe", 3)
        assert ack.ok and ack.result is not None and ack.result.depth == 25


@pytest.mark.slow
@pytest.mark.parametrize("depth", [10, 25, 100, 500, 1000])
async def test_book_snapshot_and_every_update_verify_at_every_depth(depth: int) -> None:
    config = SimConfig(rate=400)
    async with open_simulator(config) as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.send(
            method="subscribe",
            req_id=1,
            params={"channel": "book", "symbol": ["DOGE/USD"], "depth": depth},
        )
        book = OrderBook("DOGE/USD", depth, 7, 8)
        snapshot = await client.channel("book", "snapshot")
        assert book.apply(snapshot.data[0], snapshot=True) is BookCheck.MATCH
        assert len(book.bids()) == depth and len(book.asks()) == depth
        for _ in range(60):
            update = await client.channel("book", "update")
            data = update.data[0]
            result = book.apply(data, snapshot=False)
            if result is BookCheck.INEXACT:
                exact = client.decoder.decode_exact_book(client.raw[-1])
                result = book.apply(exact.data[0], snapshot=False)
            assert result is BookCheck.MATCH
        assert (
            '"qty":' in client.raw[-1] and ".0000" not in client.raw[-1].split('"checksum"')[0][-1:]
        )


async def test_book_numbers_keep_trailing_zeros() -> None:
    async with open_simulator() as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.send(
            method="subscribe",
            req_id=1,
            params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10},
        )
        await client.channel("book", "snapshot")
        text = client.raw[-1]
        assert '"qty":0.' in text or '"qty":1' in text
        for fragment in text.split('"qty":')[1:]:
            number = fragment.split("}")[0]
            assert len(number.split(".")[1]) == 8, number


async def test_ticker_trade_ohlc_and_instrument_channels() -> None:
    async with open_simulator(SimConfig(rate=800)) as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.send(method="subscribe", req_id=1, params={"channel": "instrument"})
        instrument = await client.channel("instrument", "snapshot")
        pairs = {p.symbol: p for p in instrument.data.pairs}
        assert set(pairs) >= {"BTC/USD", "ETH/USD", "XRP/USD", "DOGE/USD"}
        assert (pairs["BTC/USD"].price_precision, pairs["BTC/USD"].qty_precision) == (1, 8)
        await client.send(
            method="subscribe", req_id=2, params={"channel": "trade", "symbol": ["ETH/USD"]}
        )
        await client.send(
            method="subscribe", req_id=3, params={"channel": "ticker", "symbol": ["ETH/USD"]}
        )
        await client.send(
            method="subscribe",
            req_id=4,
            params={"channel": "ohlc", "symbol": ["ETH/USD"], "interval": 5},
        )
        ticker = await client.channel("ticker", "snapshot")
        assert ticker.data[0].bid < ticker.data[0].ask
        ids = []
        for _ in range(3):
            trade = await client.channel("trade", "update")
            ids += [t.trade_id for t in trade.data]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        candle = await client.channel("ohlc", "update")
        assert candle.data[0].interval == 5 and candle.data[0].low <= candle.data[0].high


async def test_trade_snapshot_is_opt_in_and_holds_the_last_trades() -> None:
    async with open_simulator(SimConfig(rate=800)) as sim:
        assert sim.urls is not None
        while not sim.exchange.recent["BTC/USD"]:
            sim.publish(sim.exchange.background_event(sim.wall(), "BTC/USD"))
        async with connect(sim.urls.ws_public) as client:
            await client.send(
                method="subscribe",
                req_id=2,
                params={"channel": "trade", "symbol": ["BTC/USD"], "snapshot": True},
            )
            snapshot = await client.channel("trade", "snapshot")
            assert 0 < len(snapshot.data) <= 50


async def test_heartbeat_when_subscribed_and_idle(autojump_clock: trio.testing.MockClock) -> None:
    async with open_simulator(SimConfig(rate=0.001)) as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.send(method="subscribe", req_id=1, params={"channel": "instrument"})
        await client.channel("instrument", "snapshot")
        start = trio.current_time()
        await client.until(is_channel("heartbeat"))
        assert 1.0 <= trio.current_time() - start <= 1.5


async def test_no_heartbeat_without_subscription_and_idle_close_after_a_minute(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(SimConfig(rate=0.001)) as sim, connect(sim.urls.ws_public) as client:  # type: ignore[union-attr]
        await client.recv()  # status
        start = trio.current_time()
        with pytest.raises(ConnectionClosed) as info:
            await client.recv()
        assert info.value.reason.code == 1000
        assert 60 <= trio.current_time() - start <= 61
