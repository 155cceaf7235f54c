"""``galfriday sim``: turn command-line arguments into a running simulator.

The stop signals' receiver opens before anything listens, so a SIGTERM at any moment, even
before the URLs are printed, stops the simulator cleanly with exit 0. A port already taken
is refused before anything starts, naming its flag.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TextIO, TypeVar

import trio
from loguru import logger

from galfriday.capture.format import Reader, Record
from galfriday.errors import ConfigError
from galfriday.kraken.symbols import SymbolMap
from galfriday.signals import stop_signals
from galfriday.sim.market import PairSpec, default_pairs
from galfriday.sim.playback import Playback, load_frames
from galfriday.sim.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    SimConfig,
    Simulator,
    SimUrls,
)

__all__ = ["check_ports", "parse_pair", "run_sim", "sim_config"]

SECRET_ENV = "GALFRIDAY_SIM_API_SECRET"
KEY_ENV = "GALFRIDAY_SIM_API_KEY"
T = TypeVar("T")


def parse_pair(text: str) -> PairSpec:
    """``SOL/USD=150:2:8:0.02`` -> a pair (mid price, price decimals, qty decimals, min size)."""
    problem = "must look like SOL/USD=150:2:8:0.02 (mid:price decimals:qty decimals:min size)"
    symbol, _, rest = text.partition("=")
    base, slash, quote = symbol.partition("/")
    fields = rest.split(":")
    if not (slash and base and quote and len(fields) == 4):
        raise ConfigError("--pair", f"{text!r} {problem}")
    try:
        mid, qty_min = Decimal(fields[0]), Decimal(fields[3])
        pp, qp = int(fields[1]), int(fields[2])
    except (InvalidOperation, ValueError) as exc:
        raise ConfigError("--pair", f"{text!r} {problem}") from exc
    if mid <= 0 or qty_min <= 0 or not 0 <= pp <= 10 or not 0 <= qp <= 10:
        raise ConfigError("--pair", f"{text!r}: prices and sizes must be positive, decimals 0..10")
    names = SymbolMap()
    rest_name = names.rest_pair(symbol)
    alt_base = {"BTC": "XBT", "DOGE": "XDG"}.get(base, base)
    return PairSpec(
        symbol,
        base,
        quote,
        names.rest_asset(base),
        names.rest_asset(quote),
        rest_name,
        rest_name,
        f"{alt_base}/{quote}",
        pp,
        qp,
        mid,
        qty_min,
    )


def sim_config(args: argparse.Namespace) -> SimConfig:
    """The simulator configuration from parsed ``galfriday sim`` arguments and the environment."""
    pairs = {p.symbol: p for p in default_pairs()}
    for text in args.pair:
        spec = parse_pair(text)
        pairs[spec.symbol] = spec
    config = SimConfig(
        host=args.host,
        public_port=args.public_port,
        private_port=args.private_port,
        rest_port=args.rest_port,
        allow_remote=args.allow_remote,
        seed=args.seed,
        rate=args.rate,
        pairs=tuple(pairs.values()),
        api_key=args.api_key or os.environ.get(KEY_ENV) or DEFAULT_API_KEY,
        api_secret=os.environ.get(SECRET_ENV) or DEFAULT_API_SECRET,
        chaos_per_minute=args.chaos,
        chaos_seed=args.chaos_seed,
        rest_counter=args.rest_counter,
    )
    config.check()
    return config


def check_ports(config: SimConfig) -> None:
    """Refuse a fixed port that something already listens on (the check binds nothing lasting).

    Raises:
        ConfigError: naming the flag of the first port in use (or given twice).
    """
    flags: dict[int, str] = {}
    for flag, port in (
        ("--public-port", config.public_port),
        ("--private-port", config.private_port),
        ("--rest-port", config.rest_port),
    ):
        if port == 0:
            continue
        if port in flags:
            raise ConfigError(flag, f"port {port} is already {flags[port]}; choose another or 0")
        flags[port] = flag
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as trio's listeners
            try:
                probe.bind((config.host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(flag, f"port {port} is in use; choose another or 0") from None
                raise ConfigError(flag, f"cannot listen on port {port} ({exc.strerror})") from None


def _serve_until_stopped(
    server: Callable[[], Callable[..., Awaitable[object]]],
    first_line: Callable[[T], dict[str, str | None]],
    out: TextIO,
) -> None:
    """Start the task ``server()`` gives (in trio), print its first line, run until a signal."""

    async def main() -> None:
        with stop_signals() as signals:  # before anything listens: no window for a signal
            async with trio.open_nursery() as nursery:
                started = await nursery.start(server())
                out.write(json.dumps(first_line(started)) + "\n")
                out.flush()
                async for signum in signals:
                    logger.info("signal {}: shutting down", signal.Signals(signum).name)
                    break
                nursery.cancel_scope.cancel()

    trio.run(main)


def run_sim(args: argparse.Namespace, out: TextIO) -> int:
    """Run until Ctrl-C or SIGTERM; the first line on ``out`` is the URLs as JSON."""
    config = sim_config(args)
    check_ports(config)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level.upper())
    logger.enable("galfriday")
    if args.from_capture:
        return _play_capture(args, config, out)

    def urls(started: SimUrls) -> dict[str, str | None]:
        return {
            "ws_public": started.ws_public,
            "ws_private": started.ws_private,
            "rest": started.rest,
            "api_key": started.api_key,
        }

    _serve_until_stopped(lambda: Simulator(config).serve, urls, out)
    return 0


def _play_capture(args: argparse.Namespace, config: SimConfig, out: TextIO) -> int:
    if not args.speed > 0:
        raise ConfigError("--speed", "must be a positive number (1 = as recorded)")
    records: list[Record] = []
    header = None
    for path in args.from_capture:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read it ({exc.strerror})") from None
        reader = Reader(str(path), data)
        header = header or reader.header
        for block in reader.blocks():
            records.extend(block)
    assert header is not None
    try:
        playback = Playback(
            header,
            load_frames(records),
            args.speed,
            args.loop,
            host=config.host,
            restamp=args.restamp,
        )
    except ValueError as exc:
        raise ConfigError("--from-capture", str(exc)) from None
    logger.info(
        "serving {} public frames of session {} at {}x",
        len(playback.frames),
        header.session,
        args.speed,
    )

    def url(started: str) -> dict[str, str | None]:
        return {"ws_public": started, "ws_private": None, "rest": None, "api_key": None}

    _serve_until_stopped(lambda: partial(playback.serve, config.public_port), url, out)
    return 0
