"""One supervised WebSocket connection, kept alive forever.

:meth:`Connection.run` prepares (``prepare``: the private connection fetches its token here,
before the socket opens), connects, lets its owner subscribe (``on_connect``), reads frames
until the connection fails, tells the owner (``on_disconnect``), then waits as
:class:`~galfriday.core.reconnect.ReconnectPlanner` says and starts again, until cancelled.
Each state change (DISCONNECTED, CONNECTING, CONNECTED, AUTHENTICATED, SUBSCRIBED) goes to
the ``sink`` (the engine publishes and audits it).

Rules:

- The reader never blocks: each frame goes to the owner's channel with ``send_nowait``
  (trio-websocket stops answering pings when its queue fills). A full channel is an overrun:
  counted, audited, and the connection is dropped so every subscription is rebuilt from fresh
  snapshots.
- A processor takes the frames waiting in its channel in one turn (:func:`queued`, at most
  :data:`DRAIN`), so frames that arrived together are not each held back by a scheduler pass.
- Preparing has ``prepare_timeout``; connect and handshake share ``connect_timeout``; the
  owner's subscriptions must be sent within ``subscribe_timeout``. Nothing slow (a REST call
  waiting its turn) runs while the socket is open but not yet subscribed.
- A silence watchdog, from the moment the subscriptions are sent: no frame of any kind
  (heartbeats included) for ``silence_timeout`` seconds and the connection is dropped. When
  nothing has been sent or received for ``ping_interval`` seconds an application ``ping``
  goes out, so Kraken's one-minute idle close never fires.
- ``status`` frames are peeked at: while the exchange says ``maintenance``, reconnects are at
  least five seconds apart.
- The connection owns its TCP stream and closes it on every exit path (trio-websocket alone
  leaks the socket of an abnormally closed client connection).
- Capture: frames sent, state changes (with the error or close code that caused them) and
  overruns go on the tape; ``prepare`` runs as the ``prepare`` operation and ``on_connect`` as
  the ``connect`` operation. (Frames received are recorded by their processor, when it takes
  them, so a capture holds them in the order their effects happened.)
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Protocol
from urllib.parse import urlsplit

import trio
from loguru import logger
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, wrap_client_stream

from galfriday.capture.tape import Tape
from galfriday.core.frames import Frame, Sink
from galfriday.core.health import ConnectionMetrics
from galfriday.core.reconnect import BackoffPolicy, ReconnectPlanner
from galfriday.errors import AuthenticationError, ConnectionBroken, ExchangeError, MalformedFrame
from galfriday.errors import ConnectionClosed as ClosedInOrder
from galfriday.events import ConnectionState, ConnectionStateChanged, ResyncStarted
from galfriday.kraken import requests as rq
from galfriday.kraken.wire import FrameDecoder, StatusMessage

__all__ = [
    "DRAIN",
    "Connection",
    "ConnectionConfig",
    "Frame",
    "Link",
    "LiveLink",
    "overrun",
    "queued",
]

MAX_FRAME: Final = 4 * 1024 * 1024
DRAIN: Final = 16  # frames a processor takes in one turn when they wait (see queued())
_STATUS_PREFIX: Final = '{"channel":"status"'


@dataclass(frozen=True)
class ConnectionConfig:
    name: str
    url: str
    connect_timeout: float = 10.0
    prepare_timeout: float = 30.0
    subscribe_timeout: float = 30.0
    silence_timeout: float = 10.0
    ping_interval: float = 15.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    seed: int | None = None


_LOST: Final = (
    ExchangeError,  # e.g. the token refused, or unreadable: retried with backoff, logged
    ConnectionBroken,
    ClosedInOrder,
    OSError,
    HandshakeError,
    ConnectionClosed,
    trio.BrokenResourceError,
    trio.TooSlowError,
)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


class Link(Protocol):
    """One connection attempt's open socket, as its owner uses it (a test may stand in).

    (A *session*, elsewhere, is one run of the engine: what a capture records.)"""

    def next_req_id(self) -> int: ...

    async def send(self, frame: bytes | str) -> None: ...

    def set_state(self, state: ConnectionState, reason: str = "") -> None: ...


class LiveLink:
    """The live socket of one connection attempt, handed to ``on_connect``."""

    def __init__(self, connection: Connection, ws: WebSocketConnection) -> None:
        self._connection = connection
        self._ws = ws

    def next_req_id(self) -> int:
        self._connection._req_id += 1
        return self._connection._req_id

    async def send(self, frame: bytes | str) -> None:
        """Send one frame.

        Raises:
            ConnectionBroken: the socket is closed or broken (the supervisor reconnects).
        """
        text = frame.decode() if isinstance(frame, bytes) else frame
        try:
            await self._ws.send_message(text)
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionBroken(f"{self._connection.config.name}: send failed ({exc})") from exc
        self._connection.metrics.sent(len(text), trio.current_time())
        self._connection.tape.ws_out(self._connection.config.name, text)

    def set_state(self, state: ConnectionState, reason: str = "") -> None:
        self._connection._set_state(state, reason)


OnConnect = Callable[[Link], Awaitable[None]]
Prepare = Callable[[], Awaitable[None]]


class Connection:
    """Supervises one endpoint. Frames go to ``frames``; the owner subscribes in ``on_connect``."""

    def __init__(
        self,
        config: ConnectionConfig,
        frames: trio.MemorySendChannel[Frame],
        on_connect: OnConnect,
        sink: Sink,
        tape: Tape | None = None,
        *,
        prepare: Prepare | None = None,
        on_disconnect: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.tape = tape or Tape()
        self._frames = frames
        self._on_connect = on_connect
        self._prepare = prepare
        self._on_disconnect = on_disconnect
        self._sink = sink
        self.state = ConnectionState.DISCONNECTED
        self.metrics = ConnectionMetrics(config.name, trio.current_time())
        self.planner = ReconnectPlanner(config.backoff, random.Random(config.seed))
        self.maintenance = False
        self._req_id = 0
        self._decoder = FrameDecoder()
        self._link: LiveLink | None = None
        self._kick = trio.Event()

    @property
    def link(self) -> LiveLink | None:
        """The current socket, or None while disconnected."""
        return self._link

    def reconnect(self, reason: str) -> None:
        """Drop the current socket (if any) and connect again, as after a failure."""
        logger.bind(conn=self.config.name).warning("reconnect requested: {}", reason)
        self.tape.event(self.config.name, "reconnect", reason)
        self._kick.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, serve, reconnect, forever (until cancelled)."""
        task_status.started()
        async with self._frames:
            while True:
                now = trio.current_time()
                delay = self.planner.delay(now, self.maintenance)
                if delay:
                    await trio.sleep(delay)
                self.planner.record_attempt(trio.current_time())
                try:
                    await self._connect_and_serve()
                except* _LOST as group:
                    self.metrics.errors += 1
                    leaves = _leaves(group)
                    reason = "; ".join(f"{type(e).__name__}: {e}" for e in leaves)
                    # A refused key needs a person; an outage (a 5xx, a timeout) only time.
                    refused = any(isinstance(e, AuthenticationError) for e in leaves)
                    log = logger.bind(conn=self.config.name)
                    (log.error if refused else log.info)("connection lost: {}", reason)
                    self._set_state(ConnectionState.DISCONNECTED, reason[:200])
                self.planner.record_lost(trio.current_time())
                self.metrics.reconnected(trio.current_time())

    async def _connect_and_serve(self) -> None:
        config = self.config
        parts = urlsplit(config.url)
        host = parts.hostname or "localhost"
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        self._set_state(ConnectionState.CONNECTING)
        if self._prepare is not None:
            with self.tape.op("prepare", conn=config.name), trio.fail_after(config.prepare_timeout):
                await self._prepare()
        with trio.fail_after(config.connect_timeout):
            if parts.scheme == "wss":
                stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]
                stream = await trio.open_ssl_over_tcp_stream(
                    host, port, ssl_context=ssl.create_default_context(), https_compatible=True
                )
            else:
                stream = await trio.open_tcp_stream(host, port)
        try:
            async with trio.open_nursery() as nursery:
                with trio.fail_after(config.connect_timeout):
                    ws = await wrap_client_stream(
                        nursery,
                        stream,
                        host,
                        parts.path or "/",
                        message_queue_size=256,
                        max_message_size=MAX_FRAME,
                    )
                self.planner.record_connected(trio.current_time())
                self._set_state(ConnectionState.CONNECTED)
                self._kick = trio.Event()
                link = self._link = LiveLink(self, ws)
                try:
                    nursery.start_soon(self._pinger, link)
                    nursery.start_soon(self._subscribe, link)
                    nursery.start_soon(self._watch_kick)
                    await self._read(ws)
                finally:
                    self._link = None
                    if self._on_disconnect is not None:
                        self._on_disconnect()
                    # A close frame goes out either way; its reply is only waited for when
                    # nothing is cancelled yet (else no reader is left to take it).
                    stopping = trio.current_effective_deadline() == float("-inf")
                    nursery.cancel_scope.cancel()
                    with trio.move_on_after(0.05 if stopping else 1) as scope:
                        scope.shield = True
                        await ws.aclose()
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _subscribe(self, link: Link) -> None:
        """The owner's subscriptions (within ``subscribe_timeout``), then the silence watch."""
        name, limit = self.config.name, self.config.subscribe_timeout
        with trio.move_on_after(limit) as scope, self.tape.op("connect", conn=name):
            await self._on_connect(link)
        if scope.cancelled_caught:
            raise ConnectionBroken(f"{name}: subscriptions not done within {limit}s")
        self._set_state(ConnectionState.SUBSCRIBED)
        await self._watch_silence()

    async def _watch_silence(self) -> None:
        """No frame for ``silence_timeout`` seconds drops the connection (one timer for the
        whole connection, not one per frame)."""
        timeout, began = self.config.silence_timeout, trio.current_time()
        while True:
            due = max(self.metrics.last_received, began) + timeout
            if trio.current_time() >= due:
                raise ConnectionBroken(f"{self.config.name}: silent for {timeout}s")
            await trio.sleep_until(due)

    async def _watch_kick(self) -> None:
        await self._kick.wait()
        raise ConnectionBroken(f"{self.config.name}: reconnect requested")

    async def _read(self, ws: WebSocketConnection) -> None:
        name, metrics = self.config.name, self.metrics
        while True:
            message = await ws.get_message()
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            mono = trio.current_time()
            metrics.received(len(text), mono)
            if text.startswith(_STATUS_PREFIX):
                self._peek_status(text)
            try:
                self._frames.send_nowait(Frame(text, mono, time.time(), name))
            except trio.WouldBlock:
                metrics.overruns += 1
                self.tape.event(name, "overrun", "processor fell behind")
                self._sink.emit(overrun(name, time.time()))
                raise ConnectionBroken(f"{name}: frame queue overrun") from None

    def _peek_status(self, text: str) -> None:
        try:
            message = self._decoder.decode(text)
        except MalformedFrame:
            return
        if isinstance(message, StatusMessage) and message.data:
            self.maintenance = message.data[0].system == "maintenance"

    async def _pinger(self, link: Link) -> None:
        interval = self.config.ping_interval
        while True:
            await trio.sleep(interval / 3)
            idle = trio.current_time() - max(self.metrics.last_received, self.metrics.last_sent)
            if idle >= interval:
                await link.send(rq.ping(link.next_req_id()))

    def _set_state(self, state: ConnectionState, reason: str = "") -> None:
        old, self.state = self.state, state
        if old == state:
            return
        now, wall = trio.current_time(), time.time()
        if state is ConnectionState.SUBSCRIBED:
            self.metrics.subscribed_since, self.metrics.down_since = now, None
        elif old is ConnectionState.SUBSCRIBED or self.metrics.down_since is None:
            self.metrics.subscribed_since = None
            self.metrics.down_since = now
        name = self.config.name
        self.tape.state(name, old.value, state.value, reason, now, wall)
        self._sink.emit(
            ConnectionStateChanged(
                connection=name, old=old, new=state, reason=reason, received_at=wall
            )
        )


def queued(frames: trio.MemoryReceiveChannel[Frame], most: int) -> list[Frame]:
    """Up to ``most`` frames already waiting in ``frames``, taken without waiting.

    A processor that got a frame takes these too and handles them in the same turn: frames
    that arrived together are not each held back by a pass of trio's scheduler (every other
    task runs between two receives). ``most`` bounds how long the other tasks wait for it.
    """
    taken: list[Frame] = []
    while len(taken) < most:
        try:
            taken.append(frames.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    return taken


def overrun(conn: str, wall: float) -> ResyncStarted:
    """What an overrun is: every subscription of ``conn`` rebuilt (live, and replayed)."""
    return ResyncStarted(
        stream=conn, symbol=None, reason="overrun: processor fell behind", received_at=wall
    )
