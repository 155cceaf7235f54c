"""The simulator's trio shell: listeners, the market clock, timers, and the test API.

:func:`serve_simulator` runs everything until cancelled and reports :class:`SimUrls` through
``task_status`` once all three listeners accept connections; :func:`open_simulator` is the
same as an async context manager that yields the :class:`Simulator`, whose methods inject
faults and report ground truth.

Time: timers use trio's clock (so tests run on virtual time); records use
:meth:`Simulator.wall`, the wall clock at start plus trio time elapsed since.
"""

from __future__ import annotations

import ipaddress
import random
import secrets
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import msgspec
import trio
from loguru import logger
from trio_websocket import wrap_server_stream

from galfriday.errors import ConfigError
from galfriday.kraken import wire
from galfriday.kraken.auth import decode_secret
from galfriday.kraken.symbols import SymbolMap
from galfriday.sim import frames
from galfriday.sim.account import SimOrder, utc_datetime
from galfriday.sim.exchange import Exchange, OrderRequest, PublicUpdate
from galfriday.sim.faults import FRAME_FAULTS, REST_FAULTS, Fault, Faults, random_fault
from galfriday.sim.http import serve_http
from galfriday.sim.market import PairSpec, default_pairs
from galfriday.sim.rest import RestApi
from galfriday.sim.ws import Session

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "GroundTruth",
    "SimConfig",
    "SimUrls",
    "Simulator",
    "open_simulator",
    "serve_simulator",
]

DEFAULT_API_KEY: Final = "galfriday-sim-key"
# The documented test pair (README): never a real credential.
DEFAULT_API_SECRET: Final = "Z2FsZnJpZGF5IHNpbXVsYXRvciB0ZXN0IHNlY3JldCE="
MAX_MESSAGE: Final = 64 * 1024
DRIFT_ORDER_USERREF: Final = 777


def default_earn() -> dict[str, Decimal]:
    """Held in an auto-earn wallet: in the balances snapshot's total, listed apart by REST."""
    return {"ETH": Decimal("2.5000000000")}


def default_balances() -> dict[str, Decimal]:
    return {
        "USD": Decimal("100000.0000"),
        "BTC": Decimal("1.0000000000"),
        "ETH": Decimal("10.0000000000"),
        "XRP": Decimal("10000.00000000"),
        "DOGE": Decimal("50000.00000000"),
    }


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator can be told. Ports 0 pick free ones."""

    host: str = "127.0.0.1"
    public_port: int = 0
    private_port: int = 0
    rest_port: int = 0
    allow_remote: bool = False
    seed: int = 1
    rate: float = 50.0
    pairs: tuple[PairSpec, ...] = field(default_factory=lambda: tuple(default_pairs()))
    balances: dict[str, Decimal] = field(default_factory=default_balances)
    earn: dict[str, Decimal] = field(default_factory=default_earn)
    fee_credits: Decimal = Decimal("500.00")  # KFEE in REST Balance, never on the stream
    delisted_trade: bool = True  # REST history holds a trade of a pair AssetPairs lacks
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    heartbeat: float = 1.0
    idle_timeout: float = 60.0
    token_ttl: float = 900.0
    chaos_per_minute: float = 0.0
    chaos_seed: int = 1
    rest_counter: tuple[float, float] = (20.0, 0.5)  # the key's call counter: max, decay/s

    def check(self) -> None:
        """Raises ConfigError for a setting that cannot work."""
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError as exc:
            raise ConfigError("--host", "must be an IP address such as 127.0.0.1") from exc
        if not address.is_loopback and not self.allow_remote:
            raise ConfigError(
                "--host", f"{self.host} is not loopback; add --allow-remote to serve on it"
            )
        for name, port in (
            ("--public-port", self.public_port),
            ("--private-port", self.private_port),
            ("--rest-port", self.rest_port),
        ):
            if not 0 <= port <= 65535:
                raise ConfigError(name, "must be 0..65535 (0 picks a free port)")
        if not 0 < self.rate <= 100_000:
            raise ConfigError("--rate", "must be above 0 and at most 100000 events/s")
        if self.chaos_per_minute < 0:
            raise ConfigError("--chaos", "must be 0 or more faults a minute")
        maximum, decay = self.rest_counter
        if not (2 <= maximum < 1e9 and 0 < decay < 1e9):  # also refuses nan and inf
            raise ConfigError("--rest-counter", "needs MAX:DECAY with MAX >= 2 and DECAY > 0")
        decode_secret(self.api_secret)


class SimUrls(msgspec.Struct, frozen=True):
    ws_public: str
    ws_private: str
    rest: str
    api_key: str


class GroundTruth(msgspec.Struct, frozen=True):
    """The account exactly as the exchange holds it."""

    balances: dict[str, Decimal]
    open_orders: list[str]
    closed_orders: list[str]
    order_status: dict[str, str]
    filled_qty: dict[str, Decimal]
    fills: list[str]
    ledger: list[str]


@dataclass
class _Token:
    created: float
    users: int = 0  # private subscriptions that use it now
    retired: bool = False  # it was used, and no subscription uses it any more


class Simulator:
    """A running simulator; see the module docstring."""

    def __init__(self, config: SimConfig) -> None:
        config.check()
        self.config = config
        self.secret = decode_secret(config.api_secret)
        self.exchange = Exchange(
            list(config.pairs), dict(config.balances), config.seed, dict(config.earn)
        )
        self.symbols = SymbolMap()
        self.faults = Faults()
        self._mono0 = trio.current_time()
        self._wall0 = time.time()
        self.rest = RestApi(self)
        self.sessions: dict[str, set[Session]] = {"public": set(), "private": set()}
        self.urls: SimUrls | None = None
        self.connections = 0
        self.connect_times: list[float] = []  # trio time of every WebSocket connection accepted
        self._tokens: dict[str, _Token] = {}
        self._dead_man: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self.frozen_until = 0.0  # trio time: a freeze (see :meth:`freeze`) lasts until then
        self._instrument = frames.instrument_frame(
            config.pairs,
            {a: 10 if a != "USD" else 4 for p in config.pairs for a in (p.base, p.quote)},
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
                    built[key] = self._frame_for(channel, option, update, wall)
                frame = built[key]
                if frame is not None:
                    session.push(frame)

    def _frame_for(
        self, channel: str, option: object, update: PublicUpdate, wall: float
    ) -> bytes | None:
        exchange, step = self.exchange, update.step
        book = exchange.books[step.symbol]
        if channel == "book":
            view = book.view_update(step, option)  # type: ignore[arg-type]
            if view is None:
                return None
            return frames.book_frame("update", book.spec, view[0], view[1], book.checksum(), wall)
        if channel == "trade":
            if not update.trades:
                return None
            return frames.encode(wire.TradeMessage(type="update", data=update.trades))
        if channel == "ticker":
            top_changed = any(book.index(s, p) == 0 or q == 0 for s, p, q in step.changes)
            if not (update.trades or (option == "bbo" and top_changed)):
                return None
            return self._ticker_frame(step.symbol, "update")
        if channel == "ohlc":
            if not update.trades:
                return None
            return self._ohlc_frame(step.symbol, option, "update", wall)
        return None

    def _ticker_frame(self, symbol: str, kind: str) -> bytes:
        return frames.encode(wire.TickerMessage(type=kind, data=[self.exchange.ticker(symbol)]))

    def _ohlc_frame(self, symbol: str, interval: object, kind: str, wall: float) -> bytes:
        candle = self.exchange.candle(symbol, interval, wall)  # type: ignore[arg-type]
        data = [candle] if candle else []
        return frames.encode(wire.OhlcMessage(type=kind, data=data, timestamp=utc_datetime(wall)))

    def public_snapshot(self, channel: str, symbol: str, option: object) -> bytes:
        """The snapshot a new subscription gets."""
        wall = self.wall()
        if channel == "book":
            return frames.book_snapshot(self.exchange.books[symbol], option, wall)  # type: ignore[arg-type]
        if channel == "ticker":
            return self._ticker_frame(symbol, "snapshot")
        if channel == "trade":
            recent = list(self.exchange.recent[symbol])
            return frames.encode(wire.TradeMessage(type="snapshot", data=recent))
        return self._ohlc_frame(symbol, option, "snapshot", wall)

    def instrument_frame(self) -> bytes:
        return self._instrument

    def flush_private(self) -> None:
        """Send the account's pending reports and ledger entries to private subscribers."""
        outbox = self.exchange.account.outbox
        if not outbox:
            return
        pending, outbox[:] = list(outbox), []
        for session in list(self.sessions["private"]):
            for channel, record in pending:
                if channel not in session.sequences:
                    continue
                sequence = session.next_sequence(channel)
                message: msgspec.Struct
                if isinstance(record, wire.ExecutionReport):
                    message = wire.ExecutionsMessage(
                        type="update", data=[record], sequence=sequence
                    )
                else:
                    message = wire.BalancesMessage(type="update", data=[record], sequence=sequence)
                session.push(frames.encode(message))

    # --- account operations used by WS and REST ----------------------------------------------

    def place_order(self, request: OrderRequest, announced: bool = True) -> SimOrder:
        """Place a checked order; its reports go out at the next :meth:`flush_private`."""
        order, update = self.exchange.add_order(request, self.wall(), announced=announced)
        self.publish(update)
        if order.is_open and request.expire_at is not None and self._nursery is not None:
            self._nursery.start_soon(self._expire, order.order_id, request.expire_at)
        return order

    async def _expire(self, order_id: str, expire_at: float) -> None:
        """Expire a GTD order at its ``expire_time`` (if it is still open then)."""
        await trio.sleep(max(0.0, expire_at - self.wall()))
        update = self.exchange.cancel_order(order_id, self.wall(), "expired", status="expired")
        if update is not None:
            self.publish(update)
            self.flush_private()

    def cancel_order(self, order_id: str, reason: str = "user") -> bool:
        """Cancel an open order; its report goes out at the next :meth:`flush_private`."""
        update = self.exchange.cancel_order(order_id, self.wall(), reason)
        if update is None:
            return False
        self.publish(update)
        return True

    def cancel_all(self, reason: str) -> int:
        updates = self.exchange.cancel_all(self.wall(), reason)
        for update in updates:
            self.publish(update)
        self.flush_private()
        return len(updates)

    def arm_dead_man_switch(self, timeout: int) -> float:
        """(Re)arm ``cancel_all_orders_after``; 0 disarms. Returns the trigger wall time."""
        if self._dead_man is not None:
            self._dead_man.cancel()
            self._dead_man = None
        if timeout == 0 or self._nursery is None:
            return self.wall()
        scope = trio.CancelScope()
        self._dead_man = scope

        async def fire() -> None:
            with scope:
                await trio.sleep(timeout)
                count = self.cancel_all("cancel_all_orders_after")
                logger.info("dead-man switch fired: {} orders cancelled", count)
                self._dead_man = None

        self._nursery.start_soon(fire)
        return self.wall() + timeout

    # --- tokens ----------------------------------------------------------------------------

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = _Token(created=trio.current_time())
        return token

    def check_token(self, token: str | None) -> str | None:
        """Kraken's error for an unusable token, else None.

        A token must be used within ``token_ttl`` of its creation and stays valid while a
        private subscription uses it; once none does, it is refused (Kraken guarantees a
        token only "once a private subscription has been made and is maintained").
        """
        state = self._tokens.get(token or "")
        if state is None or state.retired:
            return "EAPI:Invalid token"
        if not state.users and trio.current_time() - state.created > self.config.token_ttl:
            return "EAPI:Invalid token"
        return None

    def use_token(self, token: str) -> None:
        """A private subscription now uses ``token``."""
        state = self._tokens.get(token)
        if state is not None:
            state.users += 1

    def release_token(self, token: str) -> None:
        """A private subscription that used ``token`` ended (unsubscribed, or its socket)."""
        state = self._tokens.get(token)
        if state is not None and state.users > 0:
            state.users -= 1
            state.retired = state.users == 0

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
        self._tokens.clear()
        self.faults.record(Fault.INVALIDATE_TOKEN, "private", self.wall())

    def set_system_status(self, status: str) -> None:
        """``online``, ``maintenance``, ``cancel_only`` or ``post_only``, pushed to everyone."""
        self.exchange.system = status
        for kind in ("public", "private"):
            for session in self.sessions[kind]:
                session.push(frames.status_frame(status, session.connection_id), data=False)
        self.faults.record(Fault.SYSTEM_STATUS, "exchange", self.wall(), status)

    def drift_funds(self, asset: str, amount: Decimal, ledger: bool = True) -> None:
        """A deposit (positive) or withdrawal (negative) the private stream never announces.

        With ``ledger=False`` not even the REST ledger shows it (an unexplained change).
        """
        kind = "deposit" if amount > 0 else "withdrawal"
        if ledger:
            self.exchange.account.move_funds(asset, amount, kind, self.wall(), announce=False)
        else:
            balances = self.exchange.account.balances
            balances[asset] = balances.get(asset, Decimal(0)) + amount
        fault = Fault.DRIFT_DEPOSIT if amount > 0 else Fault.DRIFT_WITHDRAWAL
        self.faults.record(fault, "account", self.wall(), f"{asset} {amount}")

    def drift_order(self, symbol: str, side: str, qty: Decimal, price: Decimal) -> SimOrder:
        """A limit order placed from another device, not announced on the private stream."""
        request = OrderRequest(symbol, side, "limit", qty, price, order_userref=DRIFT_ORDER_USERREF)
        order = self.place_order(request, announced=False)
        self.faults.record(Fault.DRIFT_ORDER, "account", self.wall(), order.order_id)
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
            spec = (
                self.exchange.specs["BTC/USD"]
                if "BTC/USD" in self.exchange.specs
                else self.config.pairs[0]
            )
            book = self.exchange.books[spec.symbol]
            best = book.best("bids")
            if best is not None:
                price = spec.price(best - 50)
                qty = spec.qty_min
                if (
                    self.exchange.check_order(OrderRequest(spec.symbol, "buy", "limit", qty, price))
                    is None
                ):
                    self.drift_order(spec.symbol, "buy", qty, price)

    # --- ground truth ----------------------------------------------------------------------

    def ground_truth(self) -> GroundTruth:
        account = self.exchange.account
        orders = account.orders.values()
        return GroundTruth(
            balances=dict(account.balances),
            open_orders=[o.order_id for o in orders if o.is_open],
            closed_orders=[o.order_id for o in orders if not o.is_open],
            order_status={o.order_id: o.status for o in orders},
            filled_qty={o.order_id: o.cum_qty for o in orders},
            fills=[f.exec_id for f in account.fills],
            ledger=[e.ledger_id for e in account.ledger],
        )


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
