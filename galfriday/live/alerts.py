"""Alerts that reach people: a plain JSON webhook and any service apprise knows.

:func:`run_alerts` listens on the bus, turns events into alerts by :data:`SEVERITIES` (see
:func:`alert_for`), keeps those at or above ``min_severity`` and sends each one to the
``[alerts] webhook`` (a JSON POST of ``{"severity", "source", "message", "at",
"suppressed_before"}``) and to every ``[alerts] urls`` entry through apprise (Slack, Discord,
Telegram, ntfy, e-mail, ...: https://github.com/caronc/apprise/wiki). Rules:

- ``min_severity`` means what it says: ``low`` receives every alert of the table, ``critical``
  only the critical ones;
- the same (severity, source, message) within ``dedup_seconds`` is sent once;
- at most ``per_minute`` alerts a minute are sent; the rest are counted as suppressed and the
  next alert that goes out says how many were;
- each destination is tried ``retries`` more times with backoff, then the alert is dropped for
  it with a log line that names only the URL's scheme: URLs hold tokens and passwords, and
  neither they nor apprise's own log lines (silenced here) reach the log;
- nothing here ever raises into the engine: a broken destination costs alerts, never trading.

apprise is synchronous: each delivery runs in a worker thread, abandoned (not waited for) when
the engine stops. The subscription drops its oldest events when delivery falls far behind.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Final, TypeAlias

import apprise
import httpx
import trio
from loguru import logger

from galfriday.bus import Bus
from galfriday.config import AlertsSection
from galfriday.errors import ConfigError
from galfriday.events import (
    Alert,
    BalanceChange,
    ConnectionState,
    ConnectionStateChanged,
    Event,
    FrameRefused,
    GapDetected,
    HealthChanged,
    OrderAnomaly,
    ReconciliationReport,
    ResyncStarted,
    ReviewItem,
    Severity,
)

__all__ = [
    "SEVERITIES",
    "AlertConfig",
    "AlertStats",
    "WebhookConfig",
    "WebhookStats",
    "alert_config",
    "alert_for",
    "run_alerts",
    "run_webhook",
    "scheme",
]

Send: TypeAlias = Callable[[], Awaitable[bool]]  # one try at one destination: whether it took it
RANK: Final = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
_NOTIFY_TYPE: Final = {
    Severity.LOW: apprise.NotifyType.INFO,
    Severity.MEDIUM: apprise.NotifyType.WARNING,
    Severity.HIGH: apprise.NotifyType.FAILURE,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}

# What raises an alert, and at which severity (docs/operations.md prints this table).
SEVERITIES: Final[tuple[tuple[str, str], ...]] = (
    ("critical", "the audit trail cannot be written; an order's fate is unknown (gateway); "
     "reconciliation failed several times in a row; a critical discrepancy to review"),
    ("high", "a connection became unhealthy; a book gave up resyncing and stays unverified; "
     "a high discrepancy to review"),
    ("medium", "a connection became degraded; a sequence gap; an order anomaly; a balance "
     "moved without an explanation; a reconciliation run failed; a medium discrepancy to review"),
    ("low", "a connection dropped; a connection healthy again; a book resync; a frame refused; "
     "a reconciliation run found discrepancies; a low discrepancy to review"),
)  # fmt: skip


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts go and how many: ``url`` the plain JSON webhook, ``urls`` apprise's."""

    url: str | None = field(default=None, repr=False)
    urls: tuple[str, ...] = field(default=(), repr=False)
    min_severity: Severity = Severity.HIGH
    dedup_seconds: float = 300.0
    per_minute: int = 10
    retries: int = 3
    timeout: float = 5.0


@dataclass
class AlertStats:
    """Counts since start: alerts ``sent`` (to at least one destination), ``duplicates`` and
    ``suppressed`` (rate limit) not sent, ``failed`` deliveries (one per destination)."""

    sent: int = 0
    duplicates: int = 0
    suppressed: int = 0
    failed: int = 0


WebhookConfig = AlertConfig  # the names the engine knew this by
WebhookStats = AlertStats


def scheme(url: str) -> str:
    """The part of ``url`` that may be logged: ``slack://`` of ``slack://T/B/secret``."""
    name = url.split("://", 1)[0] if "://" in url else "?"
    return f"{name.lower()}://"


def alert_config(section: AlertsSection) -> AlertConfig | None:
    """The ``[alerts]`` section as the engine takes it; None when it names no destination.

    Raises:
        ConfigError: an ``urls`` entry apprise cannot use (named by position and scheme only).
    """
    for index, url in enumerate(section.urls, start=1):
        if apprise.Apprise.instantiate(url) is None:
            problem = (
                f"entry {index} ({scheme(url)}) is not a service apprise knows or is incomplete"
                " (https://github.com/caronc/apprise/wiki)"
            )
            raise ConfigError("alerts.urls", problem)
    if section.webhook is None and not section.urls:
        return None
    return AlertConfig(
        url=section.webhook,
        urls=tuple(section.urls),
        min_severity=Severity(section.min_severity),
        per_minute=section.per_minute,
    )


def alert_for(event: Event) -> Alert | None:
    """The alert ``event`` raises by :data:`SEVERITIES`, or None (an Alert is its own)."""
    wall = event.received_at
    if isinstance(event, Alert):
        return event
    if isinstance(event, HealthChanged):
        return _health_alert(event)
    if isinstance(event, ConnectionStateChanged):
        if event.new is not ConnectionState.DISCONNECTED or event.old is event.new:
            return None
        message = f"{event.connection} disconnected: {event.reason or 'no reason given'}"
        return Alert(severity=Severity.LOW, source="connection", message=message, received_at=wall)
    if isinstance(event, GapDetected):
        message = f"{event.stream}: sequence gap {event.first}..{event.last}"
        return Alert(severity=Severity.MEDIUM, source="sequence", message=message, received_at=wall)
    if isinstance(event, ResyncStarted):
        message = f"{event.stream} {event.symbol or ''}: resync ({event.reason})"
        return Alert(severity=Severity.LOW, source="marketdata", message=message, received_at=wall)
    if isinstance(event, FrameRefused):
        message = f"{event.connection}: frame refused at {event.path}: {event.reason}"
        return Alert(severity=Severity.LOW, source="wire", message=message, received_at=wall)
    if isinstance(event, OrderAnomaly):
        message = f"order {event.order_id or '?'}: {event.kind}: {event.detail}"
        return Alert(severity=Severity.MEDIUM, source="orders", message=message, received_at=wall)
    if isinstance(event, BalanceChange) and event.unexplained is not None:
        message = f"{event.asset} moved by {event.unexplained}, not explained by the stream"
        return Alert(severity=Severity.MEDIUM, source="account", message=message, received_at=wall)
    return _reconcile_alert(event)


def _health_alert(event: HealthChanged) -> Alert | None:
    wall, name = event.received_at, event.connection
    reasons = f": {', '.join(event.reasons)}" if event.reasons else ""
    if event.new == "unhealthy":
        severity, message = Severity.HIGH, f"{name} unhealthy{reasons}"
    elif event.new == "degraded":
        severity, message = Severity.MEDIUM, f"{name} degraded{reasons}"
    elif event.new == "healthy" and event.old in ("degraded", "unhealthy"):
        severity, message = Severity.LOW, f"{name} healthy again"
    else:
        return None
    return Alert(severity=severity, source="health", message=message, received_at=wall)


def _reconcile_alert(event: Event) -> Alert | None:
    wall = event.received_at
    if isinstance(event, ReviewItem):
        # High and critical items come as the reconciliation's own Alert.
        if event.status != "open" or RANK[event.severity] >= RANK[Severity.HIGH]:
            return None
        message = (
            f"{event.kind} {event.subject}: ours {event.internal}, exchange {event.exchange}"
            f" (review {event.item_id})"
        )
        return Alert(severity=event.severity, source="reconcile", message=message, received_at=wall)
    if isinstance(event, ReconciliationReport):
        if event.status == "failed":
            severity, message = Severity.MEDIUM, f"{event.kind} run failed: {event.error}"
        elif event.discrepancies:
            severity = Severity.LOW
            message = (
                f"{event.kind} run: {event.discrepancies} discrepancies, {event.corrected}"
                f" corrected, {event.review} to review"
            )
        else:
            return None
        return Alert(severity=severity, source="reconcile", message=message, received_at=wall)
    return None


_RAISING: Final = (
    Alert,
    HealthChanged,
    ConnectionStateChanged,
    GapDetected,
    ResyncStarted,
    FrameRefused,
    OrderAnomaly,
    BalanceChange,
    ReviewItem,
    ReconciliationReport,
)


class _Limiter:
    """Deduplication and the per-minute limit, on trio's clock."""

    def __init__(self, config: AlertConfig, stats: AlertStats) -> None:
        self.config = config
        self.stats = stats
        self.recent: dict[tuple[str, str, str], float] = {}
        self.sent_times: deque[float] = deque()
        self.pending_suppressed = 0

    def admits(self, alert: Alert) -> bool:
        now = trio.current_time()
        key = (alert.severity.value, alert.source, alert.message)
        if now - self.recent.get(key, -1e18) < self.config.dedup_seconds:
            self.stats.duplicates += 1
            return False
        self.recent[key] = now
        while self.sent_times and self.sent_times[0] <= now - 60:
            self.sent_times.popleft()
        if len(self.sent_times) >= self.config.per_minute:
            self.stats.suppressed += 1
            self.pending_suppressed += 1
            return False
        self.sent_times.append(now)
        return True


async def run_alerts(
    config: AlertConfig,
    bus: Bus,
    stats: AlertStats | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    task_status: trio.TaskStatus[AlertStats] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Send alerts until cancelled (``transport``: the webhook's, for tests)."""
    stats = stats or AlertStats()
    limiter = _Limiter(config, stats)
    services = [_service(url) for url in config.urls]
    logging.getLogger("apprise").disabled = True  # its lines may carry a URL's secrets
    async with (
        httpx.AsyncClient(timeout=config.timeout, transport=transport) as http,
        bus.subscribe(*_RAISING, capacity=1000) as events,
    ):
        task_status.started(stats)
        async for event in events:
            alert = alert_for(event)
            if alert is None or RANK[alert.severity] < RANK[config.min_severity]:
                continue
            if not limiter.admits(alert):
                continue
            delivered = False
            if config.url is not None:
                body = _body(alert, limiter.pending_suppressed)
                hook = config.url
                delivered |= await _deliver(config, hook, partial(_post, http, hook, body))
            for url, service in zip(config.urls, services, strict=True):
                send = _apprise_sender(service, alert, limiter.pending_suppressed)
                delivered |= await _deliver(config, url, send)
            if delivered:
                stats.sent += 1
                limiter.pending_suppressed = 0
            else:
                stats.failed += 1


run_webhook = run_alerts  # the name the engine starts this by


def _service(url: str) -> apprise.Apprise:
    service = apprise.Apprise()
    service.add(url)
    return service


def _body(alert: Alert, suppressed: int) -> dict[str, object]:
    return {
        "severity": alert.severity.value,
        "source": alert.source,
        "message": alert.message,
        "at": alert.received_at,
        "suppressed_before": suppressed,
    }


def _apprise_sender(service: apprise.Apprise, alert: Alert, suppressed: int) -> Send:
    title = f"galfriday {alert.severity.value}: {alert.source}"
    body = alert.message
    if suppressed:
        body += f"\n({suppressed} alerts suppressed before this one by the rate limit)"
    kind = _NOTIFY_TYPE[alert.severity]

    def notify() -> bool:
        try:
            return bool(service.notify(body=body, title=title, notify_type=kind))
        except Exception:  # a plugin's own bug costs this alert, never the engine
            return False

    async def send() -> bool:
        return await trio.to_thread.run_sync(notify, abandon_on_cancel=True)

    return send


async def _post(http: httpx.AsyncClient, url: str, body: Mapping[str, object]) -> bool:
    try:
        response = await http.post(url, json=body)
    except httpx.HTTPError:
        return False
    return 200 <= response.status_code < 300


async def _deliver(config: AlertConfig, url: str, send: Send) -> bool:
    """``send`` until it succeeds or ``retries`` more tries failed (logged by scheme only)."""
    for attempt in range(config.retries + 1):
        if await send():
            return True
        if attempt < config.retries:
            await trio.sleep(0.5 * 2**attempt)
    logger.warning("alert to {} failed after {} tries", scheme(url), config.retries + 1)
    return False
