"""Alerts to a webhook: a JSON POST per alert, deduplicated, rate-limited, retried.

:func:`run_webhook` subscribes to :class:`~galfriday.events.Alert` events at or above
``min_severity`` and POSTs each as ``{"severity", "source", "message", "at"}``. Rules:

- the same (severity, source, message) within ``dedup_seconds`` is sent once;
- at most ``per_minute`` alerts a minute are sent; the rest are counted as suppressed and the
  next alert that goes out says how many were;
- a failed POST (network error, timeout, non-2xx) is retried with backoff up to ``retries``
  times, then dropped with a log line;
- nothing here ever raises into the engine: a broken webhook costs alerts, never trading.

The subscription drops its oldest alerts when the webhook falls far behind (a bounded buffer).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
import trio
from loguru import logger

from galfriday.bus import Bus
from galfriday.events import Alert, Severity

__all__ = ["WebhookConfig", "run_webhook"]

_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    min_severity: Severity = Severity.HIGH
    dedup_seconds: float = 300.0
    per_minute: int = 10
    retries: int = 3
    timeout: float = 5.0


@dataclass
class WebhookStats:
    sent: int = 0
    duplicates: int = 0
    suppressed: int = 0
    failed: int = 0


async def run_webhook(
    config: WebhookConfig,
    bus: Bus,
    stats: WebhookStats | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    task_status: trio.TaskStatus[WebhookStats] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Forward alerts until cancelled."""
    stats = stats or WebhookStats()
    recent: dict[tuple[str, str, str], float] = {}
    sent_times: deque[float] = deque()
    pending_suppressed = 0
    async with (
        httpx.AsyncClient(timeout=config.timeout, transport=transport) as http,
        bus.subscribe(Alert, capacity=1000) as alerts,
    ):
        task_status.started(stats)
        async for event in alerts:
            if not isinstance(event, Alert) or _RANK[event.severity] < _RANK[config.min_severity]:
                continue
            now = trio.current_time()
            key = (event.severity.value, event.source, event.message)
            if now - recent.get(key, -1e18) < config.dedup_seconds:
                stats.duplicates += 1
                continue
            recent[key] = now
            while sent_times and sent_times[0] <= now - 60:
                sent_times.popleft()
            if len(sent_times) >= config.per_minute:
                stats.suppressed += 1
                pending_suppressed += 1
                continue
            sent_times.append(now)
            body = {
                "severity": event.severity.value,
                "source": event.source,
                "message": event.message,
                "at": event.received_at,
                "suppressed_before": pending_suppressed,
            }
            if await _post(http, config, body):
                stats.sent += 1
                pending_suppressed = 0
            else:
                stats.failed += 1


async def _post(http: httpx.AsyncClient, config: WebhookConfig, body: Mapping[str, object]) -> bool:
    for attempt in range(config.retries + 1):
        try:
            response = await http.post(config.url, json=body)
            if 200 <= response.status_code < 300:
                return True
            problem = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            problem = type(exc).__name__
        if attempt < config.retries:
            await trio.sleep(0.5 * 2**attempt)
    logger.warning("alert webhook failed after {} tries: {}", config.retries + 1, problem)
    return False
