"""``/metrics``: the names the brief promises, parsed by prometheus-client's own parser."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx

from galfriday.events import FillEvent, OrderStatus, OrderUpdate, OrderView
from galfriday.web.metrics import EngineMetrics, EventCounts
from tests.web.helpers import families, samples, served

REQUIRED = {
    "galfriday_connection_state", "galfriday_reconnects", "galfriday_frames", "galfriday_books",
    "galfriday_sequence_gaps", "galfriday_rest_counter", "galfriday_rest_calls",
    "galfriday_orders", "galfriday_fills", "galfriday_reconciliations",
    "galfriday_discrepancies", "galfriday_review_queue", "galfriday_audit_queue_depth",
    "galfriday_audit_write_seconds", "galfriday_capture_drops", "process_resident_memory_bytes",
    "galfriday_loop_lag_seconds",
}  # fmt: skip


async def _scrape(path: Path) -> str:
    async with served(path) as s, httpx.AsyncClient(base_url=s.url) as http:
        await s.engine.audit.flush()
        reply = await http.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return reply.text


async def test_metrics_expose_every_promised_family(tmp_path: Path) -> None:
    assert families(await _scrape(tmp_path / "a.db")) >= REQUIRED


async def test_connection_state_says_each_channel_is_up(tmp_path: Path) -> None:
    state = samples(await _scrape(tmp_path / "a.db"))["galfriday_connection_state"]
    assert set(state) == {(("channel", "public"),), (("channel", "private"),)}
    assert state[(("channel", "private"),)] == 4.0  # subscribed
    assert state[(("channel", "public"),)] >= 2.0  # connected at least


async def test_verified_book_messages_are_counted(tmp_path: Path) -> None:
    books = samples(await _scrape(tmp_path / "a.db"))["galfriday_books_total"]
    assert books[(("outcome", "verified"),)] > 0
    assert books[(("outcome", "mismatched"),)] == 0


async def test_rest_calls_are_counted_by_method_and_outcome(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s, httpx.AsyncClient(base_url=s.url) as http:
        await s.engine.rest.balance()
        await s.engine.rest.balance()
        reply = await http.get("/metrics")
    calls = samples(reply.text)["galfriday_rest_calls_total"]
    assert calls[(("method", "Balance"), ("outcome", "ok"))] == 2


async def test_audit_batches_fill_the_write_histogram(tmp_path: Path) -> None:
    scraped = samples(await _scrape(tmp_path / "a.db"))
    assert scraped["galfriday_audit_write_seconds_count"][()] >= 1


async def test_observers_are_removed_when_the_server_stops(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s:
        assert s.engine.rest.call_observers and s.engine.audit.batch_observers
    assert not s.engine.rest.call_observers and not s.engine.audit.batch_observers


def _update(status: OrderStatus, previous: OrderStatus | None) -> OrderUpdate:
    return OrderUpdate(
        order=OrderView(order_id="O1", status=status), exec_type="status", previous=previous
    )


def test_an_order_is_counted_when_its_status_changes_only() -> None:
    counts = EventCounts()
    counts.count(_update(OrderStatus.NEW, None))
    counts.count(_update(OrderStatus.NEW, OrderStatus.NEW))
    counts.count(_update(OrderStatus.FILLED, OrderStatus.NEW))
    assert counts.orders["new"] == 1 and counts.orders["filled"] == 1


def test_every_order_status_has_a_series_before_the_first_order() -> None:
    assert set(EventCounts().orders) == {status.value for status in OrderStatus}


def test_fills_are_counted_from_the_bus() -> None:
    counts = EventCounts()
    fill = FillEvent(
        order_id="O1", exec_id="E1", symbol="BTC/USD", side="buy", qty=Decimal(1),
        price=Decimal(2), cost=None, fees=(), liquidity=None,
    )  # fmt: skip
    counts.count(fill)
    counts.count(fill)
    assert counts.fills == 2


async def test_two_engines_never_share_a_registry(tmp_path: Path) -> None:
    async with served(tmp_path / "a.db") as s:
        one, two = EngineMetrics(s.engine), EngineMetrics(s.engine)
        assert one.registry is not two.registry
        assert len(samples(one.exposition().decode())["galfriday_books_total"]) == 3
