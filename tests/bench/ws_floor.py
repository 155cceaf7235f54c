"""``just bench --ws-floor``: what receiving a book frame costs before galfriday touches it.

The simulator's capture playback serves book frames at a set rate; a client subscribes and
reads them for a few seconds, and the figure is its thread's CPU time per frame (after the
first 2,000 frames), for four clients, each doing a little more of what the engine does:

- ``blocking``: a plain blocking socket, ``recv()`` in a loop (no WebSocket parsing);
- ``trio``: trio's ``SocketStream.receive_some()`` in a loop (no WebSocket parsing);
- ``wsproto``: the same, each read parsed into messages by wsproto;
- ``trio-websocket``: ``WebSocketConnection.get_message()``, as the engine reads.

The engine's own figure at the same rate is its processor's and reader's CPU on top of the
last one.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from tempfile import TemporaryDirectory

import trio
import trio_websocket
import wsproto
from wsproto.events import AcceptConnection, Request, TextMessage

from tests.bench.engine_bench import playback
from tests.bench.frames import make_traffic
from tests.bench.replay_bench import FRAME_GAP, write_capture

SKIP = 2_000  # frames read before the clock starts (the subscription's catch-up)
FRAME_BYTES = 230  # about one book update on the wire, to count frames without parsing


class _Meter:
    """Thread CPU per frame from the ``SKIP``-th frame on."""

    def __init__(self) -> None:
        self.frames = 0
        self._start: tuple[float, int] | None = None

    def saw(self, frames: int) -> None:
        self.frames = frames
        if self._start is None and frames >= SKIP:
            self._start = (time.thread_time(), frames)

    def per_frame_us(self) -> float:
        if self._start is None or self.frames <= self._start[1]:
            return float("nan")
        cpu, first = self._start
        return (time.thread_time() - cpu) / (self.frames - first) * 1e6


def _subscribe(symbols: tuple[str, ...]) -> str:
    params = {"channel": "book", "symbol": list(symbols), "depth": 10}
    return json.dumps({"method": "subscribe", "params": params})


def _address(url: str) -> tuple[str, int, str]:
    rest = url.split("//", 1)[1]
    hostport, _, path = rest.partition("/")
    host, port = hostport.rsplit(":", 1)
    return host, int(port), "/" + path


def _blocking(url: str, symbols: tuple[str, ...], seconds: float) -> float:
    host, port, path = _address(url)
    meter = _Meter()
    with socket.create_connection((host, port)) as sock:
        ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        sock.sendall(ws.send(Request(host=host, target=path)))
        while not any(isinstance(e, AcceptConnection) for e in _events(ws, sock.recv(65536))):
            pass
        sock.sendall(ws.send(TextMessage(data=_subscribe(symbols))))
        received, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            received += len(sock.recv(65536))
            meter.saw(received // FRAME_BYTES)
    return meter.per_frame_us()


def _events(ws: wsproto.WSConnection, data: bytes) -> list[object]:
    ws.receive_data(data)
    return list(ws.events())


async def _trio(url: str, symbols: tuple[str, ...], seconds: float, parse: bool) -> float:
    host, port, path = _address(url)
    meter = _Meter()
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        await stream.send_all(ws.send(Request(host=host, target=path)))
        while not any(
            isinstance(e, AcceptConnection) for e in _events(ws, await stream.receive_some(65536))
        ):
            pass
        await stream.send_all(ws.send(TextMessage(data=_subscribe(symbols))))
        received = frames = 0
        with trio.move_on_after(seconds):
            while True:
                data = await stream.receive_some(65536)
                if parse:
                    frames += sum(
                        1
                        for e in _events(ws, data)
                        if isinstance(e, TextMessage) and e.message_finished
                    )
                    meter.saw(frames)
                else:
                    received += len(data)
                    meter.saw(received // FRAME_BYTES)
    return meter.per_frame_us()


async def _trio_websocket(url: str, symbols: tuple[str, ...], seconds: float) -> float:
    meter = _Meter()
    async with trio_websocket.open_websocket_url(url) as ws:
        await ws.send_message(_subscribe(symbols))
        frames = 0
        with trio.move_on_after(seconds):
            while True:
                await ws.get_message()
                frames += 1
                meter.saw(frames)
    return meter.per_frame_us()


def ws_floor(frames_per_s: float = 5000, seconds: float = 5.0) -> dict[str, float]:
    """CPU µs per frame of each client at ``frames_per_s`` (see the module docstring)."""
    readers: dict[str, Callable[[str, tuple[str, ...]], float]] = {
        "blocking": lambda url, symbols: _blocking(url, symbols, seconds),
        "trio": lambda url, symbols: _run(_trio(url, symbols, seconds, parse=False)),
        "wsproto": lambda url, symbols: _run(_trio(url, symbols, seconds, parse=True)),
        "trio_websocket": lambda url, symbols: _run(_trio_websocket(url, symbols, seconds)),
    }
    total = int(frames_per_s * (seconds + 4))
    traffic = make_traffic(pairs=4, depth=10, updates=total, seed=11)
    symbols = tuple(traffic.books)
    results: dict[str, float] = {"frames_per_s": frames_per_s}
    with TemporaryDirectory() as tmp:
        capture = Path(tmp) / "floor.gfcap"
        write_capture(traffic, capture, depth=10)
        for name, read in readers.items():
            with playback(capture, frames_per_s * FRAME_GAP) as urls:
                results[f"{name}_us_per_frame"] = read(urls["ws_public"], symbols)
    return results


def _run(coroutine: Awaitable[float]) -> float:
    async def main() -> float:
        return await coroutine

    return trio.run(main)
