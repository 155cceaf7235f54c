"""``galfriday run``: the composition root that puts an engine (and maybe a simulator) together.

Without ``--config`` it runs the embedded default: galfriday's simulator on loopback, the
engine pointed at it with the simulator's test credentials (a paper account), and the demo
strategy. With ``--config`` it runs against the URLs of the file, real Kraken included, with
credentials from the environment. This module (with the CLI) is the only place where the engine
and the simulator meet (with the soak, which checks one against the other); the engine itself
never imports the simulator.

It prints a one-line health summary every 10 seconds and a line per fill, and stops cleanly,
exit 0, on Ctrl-C or SIGTERM at any moment, start-up included (or after ``--duration``
seconds). Every path it would write (database, captures, log file) is checked before anything
starts; a bad one is a one-line error, exit 2, with nothing created. The embedded simulator
takes a fresh market seed unless ``--seed`` is given, and logs it.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import os
import secrets
import shutil
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio
from loguru import logger

from galfriday.audit import queries
from galfriday.audit.store import AuditStore, check_database
from galfriday.capture.writer import CaptureConfig
from galfriday.config import CaptureSection, Config, check_endpoints, credentials, load_config
from galfriday.core.health import Health
from galfriday.errors import ConfigError, StorageFailure
from galfriday.events import FillEvent
from galfriday.kraken.ratelimit import TIERS, Tier
from galfriday.live import systemd
from galfriday.live.alerts import alert_config
from galfriday.live.demo import DemoConfig, run_demo
from galfriday.live.engine import Engine, EngineConfig, open_engine
from galfriday.live.marketdata import MarketDataConfig
from galfriday.logs import json_format
from galfriday.reconcile.commands import print_run
from galfriday.reconcile.compare import Limits, Thresholds
from galfriday.reconcile.run import ReconcileConfig
from galfriday.signals import stop_signals

__all__ = ["run"]

SUMMARY_EVERY = 10.0
LOG_ROTATION = "20 MB"
LOG_RETENTION = 10
LOG_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{line} - {message}"
LOG_MODE = 0o600  # the log file and its rotated, gzipped parts: the owner's only
SEEDS = 1_000_000  # a fresh embedded seed is below this: short enough to type back


def _owner_only(path: str, flags: int) -> int:
    """``open``'s opener for log files: created 0600 (an existing file keeps its mode)."""
    return os.open(path, flags, LOG_MODE)


def _gzip_owner_only(path: str) -> None:
    """loguru's compression of a rotated log, into a ``.gz`` created 0600."""
    with (
        open(path, "rb") as source,
        open(path + ".gz", "wb", opener=_owner_only) as target,
        gzip.GzipFile(fileobj=target, mode="wb") as archive,
    ):
        shutil.copyfileobj(source, archive)
    os.remove(path)


def _configure_logging(args: argparse.Namespace) -> None:
    logger.remove()
    level = args.log_level.upper()
    if args.log_json:
        logger.add(sys.stderr, level=level, format=json_format, colorize=False)
    else:
        logger.add(
            sys.stderr,
            level=level,
            format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}",
        )
    if args.log_file:
        logger.add(
            args.log_file,
            level=level,
            format=json_format if args.log_json else LOG_FILE_FORMAT,
            colorize=False,
            rotation=LOG_ROTATION,
            retention=LOG_RETENTION,
            compression=_gzip_owner_only,
            enqueue=True,  # written by loguru's thread, never by the trio thread
            opener=_owner_only,  # passed through to open()
        )
    logger.enable("galfriday")


def _engine_config(config: Config, args: argparse.Namespace) -> EngineConfig:
    mode = config.engine.mode
    if args.market_data_only:
        mode = "market-data"
    elif args.read_only:
        mode = "read-only"
    key, secret = credentials(mode)
    check_endpoints(config, keyed=key is not None)
    database = args.db or Path(config.engine.database)
    return EngineConfig(
        ws_public=config.kraken.ws_public,
        ws_private=config.kraken.ws_private,
        rest=config.kraken.rest,
        database=database,
        nonce_path=nonce_file(database),
        api_key=key,
        api_secret=secret,
        trading=mode == "trade",
        marketdata=MarketDataConfig(
            symbols=tuple(config.engine.symbols),
            depth=config.engine.depth,
            ohlc_intervals=tuple(config.engine.ohlc_intervals),
        ),
        silence_timeout=config.engine.silence_timeout,
        health_interval=config.engine.health_interval,
        rest_tier=config.kraken.tier,
        rest_counter=_rest_counter(config),
        reconcile=_reconcile_config(config) if config.reconcile.enabled else None,
        capture=_capture_config(args, config),
        webhook=alert_config(config.alerts),
    )


def _rest_counter(config: Config) -> Tier | None:
    kraken = config.kraken
    if kraken.counter_max is None and kraken.counter_decay is None:
        return None
    tier = TIERS[kraken.tier]
    return Tier(kraken.counter_max or tier.maximum, kraken.counter_decay or tier.decay_per_second)


def nonce_file(database: Path) -> Path:
    """Where the highest nonce used is kept: beside the database (``galfriday.db.nonce``),
    so a restart, even with a clock that went back, signs above every nonce already used."""
    return database.with_name(database.name + ".nonce")


def _capture_config(args: argparse.Namespace, config: Config | None) -> CaptureConfig | None:
    section = config.capture if config is not None else CaptureSection()
    if args.no_capture or not section.enabled:
        return None
    return CaptureConfig(
        folder=args.capture_dir or Path(section.folder),
        max_bytes=int(section.max_mb * 1024 * 1024),
        max_seconds=section.max_hours * 3600,
    )


def _reconcile_config(config: Config) -> ReconcileConfig:
    rec = config.reconcile
    return ReconcileConfig(
        interval=rec.interval_minutes * 60,
        settle=rec.settle_seconds,
        thresholds=Thresholds(
            critical=rec.critical_above, high=rec.high_from, medium=rec.medium_from
        ),
        limits=Limits(position=rec.correct_position_up_to, balance=rec.correct_balance_up_to),
    )


@dataclass(frozen=True)
class Embedded:
    """What :func:`_embedded` started: the engine's configuration, whether the demo runs, and
    the simulator's market seed (``--seed`` repeats the market; ids differ in every run)."""

    engine: EngineConfig
    demo: bool
    sim_seed: int


@asynccontextmanager
async def _embedded(args: argparse.Namespace) -> AsyncIterator[Embedded]:
    """The simulator on loopback and an engine configuration pointed at it."""
    from galfriday.sim.embedded import engine_config_for, open_embedded

    seed = args.seed if args.seed is not None else secrets.randbelow(SEEDS)
    async with open_embedded(seed) as (_, urls):
        market_only = args.market_data_only
        database = args.db or Path("galfriday.db")
        engine = engine_config_for(
            urls,
            database,
            keyed=not market_only,
            nonce_path=nonce_file(database),
            trading=not (args.read_only or market_only),
            reconcile=ReconcileConfig(interval=60.0),  # the demo reconciles every minute
            capture=_capture_config(args, None),
            sim_seed=seed,
        )
        logger.info(
            "embedded simulator on {}, seed {} (--seed {} repeats this market)",
            urls.rest,
            seed,
            seed,
        )
        logger.info(
            "meanwhile, in another terminal: just galfriday status{}, just galfriday report{}"
            " (or .venv/bin/galfriday ...)",
            *[_db_flag(database)] * 2,
        )
        yield Embedded(engine, engine.trading and not args.no_demo, seed)


def wants_demo(config: Config, args: argparse.Namespace, trading: bool) -> bool:
    """Whether a run from a config file runs the demo: ``[demo] enabled`` in trade mode,
    unless ``--no-demo`` (the flag wins over the file)."""
    return config.demo.enabled and trading and not args.no_demo


def _db_flag(database: Path) -> str:
    """`` --db X`` for commands to read ``database``; nothing for their default."""
    return "" if database == Path("galfriday.db") else f" --db {database}"


async def _main(args: argparse.Namespace, config: Config | None, once: bool) -> int:
    """The whole run in trio; the exit code (130: ``reconcile`` stopped before its report)."""
    with stop_signals() as signals:
        stopped: list[int] = []
        lifecycle = _Lifecycle()
        async with trio.open_nursery() as outer:
            outer.start_soon(_stop_on_signal, signals, outer.cancel_scope, stopped)
            interval = systemd.watchdog_interval()
            if interval is not None and not once:
                outer.start_soon(systemd.run_watchdog, lifecycle.healthy, interval)
            if args.duration:
                outer.cancel_scope.deadline = trio.current_time() + args.duration
            if config is None:
                async with _embedded(args) as embedded:
                    demo = embedded.demo and not once
                    await _serve(embedded.engine, demo, DemoConfig(), once, lifecycle)
            else:
                engine_config = _engine_config(config, args)
                demo = wants_demo(config, args, engine_config.trading) and not once
                demo_config = DemoConfig(symbol=config.demo.symbol)
                await _serve(engine_config, demo, demo_config, once, lifecycle)
            outer.cancel_scope.cancel()
    if lifecycle.unwritten:
        raise StorageFailure(
            f"{lifecycle.unwritten} audit rows could not be written before the engine stopped"
        )
    return 130 if once and stopped else 0


@dataclass
class _Lifecycle:
    """What the run's outer tasks know of the engine: the engine once it exists, and the count
    of audit rows it could not write by the time it stopped."""

    engine: Engine | None = None
    unwritten: int = 0

    def healthy(self) -> bool:
        """What systemd's watchdog goes by: no connection UNHEALTHY and the audit trail
        writable (an engine still starting counts as healthy; ``TimeoutStartSec`` covers it)."""
        engine = self.engine
        if engine is None:
            return True
        if engine.storage.halted:
            return False
        return all(report.state is not Health.UNHEALTHY for report in engine.health.values())


async def _serve(
    config: EngineConfig, demo: bool, demo_config: DemoConfig, once: bool, lifecycle: _Lifecycle
) -> None:
    """Run the engine (and the demo) until cancelled; ``lifecycle`` holds the engine while it
    runs, and then the count of audit rows it could not write."""
    engine = None
    try:
        async with open_engine(config) as engine:
            lifecycle.engine = engine
            # What start-up built lives as long as the process: the cyclic collector need not
            # scan it again (full collections were the largest pauses on the frame path).
            gc.freeze()
            try:
                await _work(engine, demo, demo_config, once)
            finally:
                systemd.notify("STOPPING=1")
    finally:
        lifecycle.engine = None
        if engine is not None:
            lifecycle.unwritten = engine.audit.unwritten


async def _work(engine: Engine, demo: bool, demo_config: DemoConfig, once: bool) -> None:
    async with trio.open_nursery() as nursery:
        logger.info("engine started: {}", engine.summary())
        if once:
            await _print_last_reconciliation(engine)
            return
        systemd.notify(f"READY=1\nSTATUS={engine.summary()}")
        nursery.start_soon(_log_fills, engine)
        if demo and engine.account is not None and engine.gateway is not None:
            nursery.start_soon(
                run_demo, demo_config, engine.marketdata, engine.account, engine.gateway
            )
        while True:
            await trio.sleep(SUMMARY_EVERY)
            summary = engine.summary()
            logger.info(summary)
            systemd.notify(f"STATUS={summary}")


async def _log_fills(engine: Engine) -> None:
    """A line per fill of the account: what the health line's count is made of."""
    async with engine.bus.subscribe(FillEvent) as fills:
        async for fill in fills:
            if isinstance(fill, FillEvent):
                liquidity = {"m": "maker", "t": "taker"}.get(fill.liquidity or "", "?")
                logger.info(
                    "fill {} {} {} at {} ({}, {})",
                    fill.side,
                    fill.qty,
                    fill.symbol,
                    fill.price,
                    liquidity,
                    fill.order_id,
                )


async def _print_last_reconciliation(engine: Engine) -> None:
    """``galfriday reconcile``: the start-up run is the one; print its report."""
    if engine.reconciler is None or engine.reconciler.last_run_id is None:
        raise ConfigError("reconcile", "needs API keys (a private connection) and a first run")
    await engine.audit.flush()
    run_id = engine.reconciler.last_run_id

    def render(store: AuditStore) -> str:
        out = io.StringIO()
        conn = sqlite3.connect(str(store.path))
        conn.row_factory = sqlite3.Row
        with conn:
            row = queries.run(conn, run_id)
            if row is not None:
                print_run(conn, row, out)
        conn.close()
        return out.getvalue()

    sys.stdout.write(await engine.audit.read(render))


async def _stop_on_signal(
    signals: AsyncIterator[int], scope: trio.CancelScope, stopped: list[int]
) -> None:
    async for signum in signals:
        logger.info("{}: stopping", signal.Signals(signum).name)
        stopped.append(signum)
        scope.cancel()
        return


def _check_writable(path: Path, flag: str, *, folder: bool) -> None:
    """Refuse a path that could not be written, before anything starts; creates nothing."""
    what = "folder" if folder else "file"
    if path.exists():
        if path.is_dir() != folder:
            raise ConfigError(flag, f"{path} is not a {what}")
        if not os.access(path, os.W_OK | (os.X_OK if folder else 0)):
            raise ConfigError(flag, f"{path} is not writable")
        return
    parent = next(p for p in path.absolute().parents if p.exists())
    if not parent.is_dir():
        raise ConfigError(flag, f"cannot create {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(flag, f"cannot create {path}: {parent} is not writable")


def _check_paths(args: argparse.Namespace, config: Config | None) -> None:
    """Everything the run would write, checked before it starts."""
    database = args.db or (Path(config.engine.database) if config else Path("galfriday.db"))
    check_database(database, create=True)
    capture = _capture_config(args, config)
    if capture is not None:
        flag = "--capture-dir" if args.capture_dir else "capture.folder"
        _check_writable(capture.folder, flag, folder=True)
    if args.log_file:
        _check_writable(args.log_file, "--log-file", folder=False)


def run(args: argparse.Namespace, reconcile_once: bool = False) -> int:
    """``galfriday run`` (or with ``reconcile_once``, ``galfriday reconcile``); the exit code."""
    if args.read_only and args.market_data_only:
        raise ConfigError("--read-only/--market-data-only", "choose one of them")
    if args.config and args.seed is not None:
        raise ConfigError("--seed", "seeds the embedded simulator; not with --config")
    config = load_config(args.config) if args.config else None
    if config is not None:
        _engine_config(config, args)  # credentials and fields checked before anything starts
    if reconcile_once and (
        args.market_data_only or (config and config.engine.mode == "market-data")
    ):
        raise ConfigError("reconcile", "needs API keys: not with market-data mode")
    _check_paths(args, config)
    _configure_logging(args)
    try:
        code = trio.run(_main, args, config, reconcile_once)
    except* (ConfigError, StorageFailure) as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    logger.info("stopped")
    return code
