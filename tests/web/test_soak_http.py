"""The short soak (the suite's one soak: every fault detected, the end equal to the exchange)
with the HTTP server on and /metrics scraped every second through it: the soak's own checks
pass, every scrape parses, counters only grow, and the faults it injects show in the figures."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio

from galfriday.live.engine import Engine, EngineConfig
from galfriday.soak import SoakConfig, print_report, run_soak
from galfriday.soak import run as soak_run
from galfriday.web import serve_http
from tests.web.helpers import LOOPBACK, samples

pytestmark = pytest.mark.slow  # half a minute of faults on real time

Scrape = dict[str, dict[tuple[tuple[str, str], ...], float]]
COUNTERS = ("galfriday_frames_total", "galfriday_books_total", "galfriday_reconnects_total")


async def _scrape_every(url: str, scrapes: list[Scrape], failures: list[str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while True:
            await trio.sleep(1)
            try:
                reply = await http.get("/metrics")
                status = await http.get("/api/status")
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if reply.status_code != 200 or status.status_code != 200:
                failures.append(f"{reply.status_code} {status.status_code}")
                continue
            scrapes.append(samples(reply.text))


def _total(scrape: Scrape, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for key, v in scrape.get(name, {}).items() if wanted <= set(key))


def test_a_short_soak_with_the_http_server_scraped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scrapes: list[Scrape] = []
    failures: list[str] = []
    real = soak_run.open_engine

    @asynccontextmanager
    async def with_http(config: EngineConfig) -> AsyncIterator[Engine]:
        async with real(config) as engine, trio.open_nursery() as nursery:
            port = await nursery.start(serve_http, engine, LOOPBACK)
            nursery.start_soon(_scrape_every, f"http://127.0.0.1:{port}", scrapes, failures)
            yield engine
            nursery.cancel_scope.cancel()

    monkeypatch.setattr(soak_run, "open_engine", with_http)
    config = SoakConfig(minutes=0.5, seed=1)
    report = trio.run(run_soak, config, tmp_path)
    out = io.StringIO()
    print_report(report, config, out)
    assert report.ok, out.getvalue()
    # The faults whose detection is checked come first in the schedule, so even 10 s of
    # faults covers them all.
    for kind in ("drop_frames", "stall", "corrupt_checksum", "drift_deposit"):
        assert report.injected[kind] >= 1, out.getvalue()
    detection = report.figures["detection"]
    for name in ("private sequence gap", "checksum corruption", "stall"):
        assert detection[name]["injected"] >= 1, out.getvalue()
    assert len(report.checks) >= 14
    assert not failures
    assert len(scrapes) >= 20
    for name in COUNTERS:
        figures = [_total(scrape, name) for scrape in scrapes]
        assert figures == sorted(figures), name
    last = scrapes[-1]
    assert _total(last, "galfriday_reconnects_total") >= 1
    assert _total(last, "galfriday_books_total", outcome="resynced") >= 1
    assert _total(last, "galfriday_books_total", outcome="mismatched") >= 1  # corrupt_checksum
    assert "galfriday_sequence_gaps_total" in last  # a gap may be covered by a resubscription
    assert _total(last, "process_resident_memory_bytes") > 0
