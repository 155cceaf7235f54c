from __future__ import annotations

import itertools
import json

import pytest
import trio
import trio.testing
from msgspec.structs import asdict

from galfriday.bus import Bus
from galfriday.core.reconnect import BackoffPolicy
from galfriday.events import ConnectionState, ConnectionStateChanged
from galfriday.live.connection import Connection, ConnectionConfig, Frame, Link, queued
from galfriday.live.recorder import Recorder
from galfriday.sim.server import SimConfig, open_simulator

QUIET = SimConfig(rate=0.001)


class Harness:
    """A connection to ``url`` whose owner subscribes to the instrument channel."""

    def __init__(self, url: str, capacity: int = 1000, **config: object) -> None:
        self.bus = Bus()
        self.states = self.bus.subscribe(ConnectionStateChanged, capacity=10_000)
        self.send, self.frames = trio.open_memory_channel[Frame](capacity)
        self.connects = 0
        self.audit: list[tuple[str, dict[str, object]]] = []
        self.connection = Connection(
            ConnectionConfig(name="public", url=url, seed=1, **config),  # type: ignore[arg-type]
            self.send,
            self.on_connect,
            Recorder(self.bus, lambda row: self.audit.append((row.__table__, asdict(row)))),
        )

    async def on_connect(self, link: Link) -> None:
        self.connects += 1
        await link.send(
            json.dumps(
                {
                    "method": "subscribe",
                    "req_id": link.next_req_id(),
                    "params": {"channel": "instrument"},
                }
            )
        )

    def transitions(self) -> list[ConnectionState]:
        out = []
        while True:
            try:
                event = self.states.receive_nowait()
            except trio.WouldBlock:
                return out
            assert isinstance(event, ConnectionStateChanged)
            out.append(event.new)

    async def frame_containing(self, needle: str, seconds: float = 10) -> Frame:
        with trio.fail_after(seconds):
            async for frame in self.frames:
                if needle in frame.raw:
                    return frame
        raise AssertionError("channel closed")


async def test_connects_subscribes_and_delivers_frames() -> None:
    async with open_simulator(QUIET) as sim:
        h = Harness(sim.urls.ws_public)  # type: ignore[union-attr]
        async with trio.open_nursery() as nursery:
            await nursery.start(h.connection.run)
            frame = await h.frame_containing('{"channel":"instrument","type"')
            assert frame.connection == "public" and frame.received_wall > 1.7e9
            assert h.connection.state is ConnectionState.SUBSCRIBED
            nursery.cancel_scope.cancel()
        assert h.transitions() == [
            ConnectionState.CONNECTING,
            ConnectionState.CONNECTED,
            ConnectionState.SUBSCRIBED,
        ]
        assert [row["new_state"] for table, row in h.audit if table == "connection_events"] == [
            ConnectionState.CONNECTING,
            ConnectionState.CONNECTED,
            ConnectionState.SUBSCRIBED,
        ]


async def test_a_dropped_connection_reconnects_and_resubscribes() -> None:
    async with open_simulator(QUIET) as sim:
        h = Harness(sim.urls.ws_public)  # type: ignore[union-attr]
        async with trio.open_nursery() as nursery:
            await nursery.start(h.connection.run)
            await h.frame_containing('{"channel":"instrument","type"')
            await sim.drop_connections("public")
            await h.frame_containing('{"channel":"instrument","type"')
            assert h.connects == 2 and h.connection.metrics.reconnects == 1
            nursery.cancel_scope.cancel()
        states = h.transitions()
        assert states.count(ConnectionState.SUBSCRIBED) == 2
        assert ConnectionState.DISCONNECTED in states


async def test_a_silent_stall_is_detected_within_its_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(QUIET) as sim:
        h = Harness(sim.urls.ws_public, silence_timeout=5.0)  # type: ignore[union-attr]
        async with trio.open_nursery() as nursery:
            await nursery.start(h.connection.run)
            await h.frame_containing('{"channel":"instrument","type"')
            sim.stall("public", 3600)
            stalled_at = trio.current_time()
            with trio.fail_after(30):
                while h.connects < 2:
                    await h.frames.receive()
            nursery.cancel_scope.cancel()
        lost = [
            r
            for t, r in h.audit
            if t == "connection_events" and r["new_state"] == ConnectionState.DISCONNECTED
        ]
        assert "silent for 5.0s" in str(lost[0]["reason"])
        assert h.connection.metrics.reconnects >= 1
        assert trio.current_time() - stalled_at < 30


async def test_idle_pings_keep_an_unsubscribed_socket_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def no_subscriptions(link: Link) -> None:
        return None

    async with open_simulator(QUIET) as sim:
        bus = Bus()
        send, frames = trio.open_memory_channel[Frame](1000)
        connection = Connection(
            ConnectionConfig(
                name="public",
                url=sim.urls.ws_public,
                silence_timeout=30,  # type: ignore[union-attr]
                ping_interval=15,
            ),
            send,
            no_subscriptions,
            Recorder(bus, lambda row: None),
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(connection.run)
            pongs = 0
            with trio.move_on_after(300):
                async for frame in frames:
                    pongs += '"method":"pong"' in frame.raw
            nursery.cancel_scope.cancel()
        assert connection.metrics.reconnects == 0 and pongs >= 15


@pytest.mark.slow
async def test_permanent_outage_never_exceeds_150_attempts_in_ten_minutes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: every attempt is refused
    h = Harness(f"ws://127.0.0.1:{port}/v2", backoff=BackoffPolicy(base=0.01, cap=0.05))
    attempts: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(h.connection.run)

        async def watch() -> None:
            async for event in h.states:
                if (
                    isinstance(event, ConnectionStateChanged)
                    and event.new is ConnectionState.CONNECTING
                ):
                    attempts.append(trio.current_time())

        nursery.start_soon(watch)
        await trio.sleep(1800)
        nursery.cancel_scope.cancel()
    assert len(attempts) > 200  # it kept trying for the whole outage
    for i, start in enumerate(attempts):
        assert len([t for t in attempts[i:] if t < start + 600]) <= 150


async def test_maintenance_spaces_reconnects_five_seconds_apart(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_simulator(QUIET) as sim:
        h = Harness(sim.urls.ws_public, backoff=BackoffPolicy(base=0.01, cap=0.05))  # type: ignore[union-attr]
        async with trio.open_nursery() as nursery:
            await nursery.start(h.connection.run)
            await h.frame_containing('{"channel":"instrument","type"')
            sim.set_system_status("maintenance")
            await h.frame_containing('"system":"maintenance"')
            attempts = []
            for _ in range(3):
                await sim.drop_connections("public")
                await h.frame_containing('"channel":"status"')
                attempts.append(trio.current_time())
            nursery.cancel_scope.cancel()
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert all(gap >= 5 for gap in gaps), gaps


async def test_a_full_frame_queue_is_an_overrun_that_rebuilds_the_connection() -> None:
    async with open_simulator(SimConfig(rate=2000)) as sim:
        h = Harness(sim.urls.ws_public, capacity=5)  # type: ignore[union-attr]

        async def subscribe_books(link: Link) -> None:
            h.connects += 1
            await link.send(
                json.dumps(
                    {
                        "method": "subscribe",
                        "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"]},
                    }
                )
            )

        h.connection._on_connect = subscribe_books
        async with trio.open_nursery() as nursery:
            await nursery.start(h.connection.run)
            with trio.fail_after(10):
                async for event in h.states:
                    assert isinstance(event, ConnectionStateChanged)
                    if event.new is ConnectionState.DISCONNECTED:
                        break
            nursery.cancel_scope.cancel()
        assert "frame queue overrun" in event.reason
        assert h.connection.metrics.overruns >= 1
        assert any(t == "resyncs" and "overrun" in str(r["reason"]) for t, r in h.audit)


def _frame(n: int) -> Frame:
    return Frame(f'{{"n":{n}}}', float(n), float(n), "public")


def test_queued_takes_the_waiting_frames_up_to_its_limit_without_waiting() -> None:
    send, frames = trio.open_memory_channel[Frame](10)
    for n in range(5):
        send.send_nowait(_frame(n))
    assert [f.raw for f in queued(frames, 3)] == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert [f.raw for f in queued(frames, 3)] == ['{"n":3}', '{"n":4}']
    assert queued(frames, 3) == []


def test_queued_stops_at_a_closed_channel_with_what_was_left() -> None:
    send, frames = trio.open_memory_channel[Frame](10)
    send.send_nowait(_frame(1))
    send.close()
    assert [f.raw for f in queued(frames, 3)] == ['{"n":1}']
    assert queued(frames, 3) == []
