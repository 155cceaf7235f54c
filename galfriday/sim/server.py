"""The simulator's trio shell: listeners, the market clock, timers, and the test API.

:func:`serve_simulator` runs everything until cancelled and reports :class:`SimUrls` through
``task_status`` once all three listeners accept connections; :func:`open_simulator` is the
same as an async context manager that yields the :class:`Simulator`, whose methods inject
faults and report ground truth.

The rules of the exchange live in the :class:`~galfriday.sim.venue.Venue` (pure); this shell
only brings it sockets and time. It serves the listeners and sessions, runs the market clock,
waits for the venue's next timer and fires it, publishes what each venue call changed, and
injects the faults that need sockets or time (drops, stalls, frame faults, freezes, holds,
slow REST answers).

Time: timers use trio's clock (so tests run on virtual time); records use
:meth:`Simulator.wall`, the wall clock at start plus trio time elapsed since. Each venue call
gets both from the same instant.
"""

from __future__ import annotations

import math
import random
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Final

import trio
from loguru import logger
from trio_websocket import wrap_server_stream

from galfriday.sim import frames
from galfriday.sim.account import SimOrder
from galfriday.sim.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimConfig, SimUrls
from galfriday.sim.exchange import OrderRequest, PublicUpdate
from galfriday.sim.faults import FRAME_FAULTS, REST_FAULTS, Fault, random_fault
from galfriday.sim.http import HttpRequest, HttpResponse, serve_http
from galfriday.sim.rest import RestApi
from galfriday.sim.venue import DRIFT_ORDER_USERREF, GroundTruth, Venue
from galfriday.sim.ws import Session

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "DRIFT_ORDER_USERREF",
    "GroundTruth",
    "RestEndpoint",
    "SimConfig",
    "SimUrls",
    "Simulator",
    "open_simulator",
    "serve_simulator",
]

MAX_MESSAGE: Final = 64 * 1024


class RestEndpoint:
    """The REST listener's side of the shell: a call waits out a freeze, is answered by the
    venue's :class:`~galfriday.sim.rest.RestApi` at one instant, has what it changed
    published, and is held back as long as a ``REST_SLOW`` fault says."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        # Tokens through the test API's method, so a test that wraps it sees every token.
        self.api = RestApi(sim.venue, sim.wall(), issue_token=lambda now: sim.issue_token())

    async def handle(self, request: HttpRequest) -> HttpResponse:
        sim = self._sim
        await sim.thawed()
        answer = self.api.answer(request, trio.current_time(), sim.wall())
        sim.deliver(answer.updates, flush=answer.flush)
        if answer.delay:
            await trio.sleep(answer.delay)
        return answer.response

    def set_counter(self, value: float) -> None:
        """Set the key's call counter to ``value`` now (as an earlier client left it)."""
        self._sim.venue.counter.set(value, trio.current_time())


class Simulator:
    """A running simulator; see the module docstring."""

    def __init__(self, config: SimConfig) -> None:
        self.venue = Venue(config)  # checks the config
        self.config = config
        self.exchange = self.venue.exchange
        self.faults = self.venue.faults
        self._mono0 = trio.current_time()
        self._wall0 = time.time()
        self.rest = RestEndpoint(self)
        self.sessions: dict[str, set[Session]] = {"public": set(), "private": set()}
        self.urls: SimUrls | None = None
        self.connections = 0
        self.connect_times: list[float] = []  # trio time of every WebSocket connection accepted
        self._nursery: trio.Nursery | None = None
        self._timers_changed = trio.Event()
        self.frozen_until = 0.0  # trio time: a freeze (see :meth:`freeze`) lasts until then
        self._instrument = frames.instrument_frame(
            config.pairs,
            {a: 10 if a != "USD" else 4 for p in config.pairs for a in (p.base, p.quote)},
            odd_pair=config.odd_instrument_pair,
        )

    def wall(self) -> float:
        """Wall-clock time: the start time plus trio time since."""
        return self._wall0 + (trio.current_time() - self._mono0)

    # --- serving ---------------------------------------------------------------------------

    async def serve(
        self, *, task_status: trio.TaskStatus[SimUrls] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = self.config
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            public = await nursery.start(self._serve_ws, "public", config.public_port)
            private = await nursery.start(self._serve_ws, "private", config.private_port)
            rest = await nursery.start(serve_http, self.rest.handle, config.host, config.rest_port)
            host = config.host if ":" not in config.host else f"[{config.host}]"
            self.urls = SimUrls(
                ws_public=f"ws://{host}:{public}/v2",
                ws_private=f"ws://{host}:{private}/v2",
                rest=f"http://{host}:{rest}",
                api_key=config.api_key,
            )
            nursery.start_soon(self._market)
            nursery.start_soon(self._timers)
            if config.chaos_per_minute > 0:
                nursery.start_soon(self._chaos)
            logger.info(
                "simulator serving {} {} {}",
                self.urls.ws_public,
                self.urls.ws_private,
                self.urls.rest,
            )
            task_status.started(self.urls)

    async def _serve_ws(self, kind: str, port: int, *, task_status: trio.TaskStatus[int]) -> None:
        listeners = await trio.open_tcp_listeners(port, host=self.config.host)

        async def on_stream(stream: trio.SocketStream) -> None:
            self.connections += 1
            self.connect_times.append(trio.current_time())
            await self.thawed()  # accepted by the kernel; served once the freeze ends
            try:
                async with trio.open_nursery() as nursery:
                    request = await wrap_server_stream(
                        nursery, stream, message_queue_size=64, max_message_size=MAX_MESSAGE
                    )
                    ws = await request.accept()
                    session = Session(self, kind, ws, stream)
                    self.sessions[kind].add(session)
                    try:
                        await session.run()
                    finally:
                        self.sessions[kind].discard(session)
                        nursery.cancel_scope.cancel()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                logger.bind(conn=kind).debug("connection ended: {!r}", exc)
            except Exception:  # one bad client must never take the server down
                logger.bind(conn=kind).exception("session failed")
            finally:
                with trio.CancelScope(shield=True):
                    await stream.aclose()

        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, on_stream, listeners)
            task_status.started(listeners[0].socket.getsockname()[1])

    async def _market(self) -> None:
        """Background traders at ``config.rate`` events a second across all pairs."""
        period = min(1.0, max(0.01, 1 / self.config.rate))
        owed = 0.0
        while True:
            await trio.sleep(period)
            owed += self.config.rate * period
            while owed >= 1:
                owed -= 1
                self.publish(self.exchange.background_event(self.wall()))
                # Let the writers send each event's frames as it happens: a tick's events go
                # out as a stream, as Kraken's do, not as one burst every 10 ms.
                await trio.lowlevel.checkpoint()
            self.flush_private()

    async def _timers(self) -> None:
        """Fire the venue's timers (GTD expiries, the dead-man switch) when they fall due."""
        while True:
            changed = self._timers_changed = trio.Event()
            due_at = self.venue.next_due()
            with trio.move_on_at(math.inf if due_at is None else due_at):
                await changed.wait()  # a call set a timer, maybe an earlier one
            due = self.venue.due(trio.current_time(), self.wall())
            if due.dead_man is not None:
                logger.info("dead-man switch fired: {} orders cancelled", due.dead_man)
            if due.updates or due.dead_man is not None:
                self.deliver(due.updates)

    async def _chaos(self) -> None:
        rng = random.Random(self.config.chaos_seed)
        mean = 60.0 / self.config.chaos_per_minute
        while True:
            await trio.sleep(rng.expovariate(1 / mean))
            fault, target = random_fault(rng)
            await self.inject_random(fault, target, rng)

    # --- publishing ------------------------------------------------------------------------

    def publish(self, update: PublicUpdate) -> None:
        """Send one market event's frames to every subscribed public connection."""
        sessions = self.sessions["public"]
        if not sessions:
            return
        symbol = update.step.symbol
        wall = self.wall()
        built: dict[tuple[str, object], bytes | None] = {}
        for session in list(sessions):
            for channel, sub_symbol, option in session.subscriptions:
                if sub_symbol != symbol:
                    continue
                key = (channel, option)
                if key not in built:
                    built[key] = frames.public_update(self.exchange, channel, option, update, wall)
                frame = built[key]
                if frame is not None:
                    session.push(frame)

    def instrument_frame(self) -> bytes:
        return self._instrument

    def flush_private(self) -> None:
        """Send the account's pending reports and ledger entries to private subscribers."""
        pending = self.venue.take_private()
        if not pending:
            return
        for session in list(self.sessions["private"]):
            for channel, record in pending:
                if channel in session.sequences:
                    session.push(frames.private_update(record, session.next_sequence(channel)))

    def deliver(self, updates: list[PublicUpdate], *, flush: bool = True) -> None:
        """After a venue call: publish ``updates``, send the private reports (unless
        ``flush`` is False), and let the timers see any deadline the call set."""
        for update in updates:
            self.publish(update)
        if flush:
            self.flush_private()
        self._timers_changed.set()

    # --- account operations used by WS (and tests) -----------------------------------------

    def place_order(self, request: OrderRequest, announced: bool = True) -> SimOrder:
        """Place a checked order; its reports go out at the next :meth:`flush_private`."""
        order, update = self.venue.place_order(
            request, trio.current_time(), self.wall(), announced=announced
        )
        self.deliver([update], flush=False)
        return order

    def cancel_order(self, order_id: str, reason: str = "user") -> bool:
        """Cancel an open order; its report goes out at the next :meth:`flush_private`."""
        update = self.venue.cancel_order(order_id, self.wall(), reason)
        if update is None:
            return False
        self.publish(update)
        return True

    def cancel_all(self, reason: str) -> int:
        updates = self.venue.cancel_all(self.wall(), reason)
        self.deliver(updates)
        return len(updates)

    def arm_dead_man_switch(self, timeout: int) -> float:
        """(Re)arm ``cancel_all_orders_after``; 0 disarms. Returns the trigger wall time."""
        trigger = self.venue.arm_dead_man_switch(timeout, trio.current_time(), self.wall())
        self._timers_changed.set()
        return trigger

    def issue_token(self) -> str:
        """A new WebSocket token (what GetWebSocketsToken answers)."""
        return self.venue.issue_token(trio.current_time())

    # --- faults (the test API) ---------------------------------------------------------------

    async def drop_connections(self, target: str, code: int | None = None) -> int:
        """Drop every ``target`` connection: abruptly, or with close ``code``."""
        sessions = list(self.sessions[target])
        fault = Fault.DROP_CONNECTION if code is None else Fault.CLOSE_CONNECTION
        self.faults.record(fault, target, self.wall(), f"code={code} connections={len(sessions)}")
        for session in sessions:
            if code is None and isinstance(session.stream, trio.SocketStream):
                session.stream.socket.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            await session.drop(code)
        return len(sessions)

    def freeze(self, seconds: float) -> None:
        """Stop the whole exchange for ``seconds``, as a stopped process would: every socket
        silent, new connections and REST calls waiting until it ends."""
        self.frozen_until = max(self.frozen_until, trio.current_time() + seconds)
        for kind in ("public", "private"):
            for session in self.sessions[kind]:
                session.stalled_until = self.frozen_until
        self.faults.record(Fault.FREEZE, "exchange", self.wall(), f"seconds={seconds}")

    async def thawed(self) -> None:
        """Return once the freeze on now (if any) has ended."""
        if trio.current_time() < self.frozen_until:
            await trio.sleep_until(self.frozen_until)

    def hold_orders(self, seconds: float, count: int = 1) -> None:
        """The next ``count`` WebSocket ``add_order`` requests reach the matching engine (and
        get their reply) ``seconds`` late, even if their socket is gone by then."""
        self.faults.queue_hold(count, seconds)
        self.faults.record(
            Fault.HOLD_ORDERS, "private", self.wall(), f"count={count} seconds={seconds}"
        )

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        """Run ``action`` after ``seconds`` (in the simulator's own nursery)."""
        if self._nursery is None:
            action()
            return

        async def run() -> None:
            await trio.sleep(seconds)
            action()

        self._nursery.start_soon(run)

    def stall(self, target: str, seconds: float) -> None:
        """Keep ``target`` connections open but silent (no frames, no heartbeats)."""
        until = trio.current_time() + seconds
        for session in self.sessions[target]:
            session.stalled_until = until
        self.faults.record(Fault.STALL, target, self.wall(), f"seconds={seconds}")

    def frame_fault(self, fault: Fault, target: str, count: int = 1) -> None:
        """Duplicate, drop, reorder or corrupt the next ``count`` data frames of ``target``."""
        record = self.faults.record(fault, target, self.wall(), f"count={count}")
        self.faults.queue_frames(fault, target, count, record)

    def send_garbage(self, target: str, unknown: bool = False) -> None:
        """Send a malformed (or, with ``unknown``, an unknown-channel) frame to ``target``."""
        frame = (
            b'{"channel":"futures_only","type":"update","data":[]}'
            if unknown
            else b'{"channel":"book","type":"update","data":[{"symbol":42}]}'
        )
        sessions = list(self.sessions[target])
        for session in sessions:
            session.push(frame, data=False)
        fault = Fault.UNKNOWN_FRAME if unknown else Fault.MALFORMED_FRAME
        self.faults.record(fault, target, self.wall(), f"sessions={len(sessions)}")

    def rest_fault(self, fault: Fault, count: int = 1, seconds: float = 0.0) -> None:
        """Answer the next ``count`` REST calls with a 5xx, slowly, unavailable or rate-limited."""
        self.faults.queue_rest(fault, count, seconds)
        self.faults.record(fault, "rest", self.wall(), f"count={count} seconds={seconds}")

    def invalidate_tokens(self) -> None:
        """Every token stops working (as after a Kraken upgrade); new ones can be issued."""
        self.venue.invalidate_tokens(self.wall())

    def set_system_status(self, status: str) -> None:
        """``online``, ``maintenance``, ``cancel_only`` or ``post_only``, pushed to everyone."""
        self.venue.set_system_status(status, self.wall())
        for kind in ("public", "private"):
            for session in self.sessions[kind]:
                session.push(frames.status_frame(status, session.connection_id), data=False)

    def drift_funds(self, asset: str, amount: Decimal, ledger: bool = True) -> None:
        """A deposit (positive) or withdrawal (negative) the private stream never announces.

        With ``ledger=False`` not even the REST ledger shows it (an unexplained change).
        """
        self.venue.drift_funds(asset, amount, self.wall(), ledger=ledger)

    def drift_order(self, symbol: str, side: str, qty: Decimal, price: Decimal) -> SimOrder:
        """A limit order placed from another device, not announced on the private stream."""
        order, update = self.venue.drift_order(
            symbol, side, qty, price, trio.current_time(), self.wall()
        )
        self.publish(update)
        return order

    async def inject_random(self, fault: Fault, target: str, r: random.Random) -> None:
        """One fault of the random schedule, with plausible parameters."""
        if fault is Fault.DROP_CONNECTION:
            await self.drop_connections(target)
        elif fault is Fault.CLOSE_CONNECTION:
            await self.drop_connections(target, r.choice((1000, 1001, 1006, 1011)))
        elif fault is Fault.STALL:
            self.stall(target, r.uniform(5, 20))
        elif fault in FRAME_FAULTS:
            self.frame_fault(fault, target, r.randint(1, 3))
        elif fault in (Fault.MALFORMED_FRAME, Fault.UNKNOWN_FRAME):
            self.send_garbage(target, unknown=fault is Fault.UNKNOWN_FRAME)
        elif fault in REST_FAULTS:
            self.rest_fault(fault, r.randint(1, 2), r.uniform(5, 15))
        elif fault is Fault.INVALIDATE_TOKEN:
            self.invalidate_tokens()
        elif fault is Fault.FREEZE:
            self.freeze(r.uniform(5, 15))
        elif fault is Fault.HOLD_ORDERS:
            self.hold_orders(r.uniform(6, 20), r.randint(1, 2))
        elif fault is Fault.SYSTEM_STATUS:
            self.set_system_status(r.choice(("maintenance", "cancel_only")))
            await trio.sleep(r.uniform(5, 15))
            self.set_system_status("online")
        elif fault is Fault.DRIFT_DEPOSIT:
            self.drift_funds("USD", Decimal(r.randint(1, 500)))
        elif fault is Fault.DRIFT_WITHDRAWAL:
            self.drift_funds("USD", -Decimal(r.randint(1, 100)))
        elif fault is Fault.DRIFT_ORDER:
            request = self.venue.drift_request()
            if request is not None and request.limit_price is not None:
                self.drift_order(request.symbol, request.side, request.qty, request.limit_price)

    # --- ground truth ----------------------------------------------------------------------

    def ground_truth(self) -> GroundTruth:
        return self.venue.ground_truth()


async def serve_simulator(
    config: SimConfig, *, task_status: trio.TaskStatus[SimUrls] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run a simulator until cancelled; reports its :class:`SimUrls` when ready."""
    await Simulator(config).serve(task_status=task_status)


@asynccontextmanager
async def open_simulator(config: SimConfig | None = None) -> AsyncIterator[Simulator]:
    """A running simulator for the duration of the block (``sim.urls`` is set)."""
    sim = Simulator(config or SimConfig())
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.serve)
        yield sim
        nursery.cancel_scope.cancel()
