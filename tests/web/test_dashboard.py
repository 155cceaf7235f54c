"""The dashboard at / in a real browser (headless Chromium over the DevTools protocol).

Each test starts the simulator, an engine against it and its HTTP server on loopback, with the
static folder mounted at ``/`` as the lead's server will, opens the page and reads what it
rendered. Skipped, saying why, where Chromium is not installed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from pathlib import Path

import pytest
import trio

import galfriday.web
from galfriday.events import Alert, ReviewItem, Severity
from galfriday.live.engine import Engine
from galfriday.sim.server import SimConfig, open_simulator
from galfriday.web import HttpConfig, serve_http
from tests.live.test_engine import engine_on
from tests.web.browser import CHROMIUM, Page, open_browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="needs chromium on PATH (Debian: apt-get install -y chromium)"
    ),
]

STATIC = Path(galfriday.web.__file__).parent / "static"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
TOKEN = "dashboard-test-token-0123"
PAGE_TIMEOUT = 30.0  # the page's first poll and render, with Chromium on a busy machine


@asynccontextmanager
async def dashboard(db: Path, http: HttpConfig | None = None) -> AsyncIterator[tuple[Engine, Page]]:
    """The simulator, an engine, its server with the dashboard at /, and Chromium showing it."""
    http = http or HttpConfig(bind="127.0.0.1", port=0)
    async with (
        open_simulator(SimConfig(rate=50)) as sim,
        engine_on(sim, db) as engine,
        trio.open_nursery() as nursery,
    ):
        port = await nursery.start(lambda task_status: serve_http(
            engine, http, task_status=task_status))  # fmt: skip
        async with open_browser() as page:
            await page.goto(f"http://127.0.0.1:{port}/")
            yield engine, page
        nursery.cancel_scope.cancel()


def _resting_bid(engine: Engine, symbol: str) -> D:
    """A buy price well under the book, so the order rests."""
    book = engine.marketdata.books[symbol].book
    best, _ = book.top_levels(1)[0][0]
    return book.price_of(best) * D("0.9")


async def test_the_book_of_the_chosen_symbol_shows_as_verified(tmp_path: Path) -> None:
    async with dashboard(tmp_path / "a.db") as (_engine, page):
        with trio.fail_after(PAGE_TIMEOUT):
            shown = await page.wait_for(
                "document.getElementById('book-verified').dataset.state !== 'unknown'"
                " && /^[0-9]/.test(document.getElementById('best-bid').textContent)"
                " && [document.getElementById('book-symbol').value,"
                "     document.getElementById('book-verified').textContent]"
            )
    assert shown == ["BTC/USD", "verified"]


async def test_an_order_placed_through_the_engine_appears_in_open_orders(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path / "a.db") as (engine, page):
        assert engine.gateway is not None
        bid = _resting_bid(engine, "BTC/USD").quantize(D(1))
        order_id = await engine.gateway.place("BTC/USD", "buy", D("0.001"), bid)
        with trio.fail_after(PAGE_TIMEOUT):
            cells = await page.wait_for(
                f"(row => row && [...row.cells].map(c => c.textContent))"
                f"(document.querySelector('#open-orders tr[data-order-id=\"{order_id}\"]'))"
            )
    assert cells[0] == order_id
    assert cells[1:4] == ["BTC/USD", "buy", "limit"]
    assert D(cells[4]) == D("0.001") and D(cells[5]) == bid


async def test_a_review_item_is_resolved_with_the_token_from_the_page(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    http = HttpConfig(bind="127.0.0.1", port=0, token=TOKEN)
    async with dashboard(db, http) as (engine, page):
        now = time.time()
        engine.recorder.emit(ReviewItem(
            item_id="rv-test-1", run_id="gateway", kind="order_outcome_unknown",
            subject="cl-1", severity=Severity.CRITICAL, internal="buy 0.001 BTC/USD",
            exchange=None, created_at=now, received_at=now,
        ))  # fmt: skip
        row = '#review-queue tr[data-item-id="rv-test-1"]'
        with trio.fail_after(PAGE_TIMEOUT):
            await page.wait_for(f"document.querySelector('{row}')")
            await page.evaluate(f"window.prompt = () => '{TOKEN}'")
            await page.evaluate(
                f"document.querySelector('{row} input.note').value = 'seen on the exchange';"
                f"document.querySelector('{row} button[data-decision=\"keep-internal\"]').click()"
            )
            notice = await page.wait_for(
                f"!document.querySelector('{row}') && document.getElementById('notice').textContent"
            )
        kept = await page.evaluate("sessionStorage.getItem('galfriday.token')")
        decided = await engine.audit.read(lambda store: store.db.conn.execute(
            "SELECT status, decision, note FROM review_queue WHERE id = 'rv-test-1'"
        ).fetchone())  # fmt: skip
    assert tuple(decided) == ("resolved", "keep-internal", "seen on the exchange")
    assert notice == "rv-test-1: keep-internal recorded."
    assert kept == TOKEN


async def test_events_from_the_stream_are_counted_by_type(tmp_path: Path) -> None:
    async with dashboard(tmp_path / "a.db") as (_engine, page):
        with trio.fail_after(PAGE_TIMEOUT):
            via = await page.wait_for(
                "document.getElementById('stream-state').dataset.state === 'live'"
                " && [...document.querySelectorAll('#event-rates td:first-child')]"
                "      .some(cell => cell.textContent === 'BookUpdate')"
                " && document.getElementById('stream-state').dataset.via"
            )
    assert via == "eventsource"


async def test_with_a_token_stored_the_stream_is_read_with_it(tmp_path: Path) -> None:
    http = HttpConfig(bind="127.0.0.1", port=0, token=TOKEN)
    async with dashboard(tmp_path / "a.db", http) as (_engine, page):
        await page.evaluate(f"sessionStorage.setItem('galfriday.token', '{TOKEN}')")
        await page.goto(await page.evaluate("location.href"))
        with trio.fail_after(PAGE_TIMEOUT):
            via = await page.wait_for(
                "document.getElementById('stream-state').dataset.state === 'live'"
                " && [...document.querySelectorAll('#event-rates td:first-child')]"
                "      .some(cell => cell.textContent === 'BookUpdate')"
                " && document.getElementById('stream-state').dataset.via"
            )
    assert via == "fetch"


async def test_the_page_adds_money_exactly(tmp_path: Path) -> None:
    async with open_browser() as page:
        await page.goto((STATIC / "index.html").as_uri())
        sums = await page.evaluate(
            "[decimalSum(['0.1', '0.2']), decimalDiff('65000.1', '64999.95'),"
            " decimalSum(['-1.5', '1.25']), decimalDiff('0.001', '0.001')]"
        )
    assert sums == ["0.3", "0.15", "-0.25", "0.000"]


async def test_a_screenshot_of_the_busy_dashboard_is_saved(tmp_path: Path) -> None:
    async with dashboard(tmp_path / "a.db") as (engine, page):
        assert engine.gateway is not None
        now = time.time()
        bid = _resting_bid(engine, "BTC/USD").quantize(D(1))
        await engine.gateway.place("BTC/USD", "buy", D("0.002"), bid)
        await engine.gateway.place("ETH/USD", "sell", D("0.05"), order_type="market")
        for event in (
            Alert(severity=Severity.HIGH, source="reconcile", message="BTC balance differs",
                  received_at=now),
            ReviewItem(item_id="rv-shot", run_id="r-1", kind="balance", subject="BTC",
                       severity=Severity.HIGH, internal="1.0000", exchange="0.9990",
                       created_at=now, received_at=now),
        ):  # fmt: skip
            engine.recorder.emit(event)
        with trio.fail_after(PAGE_TIMEOUT):
            await page.wait_for(
                "['#open-orders tbody tr', '#recent-fills tbody tr', '#alert-list li',"
                " '#review-queue tbody tr', '#health-chart rect', '#depth-chart path']"
                ".every(selector => document.querySelector(selector))"
                " && document.querySelector('#positions tbody tr[data-symbol=\"ETH/USD\"]')"
                ".lastChild.textContent.match(/^-?[0-9.]+$/)"  # the pair's net P&L, a number
            )
        assert "[object" not in await page.evaluate("document.body.innerText")
        png = await page.screenshot(ARTIFACTS / "dashboard.png")
        await trio.Path(ARTIFACTS / ".gitignore").write_text("*\n")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1400, 1000)
