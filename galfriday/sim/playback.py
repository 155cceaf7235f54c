"""``galfriday sim --from-capture``: a capture's public market data served as Kraken would.

Every client gets the recorded public frames from the capture's start, paced by their
monotonic timestamps (``speed`` times faster), filtered by what it subscribed to. A book
subscription gets the symbol's latest recorded snapshot and every update since (so the book
is whole and each checksum still holds), then the updates as they come; ticker, trade and
OHLC get the latest recorded frame, then the rest. ``instrument`` gets the recorded snapshot.
Acks, pongs and errors are written as Kraken writes them. The books are served at the depth
they were recorded with (the ack says which). At the end of the capture the connection is
closed (code 1000), or playback starts over with ``loop``. With ``restamp`` a book frame's
``timestamp`` becomes the moment it is sent, so a client can measure its latency from the send.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import trio
from loguru import logger
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from galfriday.capture.format import Header, Record, WsIn
from galfriday.kraken import wire
from galfriday.sim import frames

__all__ = ["Playback", "PlaybackFrame", "load_frames"]

MAX_MESSAGE: Final = 64 * 1024
_ALWAYS: Final = frozenset({"heartbeat", "status"})


@dataclass(frozen=True)
class PlaybackFrame:
    mono: float
    text: str
    channel: str
    kind: str  # "snapshot", "update", or ""
    symbols: tuple[str, ...]


def load_frames(records: Iterable[Record]) -> list[PlaybackFrame]:
    """The public frames of a capture, with their channel and symbols read once."""
    out = []
    for record in records:
        if not isinstance(record, WsIn) or record.conn != "public":
            continue
        try:
            message = json.loads(record.text)
        except ValueError:
            continue
        if not isinstance(message, dict) or "channel" not in message:
            continue  # acks and pongs are answered, not replayed
        data = message.get("data")
        items = data if isinstance(data, list) else []
        symbols = tuple(str(d["symbol"]) for d in items if isinstance(d, dict) and "symbol" in d)
        kind = str(message.get("type", ""))
        out.append(PlaybackFrame(record.mono, record.text, str(message["channel"]), kind, symbols))
    return out


class _Request(msgspec.Struct):
    method: str = ""
    params: dict[str, Any] = {}
    req_id: int | None = None


_DECODE: Final = msgspec.json.Decoder(_Request)


@dataclass
class _Client:
    ws: WebSocketConnection
    depth: int
    subs: set[tuple[str, str]] = field(default_factory=set)  # (channel, symbol or "")
    waiting: set[str] = field(default_factory=set)  # books subscribed before any snapshot
    books: dict[str, list[str]] = field(default_factory=dict)  # snapshot + updates since
    latest: dict[tuple[str, str], str] = field(default_factory=dict)
    lock: trio.Lock = field(default_factory=trio.Lock)

    async def send(self, text: str | bytes) -> None:
        await self.ws.send_message(text if isinstance(text, str) else text.decode())


class Playback:
    """Serves ``frames`` on one WebSocket port; see the module docstring."""

    def __init__(
        self,
        header: Header,
        frames_: list[PlaybackFrame],
        speed: float = 1.0,
        loop: bool = False,
        host: str = "127.0.0.1",
        restamp: bool = False,
    ) -> None:
        if not frames_:
            raise ValueError("the capture holds no public market data")
        self.header = header
        self.frames = frames_
        self.speed = speed
        self.loop = loop
        self.host = host
        self.restamp = restamp
        self.depth = int(header.config.get("marketdata", {}).get("depth", 10))
        self.clients = 0

    async def serve(self, port: int = 0, *, task_status: trio.TaskStatus[str]) -> None:
        """Listen; reports the ``ws://`` URL once it is listening."""
        listeners = await trio.open_tcp_listeners(port, host=self.host)
        bound = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._on_stream, listeners)
            task_status.started(f"ws://{self.host}:{bound}/v2")

    async def _on_stream(self, stream: trio.SocketStream) -> None:
        self.clients += 1
        try:
            async with trio.open_nursery() as nursery:
                request = await wrap_server_stream(
                    nursery, stream, message_queue_size=64, max_message_size=MAX_MESSAGE
                )
                client = _Client(await request.accept(), self.depth)
                nursery.start_soon(self._requests, client)
                await self._play(client)
                await client.ws.aclose(1000, "end of capture")
                nursery.cancel_scope.cancel()
        except* (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            logger.debug("playback client left")
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _play(self, client: _Client) -> None:
        while True:
            began, first = trio.current_time(), self.frames[0].mono
            for frame in self.frames:
                due = began + (frame.mono - first) / self.speed
                if due > trio.current_time():
                    await trio.sleep_until(due)
                async with client.lock:
                    await self._offer(client, frame)
            if not self.loop:
                return

    async def _offer(self, client: _Client, frame: PlaybackFrame) -> None:
        channel = frame.channel
        if channel in _ALWAYS:
            await client.send(frame.text)
            return
        if channel == "instrument":
            client.latest[("instrument", "")] = frame.text
            if ("instrument", "") in client.subs:
                await client.send(frame.text)
            return
        wanted = []
        for symbol in frame.symbols:
            if channel == "book":
                if frame.kind == "snapshot":
                    client.books[symbol] = [frame.text]
                    client.waiting.discard(symbol)
                elif symbol in client.books:
                    client.books[symbol].append(frame.text)
                if (channel, symbol) in client.subs and symbol not in client.waiting:
                    wanted.append(symbol)
            else:
                client.latest[(channel, symbol)] = frame.text
                if (channel, symbol) in client.subs:
                    wanted.append(symbol)
        if not wanted:
            return
        if len(wanted) == len(frame.symbols):
            if self.restamp and channel == "book":
                await client.send(frames.restamp(frame.text.encode(), time.time()))
                return
            await client.send(frame.text)
        else:  # a frame for several symbols, only some subscribed
            message = json.loads(frame.text)
            message["data"] = [d for d in message["data"] if d.get("symbol") in wanted]
            await client.send(json.dumps(message, separators=(",", ":")))

    async def _requests(self, client: _Client) -> None:
        while True:
            text = await client.ws.get_message()
            wall = datetime.now(UTC).timestamp()
            try:
                request = _DECODE.decode(text)
            except msgspec.DecodeError:
                await client.send(frames.error_response("unknown", "Malformed request", None, wall))
                continue
            async with client.lock:
                await self._answer(client, request, wall)

    async def _answer(self, client: _Client, request: _Request, wall: float) -> None:
        method, params, req_id = request.method, request.params, request.req_id
        stamp = datetime.fromtimestamp(wall, UTC)
        if method == "ping":
            pong = wire.Response(method="pong", req_id=req_id, time_in=stamp, time_out=stamp)
            await client.send(frames.encode(pong))
            return
        if method not in ("subscribe", "unsubscribe"):
            error = f"Method {method} not supported"
            await client.send(frames.error_response(method, error, req_id, wall))
            return
        channel = str(params.get("channel", ""))
        if channel not in ("book", "ticker", "trade", "ohlc", "instrument"):
            error = f"Channel {channel} not found"
            await client.send(frames.error_response(method, error, req_id, wall))
            return
        raw = params.get("symbol")
        symbols = [""] if channel == "instrument" else ([raw] if isinstance(raw, str) else raw)
        if not symbols:
            error = "EGeneral:Invalid arguments:symbol"
            await client.send(frames.error_response(method, error, req_id, wall))
            return
        for symbol in symbols:
            key = (channel, str(symbol))
            extra: dict[str, Any] = {"depth": client.depth} if channel == "book" else {}
            result = wire.ResponseResult(
                channel=channel, symbol=symbol or None, snapshot=True, **extra
            )
            ack = wire.Response(
                method=method,
                success=True,
                req_id=req_id,
                time_in=stamp,
                time_out=stamp,
                result=result,
            )
            await client.send(frames.encode(ack))
            if method == "unsubscribe":
                client.subs.discard(key)
                client.waiting.discard(str(symbol))
                continue
            client.subs.add(key)
            if channel == "book":
                caught_up = client.books.get(str(symbol))
                if caught_up is None:
                    client.waiting.add(str(symbol))
                for text in caught_up or ():
                    await client.send(text)
            elif key in client.latest:
                await client.send(client.latest[key])
