"""The engine: every task of DESIGN.md §1 in one nursery.

:func:`open_engine` starts, in this order: the audit writer (and the capture writer),
which outlive everything else; the REST client (and the pair
names from ``AssetPairs``); the public connection with the market-data service; with API keys,
the private connection with the private stream, the order gateway, (when trading) the
dead-man switch and the reconciliation service; the health monitor. It yields the
:class:`Engine` once the public books are subscribed (and, with keys, once the private
snapshots arrived). Leaving the block cancels the
nursery: connections close, the audit writer writes everything still queued, then returns.

Each connection has its own cancel scope inside the nursery's tasks: a fault in one feed only
ever reconnects that feed.

Health: every ``health_interval`` seconds each connection is judged by its
:class:`~galfriday.core.health.HealthMonitor` (the policy: what UNHEALTHY does); the engine
audits a snapshot row, publishes a change (:class:`~galfriday.events.HealthChanged`) and carries
out the monitor's actions (a silent book resynced, a dead connection rebuilt).

Capture (``capture`` in the config, on by default in ``galfriday run``): a
:class:`~galfriday.capture.writer.CaptureWriter` runs outside the engine's nursery, so it
outlives every task that records, and the REST client's transport records each exchange.

Dead-man switch: while the engine may trade, ``cancel_all_orders_after`` is re-armed every
``dead_man_refresh`` seconds, but only while the feeds are healthy (strictly HEALTHY by
default; with ``dead_man_strict=False``, not UNHEALTHY), so when galfriday loses sight of the
market, or it keeps flapping, Kraken cancels its orders.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
import trio
from loguru import logger

from galfriday.audit import mapping
from galfriday.audit.store import AuditStore, AuditWriter
from galfriday.audit.tables import HealthSnapshotRow, Row
from galfriday.bus import Bus
from galfriday.capture.tape import CaptureTape, Redactor, Tape
from galfriday.capture.transport import CaptureTransport
from galfriday.capture.writer import CaptureConfig, CaptureWriter
from galfriday.core.health import (
    HealthMonitor,
    HealthReport,
    HealthThresholds,
    Reconnect,
    fit_to_trade,
)
from galfriday.core.reconnect import BackoffPolicy
from galfriday.core.steps import PairsLoaded, Step
from galfriday.errors import GalfridayError
from galfriday.events import HealthChanged
from galfriday.kraken.answers import decode_asset_pairs, decode_assets
from galfriday.kraken.ratelimit import Tier
from galfriday.kraken.rest import KrakenRest, RestCall, RestConfig
from galfriday.kraken.symbols import SymbolMap
from galfriday.live.alerts import WebhookConfig, run_webhook
from galfriday.live.connection import Connection, ConnectionConfig, Frame, Link
from galfriday.live.gateway import OrderGateway
from galfriday.live.marketdata import MarketData, MarketDataConfig
from galfriday.live.private import PrivateConfig, PrivateStream
from galfriday.live.reconciliation import ReconcileConfig, ReconcileService
from galfriday.live.recorder import Recorder
from galfriday.live.storage import StorageGuard
from galfriday.state import EngineState

__all__ = ["Engine", "EngineConfig", "open_engine"]

FRAME_QUEUE: Final = 50_000
STARTUP_TIMEOUT: Final = 60.0


@dataclass(frozen=True)
class EngineConfig:
    ws_public: str
    ws_private: str
    rest: str
    database: Path | str = "galfriday.db"
    api_key: str | None = None
    api_secret: bytes | None = None
    trading: bool = True
    marketdata: MarketDataConfig = field(default_factory=MarketDataConfig)
    private: PrivateConfig = field(default_factory=PrivateConfig)
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    silence_timeout: float = 10.0
    ping_interval: float = 15.0
    health_interval: float = 10.0
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    dead_man: bool = True
    dead_man_timeout: int = 60
    dead_man_refresh: float = 20.0
    dead_man_strict: bool = True
    reconcile: ReconcileConfig | None = field(default_factory=ReconcileConfig)
    webhook: WebhookConfig | None = None
    nonce_path: Path | None = None
    rest_tier: str = "intermediate"
    rest_counter: Tier | None = None  # the tier's call counter unless given
    rest_retry_base: float = 0.5
    rest_rate_limited: bool = True
    capture: CaptureConfig | None = None
    audit_give_up: float = 60.0  # seconds of failing audit writes before the engine stops
    sim_seed: int | None = None  # the embedded simulator's seed, for the capture header


def config_summary(config: EngineConfig) -> dict[str, Any]:
    """What a capture's header says about the engine that wrote it (no secrets)."""
    return {
        "ws_public": config.ws_public,
        "ws_private": config.ws_private,
        "rest": config.rest,
        "private": bool(config.api_key and config.api_secret),
        "trading": config.trading,
        "marketdata": msgspec.to_builtins(config.marketdata),
        "private_config": msgspec.to_builtins(config.private),
        "reconcile": msgspec.to_builtins(config.reconcile) if config.reconcile else None,
        "rest_tier": config.rest_tier,
        "sim_seed": config.sim_seed,
    }


class Engine:
    """The running engine; see :func:`open_engine`."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        tape: Tape | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.bus = Bus()
        self.recorder = Recorder(self.bus, self.write)
        self.store = AuditStore(config.database)
        self.storage = StorageGuard(self.bus, str(config.database), config.audit_give_up)
        self.audit = AuditWriter(self.store, on_trouble=self.storage.on_trouble)
        self.symbols = SymbolMap()
        self.capture: CaptureWriter | None = None
        if tape is None and config.capture is not None:
            tape, transport = self._open_capture(config.capture, transport)
        self.tape = tape = tape or Tape()
        # Pairs whose positions (base holdings) are tracked: the followed symbols by default.
        self.pairs = config.private.symbols or config.marketdata.symbols
        self.rest = KrakenRest(
            RestConfig(
                base_url=config.rest,
                api_key=config.api_key,
                secret=config.api_secret,
                tier=config.rest_tier,
                counter=config.rest_counter,
                nonce_path=config.nonce_path,
                retry_base=config.rest_retry_base,
                rate_limited=config.rest_rate_limited,
            ),
            on_call=self._audit_rest,
            transport=transport,
        )
        send, self._public_frames = trio.open_memory_channel[Frame](FRAME_QUEUE)
        self.public = Connection(
            self._connection_config("public", config.ws_public),
            send,
            self._public_connected,
            self.recorder,
            tape=tape,
        )
        self.marketdata = MarketData(
            config.marketdata, self.recorder, self.public.metrics, tape=tape
        )
        self.private: Connection | None = None
        self.account: PrivateStream | None = None
        self.gateway: OrderGateway | None = None
        if self.rest.has_credentials:
            self._open_private(tape)
        self.reconciler: ReconcileService | None = None
        self.state = self._open_state(tape)
        self.health: dict[str, HealthReport] = {}
        self.monitors: dict[str, HealthMonitor] = {}
        self.started = trio.Event()

    def _open_state(self, tape: Tape) -> EngineState:
        """Everything the engine knows, changed only by frames and steps (see
        :mod:`galfriday.state`), wired to the shells that feed it; and the reconciler."""
        config = self.config
        state = EngineState(
            self.marketdata.machine,
            self.account.machine if self.account is not None else None,
            self.symbols,
            self.pairs,
            config.reconcile,
            self.recorder,
        )
        self.marketdata.do, self.marketdata.receive = self.do, state.receive_public
        if self.account is not None:
            self.account.do, self.account.receive = self.do, state.receive_private
        if self.account is not None and config.reconcile is not None:
            self.reconciler = ReconcileService(
                self.rest, self.account, self.symbols, self.pairs, self.bus, state,
                self.do, read=self.audit.read, tape=tape,
            )  # fmt: skip
        return state

    def _open_capture(
        self, capture: CaptureConfig, transport: httpx.AsyncBaseTransport | None
    ) -> tuple[Tape, httpx.AsyncBaseTransport]:
        """The capture's writer and tape (secrets redacted), and a REST transport it records."""
        config = self.config
        self.capture = CaptureWriter(
            capture, Tape().session, config_summary(config), list(config.marketdata.symbols)
        )
        redactor = Redactor([config.api_key or ""])
        if config.api_secret:
            redactor.add(base64.b64encode(config.api_secret).decode())
        tape = CaptureTape(self.capture.append, redactor, self.capture.session)
        return tape, CaptureTransport(transport or httpx.AsyncHTTPTransport(), tape)

    def _open_private(self, tape: Tape) -> None:
        """The private connection, its stream and the order gateway (with credentials)."""
        config = self.config
        send, self._private_frames = trio.open_memory_channel[Frame](FRAME_QUEUE)
        self.private = Connection(
            self._connection_config("private", config.ws_private),
            send,
            self._private_connected,
            self.recorder,
            tape=tape,
            prepare=self._private_prepare,
            on_disconnect=self._private_disconnected,
        )
        self.account = PrivateStream(
            replace(config.private, symbols=self.pairs),
            self.recorder,
            self.private.metrics,
            self.rest,
            symbols=self.symbols,
            tape=tape,
        )
        self.account.request_reconnect = self.private.reconnect
        self.gateway = OrderGateway(self.account, self.rest, self.symbols, self.recorder)
        self.gateway.halted = self._orders_refused

    def _orders_refused(self) -> str | None:
        """Why the gateway refuses new orders now (``None``: it does not)."""
        if not self.config.trading:
            return "this engine does not trade (read-only mode)"
        return self.storage.halted

    def _connection_config(self, name: str, url: str) -> ConnectionConfig:
        config = self.config
        return ConnectionConfig(
            name=name,
            url=url,
            silence_timeout=config.silence_timeout,
            ping_interval=config.ping_interval,
            backoff=config.backoff,
        )

    def write(self, row: Row) -> None:
        """Queue an audit row (never blocks; see :class:`~galfriday.audit.writer.AuditWriter`
        for what a full queue does)."""
        self.audit.write_row(row)

    def _audit_rest(self, call: RestCall) -> None:
        self.write(mapping.rest_call_row(call))

    async def _public_connected(self, link: Link) -> None:
        await self.marketdata.on_connect(link)

    async def _private_connected(self, link: Link) -> None:
        if self.account is not None:
            await self.account.on_connect(link)

    async def _private_prepare(self) -> None:
        if self.account is not None:
            await self.account.prepare()

    def _private_disconnected(self) -> None:
        if self.account is not None:
            self.account.disconnected()

    # --- tasks -----------------------------------------------------------------------------

    def do(self, step: Step) -> Any:
        """Record a step in the capture, then apply it to the engine's state (what the state
        answers is returned: see :meth:`~galfriday.state.EngineState.apply`)."""
        self.tape.step(step)
        return self.state.apply(step)

    async def load_pairs(self) -> None:
        """REST and WebSocket names of every pair and asset, from ``AssetPairs`` and ``Assets``
        (a tape operation). Entries that do not decode are skipped and audited; without an
        answer the fallback names stay."""
        with self.tape.op("pairs") as op:
            try:
                pairs = decode_asset_pairs(await self.rest.public("AssetPairs"))
                assets = decode_assets(await self.rest.public("Assets"))
            except GalfridayError as exc:
                logger.warning("AssetPairs/Assets unavailable ({}); using the fallback names", exc)
                return
            for entry in (*pairs.skipped, *assets.skipped):
                logger.warning("{} {} skipped: {} at {}", entry.kind, entry.name, entry.reason,
                               entry.path)  # fmt: skip
            self.do(PairsLoaded(pairs=pairs, assets=assets, wall=op.wall, mono=op.mono))

    async def _monitor_health(self) -> None:
        while True:
            await trio.sleep(self.config.health_interval)
            for connection in (self.public, self.private):
                if connection is not None:
                    await self._check(connection)

    async def _check(self, connection: Connection) -> None:
        """Judge one connection (the policy is :class:`~galfriday.core.health.HealthMonitor`),
        audit the verdict, publish a change, and carry out what the policy says."""
        metrics, name = connection.metrics, connection.config.name
        now, wall = trio.current_time(), time.time()
        monitor = self.monitors.setdefault(
            name,
            HealthMonitor(name, self.config.thresholds, books=connection is self.public),
        )
        old = monitor.report
        report, changed, actions = monitor.check(metrics, now)
        self.health[name] = report
        last_age = now - metrics.last_received if metrics.last_received else None
        self.write(
            HealthSnapshotRow(
                at_wall=wall,
                connection=name,
                state=report.state,
                messages_per_s=metrics.rate(now),
                reconnects=metrics.reconnects,
                errors=metrics.errors,
                overruns=metrics.overruns,
                last_message_age=last_age,
                detail="; ".join(report.reasons),
                by_channel=metrics.channel_rates(now),
            )
        )
        if changed:
            self.bus.publish(
                HealthChanged(
                    connection=name,
                    old=old.state if old else "",
                    new=report.state,
                    reasons=report.reasons,
                    received_at=wall,
                )
            )
            why = f": {'; '.join(report.reasons)}" if report.reasons else ""
            logger.bind(conn=name).info("{} health {}{}", name, report.state.value, why)
        for action in actions:
            if isinstance(action, Reconnect):
                connection.reconnect(action.reason)
            else:
                await self.marketdata.resync(action.symbol, action.reason)

    def healthy(self) -> bool:
        """True while the feeds are fit to trade on (:func:`~galfriday.core.health.fit_to_trade`:
        strict, the default ``dead_man_strict``, means every connection HEALTHY) and the audit
        trail can be written."""
        if self.storage.halted is not None:
            return False  # unrecorded trading is not fit: let the dead-man switch run out
        return fit_to_trade(self.health.values(), strict=self.config.dead_man_strict)

    async def _dead_man_switch(self) -> None:
        gateway = self.gateway
        if gateway is None:
            return
        while True:
            if self.healthy():
                try:
                    await gateway.arm_dead_man_switch(self.config.dead_man_timeout)
                except GalfridayError as exc:
                    logger.warning("dead-man switch not refreshed: {}", exc)
            else:
                logger.warning("feeds unhealthy: dead-man switch left to run out")
            await trio.sleep(self.config.dead_man_refresh)

    def summary(self) -> str:
        """One line for the terminal: connections, books, orders, balances."""
        parts = []
        for connection in (self.public, self.private):
            if connection is None:
                continue
            report = self.health.get(connection.config.name)
            state = report.state.value if report else "starting"
            rate = connection.metrics.rate(trio.current_time())
            parts.append(
                f"{connection.config.name} {connection.state.value}/{state} {rate:.0f} msg/s"
            )
        books = self.marketdata.books
        verified = sum(1 for feed in books.values() if feed.verified)
        parts.append(f"books {verified}/{len(books)} verified")
        if self.account is not None:
            parts.append(f"orders {len(self.account.orders.open_orders())} open")
            parts.append(f"fills {self.account.orders.fills}")
        parts.append(f"audit {self.audit.written} rows")
        if self.storage.halted:
            parts.append("AUDIT FAILING: no new orders")
        if self.capture is not None and self.capture.failing:
            parts.append("capture failing")
        return " | ".join(parts)


@asynccontextmanager
async def open_engine(
    config: EngineConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    engine: Engine | None = None,
) -> AsyncIterator[Engine]:
    """Run an engine for the duration of the block (its REST calls through ``transport``);
    ``engine``: one already built to run instead (a paper engine: :mod:`galfriday.paper`)."""
    engine = engine or Engine(config, transport=transport)
    try:
        # The audit and capture writers outlive every task that records: the last state
        # changes of a shutdown reach both.
        async with trio.open_nursery() as keepers:
            await keepers.start(engine.audit.run)
            keepers.start_soon(engine.audit.keep_checkpoints)  # no commit waits for one
            if engine.capture is not None:
                await keepers.start(engine.capture.run)
                capture = engine.capture
                logger.info("capturing to {}", capture.paths[0] if capture.paths else "(failing)")
            keepers.start_soon(engine.storage.watch)
            async with _run_engine(engine) as running:
                yield running
            keepers.cancel_scope.cancel()
    finally:
        # A clean stop leaves every row in the database file itself: the store's close
        # (checkpoint, WAL truncated) runs even when the block is left by a cancellation.
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(engine.store.close)


async def _wait_for_start(engine: Engine) -> None:
    """Wait up to ``STARTUP_TIMEOUT`` for the books and the account's snapshots; past it the
    engine starts anyway (the streams go on trying), saying what it is still waiting for."""
    with trio.move_on_after(STARTUP_TIMEOUT) as scope:
        await engine.marketdata.ready.wait()
        if engine.account is not None:
            await engine.account.snapshots.wait()
    if scope.cancelled_caught:
        waiting = [] if engine.marketdata.ready.is_set() else ["the first book snapshots"]
        if engine.account is not None and not engine.account.snapshots.is_set():
            waiting.append("the account's snapshots (executions, balances)")
        logger.warning(
            "start-up: still waiting after {:.0f} s for {}; starting anyway, the streams keep"
            " trying (see the connection_events table)",
            STARTUP_TIMEOUT,
            " and ".join(waiting),
        )


@asynccontextmanager
async def _run_engine(engine: Engine) -> AsyncIterator[Engine]:
    config = engine.config
    async with engine.rest, trio.open_nursery() as nursery:
        if engine.gateway is not None:
            engine.gateway.background = nursery
        await engine.load_pairs()
        await nursery.start(engine.marketdata.run, engine._public_frames)
        await nursery.start(engine.public.run)
        if engine.private is not None and engine.account is not None:
            await nursery.start(engine.account.run, engine._private_frames)
            await nursery.start(engine.private.run)
        nursery.start_soon(engine._monitor_health)
        if config.webhook is not None:
            await nursery.start(run_webhook, config.webhook, engine.bus)
        await _wait_for_start(engine)
        if config.trading and config.dead_man and engine.gateway is not None:
            nursery.start_soon(engine._dead_man_switch)
        if engine.reconciler is not None:
            await nursery.start(engine.reconciler.run)
        engine.started.set()
        yield engine
        nursery.cancel_scope.cancel()
