"""The embedded simulator and an engine pointed at it: what ``galfriday run`` (without
``--config``) and ``galfriday soak`` share.

Both composition roots (:mod:`galfriday.app`, :mod:`galfriday.soak`) start the simulator with
:func:`open_embedded` and configure their engine with :func:`engine_config_for`; the engine
itself never imports the simulator. The embedded simulator has the default pairs and account,
:data:`RATE` background events a second, and the market of its seed (ids still differ in every
run); the engine follows :data:`SYMBOLS` with the simulator's test credentials.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import trio

from galfriday.kraken.auth import decode_secret
from galfriday.live.engine import EngineConfig
from galfriday.live.marketdata import MarketDataConfig
from galfriday.sim.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimConfig, SimUrls
from galfriday.sim.server import Simulator

__all__ = ["RATE", "SYMBOLS", "engine_config_for", "open_embedded"]

RATE: Final = 50.0  # background events a second
SYMBOLS: Final = ("BTC/USD", "ETH/USD", "XRP/USD", "DOGE/USD")


@asynccontextmanager
async def open_embedded(seed: int) -> AsyncIterator[tuple[Simulator, SimUrls]]:
    """The embedded simulator with the market of ``seed``, serving on loopback for the block;
    yields it and its URLs, and stops it at the end."""
    sim = Simulator(SimConfig(rate=RATE, seed=seed))
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(sim.serve)
        yield sim, urls
        nursery.cancel_scope.cancel()


def engine_config_for(
    urls: SimUrls, database: Path, *, keyed: bool = True, **overrides: Any
) -> EngineConfig:
    """An engine configuration for the simulator at ``urls``, auditing into ``database``.

    The engine follows :data:`SYMBOLS` and, with ``keyed``, has the simulator's test
    credentials (without: market data only); ``overrides`` set any other
    :class:`~galfriday.live.engine.EngineConfig` field (an unknown name is a TypeError).
    """
    base = EngineConfig(
        ws_public=urls.ws_public,
        ws_private=urls.ws_private,
        rest=urls.rest,
        database=database,
        api_key=DEFAULT_API_KEY if keyed else None,
        api_secret=decode_secret(DEFAULT_API_SECRET) if keyed else None,
        marketdata=MarketDataConfig(symbols=SYMBOLS),
        rest_tier="intermediate",  # the simulator keeps Kraken's intermediate counter
    )
    return dataclasses.replace(base, **overrides)
