"""``/metrics``: one engine's figures in Prometheus' text format (prometheus-client).

Rules:
- One :class:`~prometheus_client.CollectorRegistry` per engine, never the global one: two
  engines in one process (tests) never share a series.
- Nothing is added to the frame path. Figures the engine already keeps are read when
  Prometheus scrapes (:class:`EngineCollector`); facts it does not count are counted from the
  bus (:class:`EventCounts`, one subscription, ``drop_oldest``: what it loses is itself
  counted), from the REST client's ``call_observers`` and the audit writer's
  ``batch_observers``. :meth:`EngineMetrics.run` adds those observers and removes them when
  it ends.
- The review queue lives in the database: :meth:`EngineMetrics.refresh` counts its open items
  (in the audit writer's thread) before each scrape.

The metrics (``{labels}``; C counter, G gauge, H histogram). ``channel`` names a WebSocket
connection (``public``, ``private``); ``kind`` a Kraken channel (``book``, ``executions``...).
Counters with a fixed set of labels are given every label from the start (0 until counted):

================================================ = ==============================================
galfriday_connection_state{channel}              G socket state: 0 disconnected, 1 connecting,
                                                   2 connected, 3 authenticated, 4 subscribed
galfriday_connection_health{channel}             G last verdict: 0 healthy, 1 degraded,
                                                   2 unhealthy (absent before the first)
galfriday_reconnects_total{channel}              C connections rebuilt
galfriday_frames_total{channel}                  C messages received
galfriday_messages_total{channel,kind}           C data messages processed, by Kraken channel
galfriday_books_total{outcome}                   C book messages ``verified``, ``mismatched``
                                                   (checksum), and books ``resynced``
galfriday_book_checks_total{symbol,result}       C book messages by pair: verified, mismatched,
                                                   unverified (while resyncing)
galfriday_sequence_gaps_total                    C private sequence gaps detected
galfriday_resyncs_total{stream}                  C subscriptions rebuilt from a new snapshot
galfriday_rest_counter                           G our estimate of Kraken's REST call counter
galfriday_rest_calls_total{method,outcome}       C REST calls; outcome ``ok``, Kraken's error
                                                   code, or the transport error's class
galfriday_orders_total{status}                   C orders that moved into ``status``
galfriday_orders_open                            G orders not in a final state
galfriday_fills_total                            C executions (fills)
galfriday_reconciliations_total{status}          C runs: clean, discrepancies, failed
galfriday_discrepancies_total{severity}          C discrepancies found: low .. critical
galfriday_review_queue                           G review items waiting for a person
galfriday_audit_queue_depth                      G audit rows accepted and not yet written
galfriday_audit_rows_lost_total                  C audit rows refused past the hard limit
galfriday_audit_write_seconds                    H one batch's transaction, in its thread
galfriday_capture_drops_total                    C capture records dropped (queue full, disk)
galfriday_loop_lag_seconds                       H how late a 0.1 s sleep wakes (event loop)
galfriday_metrics_events_lost_total              C bus events this module's subscription lost
process_resident_memory_bytes (and process_*)    G prometheus-client's ProcessCollector
================================================ = ==============================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import trio
from loguru import logger
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from galfriday.audit import queries
from galfriday.bus import Subscription
from galfriday.core.health import Health
from galfriday.events import (
    Discrepancy,
    Event,
    FillEvent,
    GapDetected,
    OrderStatus,
    OrderUpdate,
    ReconciliationReport,
    ResyncStarted,
    Severity,
)
from galfriday.kraken.rest import RestCall

if TYPE_CHECKING:
    from galfriday.live.engine import Engine

__all__ = ["COUNTED", "EngineCollector", "EngineMetrics", "EventCounts", "run_loop_lag"]

COUNTED: Final = (OrderUpdate, FillEvent, ResyncStarted, GapDetected, ReconciliationReport,
                  Discrepancy)  # fmt: skip
EVENT_BUFFER: Final = 10_000
RUN_STATUSES: Final = ("clean", "discrepancies", "failed")
LAG_INTERVAL: Final = 0.1
STATE_CODES: Final = {
    "disconnected": 0, "connecting": 1, "connected": 2, "authenticated": 3, "subscribed": 4
}  # fmt: skip
HEALTH_CODES: Final = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.UNHEALTHY: 2}
WRITE_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class EventCounts:
    """Counts of facts seen on the bus and in REST calls (pure: feed it events and calls)."""

    def __init__(self) -> None:
        self.orders: Counter[str] = Counter(dict.fromkeys((s.value for s in OrderStatus), 0))
        self.fills = 0
        self.resyncs: Counter[str] = Counter()
        self.gaps: Counter[str] = Counter()
        self.reconciliations: Counter[str] = Counter(dict.fromkeys(RUN_STATUSES, 0))
        self.discrepancies: Counter[str] = Counter(dict.fromkeys((s.value for s in Severity), 0))
        self.rest_calls: Counter[tuple[str, str]] = Counter()

    def count(self, event: Event) -> None:
        """Count one bus event (other kinds are ignored)."""
        if isinstance(event, OrderUpdate):
            if event.previous is not event.order.status:
                self.orders[event.order.status.value] += 1
        elif isinstance(event, FillEvent):
            self.fills += 1
        elif isinstance(event, ResyncStarted):
            self.resyncs[event.stream] += 1
        elif isinstance(event, GapDetected):
            self.gaps[event.stream] += 1
        elif isinstance(event, ReconciliationReport):
            self.reconciliations[event.status] += 1
        elif isinstance(event, Discrepancy):
            self.discrepancies[event.severity.value] += 1

    def rest_call(self, call: RestCall) -> None:
        """Count one REST call (a ``call_observers`` entry of the REST client)."""
        self.rest_calls[(call.method, call.outcome)] += 1


def _counter(name: str, doc: str, labels: tuple[str, ...], counts: Counter[str]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=list(labels))
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


class EngineCollector(Collector):
    """Reads one engine's figures at scrape time (see the module docstring's table)."""

    def __init__(self, engine: Engine, counts: EventCounts, metrics: EngineMetrics) -> None:
        self.engine = engine
        self.counts = counts
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._connections()
        yield from self._books()
        yield from self._streams()
        yield from self._rest()
        yield from self._account()
        yield from self._storage()

    def _connections(self) -> Iterator[Metric]:
        engine = self.engine
        state = GaugeMetricFamily(
            "galfriday_connection_state",
            "Socket state: 0 disconnected, 1 connecting, 2 connected, 3 authenticated,"
            " 4 subscribed",
            labels=["channel"],
        )
        health = GaugeMetricFamily(
            "galfriday_connection_health",
            "Last health verdict: 0 healthy, 1 degraded, 2 unhealthy",
            labels=["channel"],
        )
        reconnects = CounterMetricFamily(
            "galfriday_reconnects", "Connections rebuilt", labels=["channel"]
        )
        frames = CounterMetricFamily("galfriday_frames", "Messages received", labels=["channel"])
        by_kind = CounterMetricFamily(
            "galfriday_messages", "Data messages processed, by Kraken channel",
            labels=["channel", "kind"],
        )  # fmt: skip
        for connection in (engine.public, engine.private):
            if connection is None:
                continue
            name, metrics = connection.config.name, connection.metrics
            state.add_metric([name], STATE_CODES.get(connection.state.value, 0))
            report = engine.health.get(name)
            if report is not None:
                health.add_metric([name], HEALTH_CODES[report.state])
            reconnects.add_metric([name], metrics.reconnects)
            frames.add_metric([name], metrics.messages)
            for kind, count in sorted(metrics.by_channel.items()):
                by_kind.add_metric([name, kind], count)
        yield from (state, health, reconnects, frames, by_kind)

    def _books(self) -> Iterator[Metric]:
        feeds = sorted(self.engine.marketdata.books.items())
        books = CounterMetricFamily(
            "galfriday_books", "Book messages verified or mismatched; books resynced",
            labels=["outcome"],
        )  # fmt: skip
        books.add_metric(["verified"], sum(feed.total_verified for _, feed in feeds))
        books.add_metric(["mismatched"], sum(feed.total_mismatched for _, feed in feeds))
        books.add_metric(["resynced"], sum(feed.resyncs for _, feed in feeds))
        yield books
        checks = CounterMetricFamily(
            "galfriday_book_checks", "Book messages by pair and checksum result",
            labels=["symbol", "result"],
        )  # fmt: skip
        for symbol, feed in feeds:
            checks.add_metric([symbol, "verified"], feed.total_verified)
            checks.add_metric([symbol, "mismatched"], feed.total_mismatched)
            checks.add_metric([symbol, "unverified"], feed.total_unverified)
        yield checks

    def _streams(self) -> Iterator[Metric]:
        counts = self.counts
        yield CounterMetricFamily(
            "galfriday_sequence_gaps", "Private sequence gaps detected",
            value=sum(counts.gaps.values()),
        )  # fmt: skip
        yield _counter(
            "galfriday_resyncs", "Subscriptions rebuilt from a new snapshot", ("stream",),
            counts.resyncs,
        )  # fmt: skip

    def _rest(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "galfriday_rest_counter",
            "Our estimate of Kraken's REST call counter for the key",
            value=self.engine.rest.counter_level(),
        )
        calls = CounterMetricFamily(
            "galfriday_rest_calls", "REST calls by method and outcome",
            labels=["method", "outcome"],
        )  # fmt: skip
        for (method, outcome), count in sorted(self.counts.rest_calls.items()):
            calls.add_metric([method, outcome], count)
        yield calls

    def _account(self) -> Iterator[Metric]:
        counts, account = self.counts, self.engine.account
        yield _counter(
            "galfriday_orders", "Orders that moved into a status", ("status",), counts.orders
        )
        if account is not None:
            yield GaugeMetricFamily(
                "galfriday_orders_open", "Orders not in a final state",
                value=len(account.orders.open_orders()),
            )  # fmt: skip
        yield CounterMetricFamily("galfriday_fills", "Executions (fills)", value=counts.fills)
        yield _counter(
            "galfriday_reconciliations", "Reconciliation runs by outcome", ("status",),
            counts.reconciliations,
        )  # fmt: skip
        yield _counter(
            "galfriday_discrepancies", "Discrepancies found, by severity", ("severity",),
            counts.discrepancies,
        )  # fmt: skip
        if self.metrics.review_open is not None:
            yield GaugeMetricFamily(
                "galfriday_review_queue", "Review items waiting for a person",
                value=self.metrics.review_open,
            )  # fmt: skip

    def _storage(self) -> Iterator[Metric]:
        engine = self.engine
        yield GaugeMetricFamily(
            "galfriday_audit_queue_depth", "Audit rows accepted and not yet written",
            value=engine.audit.rows_waiting,
        )  # fmt: skip
        yield CounterMetricFamily(
            "galfriday_audit_rows_lost", "Audit rows refused past the hard limit",
            value=engine.audit.lost,
        )  # fmt: skip
        capture = engine.capture
        yield CounterMetricFamily(
            "galfriday_capture_drops", "Capture records dropped",
            value=capture.dropped if capture is not None else 0,
        )  # fmt: skip
        yield CounterMetricFamily(
            "galfriday_metrics_events_lost", "Bus events the metrics' subscription lost",
            value=self.metrics.events_lost,
        )  # fmt: skip


async def run_loop_lag(histogram: Histogram, interval: float = LAG_INTERVAL) -> None:
    """Sleep ``interval`` again and again; observe how late each wake-up came."""
    while True:
        deadline = trio.current_time() + interval
        await trio.sleep_until(deadline)
        histogram.observe(max(0.0, trio.current_time() - deadline))


class EngineMetrics:
    """One engine's registry and the tasks that feed it.

    Args:
        engine: the running engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.registry = CollectorRegistry()
        self.counts = EventCounts()
        self.review_open: int | None = None
        self._subscription: Subscription | None = None
        self.audit_write = Histogram(
            "galfriday_audit_write_seconds", "One audit batch's transaction, in its thread",
            buckets=WRITE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.loop_lag = Histogram(
            "galfriday_loop_lag_seconds", "How late a 0.1 s sleep wakes",
            buckets=LAG_BUCKETS, registry=self.registry,
        )  # fmt: skip
        ProcessCollector(registry=self.registry)
        self.registry.register(EngineCollector(engine, self.counts, self))

    @property
    def events_lost(self) -> int:
        return self._subscription.overruns if self._subscription is not None else 0

    def _audit_batch(self, rows: int, seconds: float) -> None:
        self.audit_write.observe(seconds)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Count bus events, REST calls, audit batches and loop lag until cancelled."""
        engine = self.engine
        subscription = engine.bus.subscribe(*COUNTED, capacity=EVENT_BUFFER)
        self._subscription = subscription
        engine.rest.call_observers.append(self.counts.rest_call)
        engine.audit.batch_observers.append(self._audit_batch)
        try:
            async with subscription, trio.open_nursery() as nursery:
                nursery.start_soon(run_loop_lag, self.loop_lag)
                task_status.started()
                async for event in subscription:
                    self.counts.count(event)
        finally:
            engine.rest.call_observers.remove(self.counts.rest_call)
            engine.audit.batch_observers.remove(self._audit_batch)

    async def refresh(self) -> None:
        """Read what lives in the database (the open review items); a failing read keeps the
        last figure."""
        try:
            keys = await self.engine.audit.read(queries.open_review_keys)
        except Exception as exc:  # a failing database is /healthz's business, not ours
            logger.debug("metrics: review queue not read ({})", exc)
            return
        self.review_open = len(keys)

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)
