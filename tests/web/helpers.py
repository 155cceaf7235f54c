"""Wiring for the HTTP tests: an engine against the simulator, its server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio
from prometheus_client.parser import text_string_to_metric_families

from galfriday.live.engine import Engine
from galfriday.sim.server import SimConfig, Simulator, open_simulator
from galfriday.web import HttpConfig, serve_http
from tests.live.test_engine import engine_on

LOOPBACK = HttpConfig(bind="127.0.0.1", port=0)


@dataclass
class Served:
    sim: Simulator
    engine: Engine
    url: str  # the server's base URL, e.g. http://127.0.0.1:41234


@asynccontextmanager
async def served(
    db: Path, http: HttpConfig = LOOPBACK, *, rate: float = 100, **engine: object
) -> AsyncIterator[Served]:
    """A simulator, an engine against it, and the engine's HTTP server on a free port."""
    async with (
        open_simulator(SimConfig(rate=rate)) as sim,
        engine_on(sim, db, **engine) as running,
        trio.open_nursery() as nursery,
    ):
        port = await nursery.start(serve_http, running, http)
        yield Served(sim, running, f"http://127.0.0.1:{port}")
        nursery.cancel_scope.cancel()


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Prometheus text -> sample name -> (sorted labels) -> value, via prometheus-client's
    own parser (which refuses what is not the format)."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


def families(text: str) -> set[str]:
    """The metric family names in Prometheus text (counters without ``_total``)."""
    return {family.name for family in text_string_to_metric_families(text)}
