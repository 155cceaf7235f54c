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
import shutil
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from galfriday.api import Engine as PublicEngine
from galfriday.api import open_engine
from galfriday.audit import queries
from galfriday.audit.store import AuditStore, check_database
from galfriday.config import Config
from galfriday.core.health import Health
from galfriday.demo import demo
from galfriday.errors import ConfigError, StorageFailure, StrategyFailed, first_error
from galfriday.events import FillEvent
from galfriday.httpconfig import HttpConfig
from galfriday.live import systemd
from galfriday.live.engine import Engine
from galfriday.logs import json_format
from galfriday.reconcile.commands import print_run
from galfriday.settings import Mode, Settings, load_config
from galfriday.signals import stop_signals
from galfriday.strategy import OnError, StrategyRunner, load_strategy, parse_params
from galfriday.web.server import serve_http

__all__ = ["run"]

SUMMARY_EVERY = 10.0
LOG_ROTATION = "20 MB"
LOG_RETENTION = 10
LOG_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{line} - {message}"
LOG_MODE = 0o600  # the log file and its rotated, gzipped parts: the owner's only


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


def _settings(args: argparse.Namespace) -> Settings:
    """The run's settings: the file's (or the embedded default's), the flags over them."""
    mode: Mode | None = None
    if args.market_data_only:
        mode = "market-data"
    elif args.read_only:
        mode = "read-only"
    return load_config(
        args.config,
        mode=mode,
        database=args.db,
        capture=not args.no_capture,
        capture_dir=args.capture_dir,
        seed=args.seed,
        paper=getattr(args, "paper", False),
    )


def wants_demo(config: Config, args: argparse.Namespace, trading: bool) -> bool:
    """Whether a run from a config file runs the demo: ``[demo] enabled`` in trade mode,
    unless ``--no-demo`` (the flag wins over the file)."""
    return config.demo.enabled and trading and not args.no_demo


def _strategy(args: argparse.Namespace, settings: Settings) -> _Chosen | None:
    """The strategy this run runs: ``--strategy``, else ``[strategy] entry``, else the demo
    (the embedded default, or ``[demo] enabled``) when trading; loaded now, so a bad entry
    is a one-line error before anything starts."""
    section = settings.config.strategy
    entry = args.strategy or section.entry
    if entry is not None:
        field = "--strategy" if args.strategy else "strategy.entry"
        params = {**section.params, **parse_params(args.param)}
        return _Chosen(load_strategy(entry, field), params, section.on_error)
    trading = settings.mode == "trade"
    if (settings.embedded and trading and not args.no_demo) or wants_demo(
        settings.config, args, trading
    ):
        return _Chosen(demo, {"symbol": settings.config.demo.symbol}, "halt")
    return None


@dataclass(frozen=True)
class _Chosen:
    """The strategy of the run: what to run, with what, and what its failure does."""

    target: object
    params: dict[str, Any]
    on_error: OnError


def _announce(settings: Settings) -> None:
    """The embedded run's first lines: the seed that repeats its market, and how to reach the
    other commands meanwhile."""
    if not settings.embedded:
        return
    seed = settings.seed
    logger.info("embedded simulator, market seed {} (--seed {} repeats this market)", seed, seed)
    logger.info(
        "meanwhile, in another terminal: just galfriday status{}, just galfriday report{},"
        " just galfriday stop{} (or .venv/bin/galfriday ...)",
        *[_db_flag(settings.database)] * 3,
    )


def _db_flag(database: Path) -> str:
    """`` --db X`` for commands to read ``database``; nothing for their default."""
    return "" if database == Path("galfriday.db") else f" --db {database}"


async def _main(settings: Settings, chosen: _Chosen | None, args: argparse.Namespace) -> int:
    """The whole run in trio; the exit code (130: ``reconcile`` stopped before its report).

    The first stop signal (or ``--duration``) stops the strategy first (its ``on_stop``, its
    orders cancelled) while the engine still runs, then the engine; a second one, or a signal
    during start-up, stops everything at once.
    """
    once = args.command == "reconcile"
    with stop_signals() as signals:
        lifecycle = _Lifecycle()
        async with trio.open_nursery() as outer:
            outer.start_soon(_stop_on_signal, signals, outer.cancel_scope, lifecycle)
            interval = systemd.watchdog_interval()
            if interval is not None and not once:
                outer.start_soon(systemd.run_watchdog, lifecycle.healthy, interval)
            if args.duration:
                outer.start_soon(_stop_after, args.duration, lifecycle)
            await _serve(settings, chosen, once, lifecycle)
            outer.cancel_scope.cancel()
    if lifecycle.unwritten:
        raise StorageFailure(
            f"{lifecycle.unwritten} audit rows could not be written before the engine stopped"
        )
    return 130 if once and lifecycle.signalled else 0


@dataclass
class _Lifecycle:
    """What the run's outer tasks know of the engine: the engine once it runs, the stop
    asked for, and the count of audit rows it could not write by the time it stopped."""

    engine: Engine | None = None
    unwritten: int = 0
    signalled: bool = False
    stopping: trio.Event = field(default_factory=trio.Event)

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
    settings: Settings, chosen: _Chosen | None, once: bool, lifecycle: _Lifecycle
) -> None:
    """Run the engine (and the strategy) until asked to stop; ``lifecycle`` holds the engine
    while it runs, and then the count of audit rows it could not write."""
    inner = None
    try:
        async with open_engine(settings) as engine:
            inner = lifecycle.engine = engine.internal
            # What start-up built lives as long as the process: the cyclic collector need not
            # scan it again (full collections were the largest pauses on the frame path).
            gc.freeze()
            try:
                await _work(engine, chosen, once, lifecycle)
            finally:
                systemd.notify("STOPPING=1")
    finally:
        lifecycle.engine = None
        if inner is not None:
            lifecycle.unwritten = inner.audit.unwritten


async def _work(
    engine: PublicEngine, chosen: _Chosen | None, once: bool, lifecycle: _Lifecycle
) -> None:
    inner = engine.internal
    async with trio.open_nursery() as nursery:
        logger.info("engine started: {}", inner.summary())
        if once:
            await _print_last_reconciliation(inner)
            return
        systemd.notify(f"READY=1\nSTATUS={inner.summary()}")
        nursery.start_soon(_log_fills, inner)
        nursery.start_soon(_summaries, inner)
        await _start_http(engine, nursery)
        runner = None
        if chosen is not None:
            if not engine.trading:
                mode = engine.settings.mode
                logger.warning("{} mode: the strategy's orders will be refused", mode)
            runner = StrategyRunner(engine, chosen.target, chosen.params, on_error=chosen.on_error)
            await nursery.start(runner.run)
        await lifecycle.stopping.wait()
        if runner is not None:
            await runner.stop()
        nursery.cancel_scope.cancel()


async def _start_http(engine: PublicEngine, nursery: trio.Nursery) -> None:
    """The HTTP server of ``[http]``; in the embedded run, one on loopback by default (a port
    already taken is a warning there, not a failure: the run needs no dashboard)."""
    http = engine.settings.config.http
    optional = http is None and engine.settings.embedded
    if optional:
        http = HttpConfig()
    if http is None:
        return
    try:
        await nursery.start(serve_http, engine, http)  # it logs its address
    except ConfigError as exc:
        if not optional:
            raise
        logger.warning("no dashboard this time: {}", exc)


async def _summaries(engine: Engine) -> None:
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
    signals: AsyncIterator[int], scope: trio.CancelScope, lifecycle: _Lifecycle
) -> None:
    """The first signal stops the run in order (the strategy, then the engine); a second
    one, or one before the engine runs, stops it at once."""
    async for signum in signals:
        name = signal.Signals(signum).name
        lifecycle.signalled = True
        if lifecycle.engine is None or lifecycle.stopping.is_set():
            logger.info("{}: stopping now", name)
            scope.cancel()
            return
        logger.info("{}: stopping (again to stop at once)", name)
        lifecycle.stopping.set()


async def _stop_after(seconds: float, lifecycle: _Lifecycle) -> None:
    await trio.sleep(seconds)
    lifecycle.stopping.set()


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


def _check_paths(args: argparse.Namespace, settings: Settings) -> None:
    """Everything the run would write, checked before it starts."""
    check_database(settings.database, create=True)
    if settings.capture is not None:
        flag = "--capture-dir" if args.capture_dir else "capture.folder"
        _check_writable(settings.capture.folder, flag, folder=True)
    if args.log_file:
        _check_writable(args.log_file, "--log-file", folder=False)


def run(args: argparse.Namespace, reconcile_once: bool = False) -> int:
    """``galfriday run`` (or with ``reconcile_once``, ``galfriday reconcile``); the exit code."""
    if args.read_only and args.market_data_only:
        raise ConfigError("--read-only/--market-data-only", "choose one of them")
    if args.config and args.seed is not None:
        raise ConfigError("--seed", "seeds the embedded simulator; not with --config")
    settings = _settings(args)  # credentials and fields checked before anything starts
    if reconcile_once and settings.mode == "market-data":
        raise ConfigError("reconcile", "needs API keys: not with market-data mode")
    chosen = None if reconcile_once else _strategy(args, settings)
    _check_paths(args, settings)
    _configure_logging(args)
    _announce(settings)
    try:
        code = trio.run(_main, settings, chosen, args)
    except* (ConfigError, StorageFailure, StrategyFailed) as group:
        raise first_error(group) from None
    logger.info("stopped")
    return code
