from __future__ import annotations

import json

import httpx
import trio
import trio.testing

from galfriday.bus import Bus
from galfriday.events import Alert, Severity
from galfriday.live.alerts import WebhookConfig, WebhookStats, run_webhook


def _alert(message: str, severity: Severity = Severity.HIGH) -> Alert:
    return Alert(severity=severity, source="test", message=message, received_at=1.0)


class Hook:
    """A fake webhook endpoint: records bodies, fails the first ``failures`` requests."""

    def __init__(self, failures: int = 0) -> None:
        self.bodies: list[dict[str, object]] = []
        self.failures = failures
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests <= self.failures:
            return httpx.Response(500)
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200)


async def _run(hook: Hook, alerts: list[Alert], config: WebhookConfig) -> WebhookStats:
    bus = Bus()
    async with trio.open_nursery() as nursery:
        stats = await nursery.start(run_webhook, config, bus, None, httpx.MockTransport(hook))
        for alert in alerts:
            bus.publish(alert)
            await trio.sleep(1)
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    return stats  # type: ignore[no-any-return]


async def test_alerts_at_or_above_the_threshold_are_posted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hook = Hook()
    stats = await _run(
        hook,
        [_alert("a"), _alert("b", Severity.LOW), _alert("c", Severity.CRITICAL)],
        WebhookConfig(url="https://hooks.invalid/x"),
    )
    assert [b["message"] for b in hook.bodies] == ["a", "c"]
    assert hook.bodies[1]["severity"] == "critical" and stats.sent == 2


async def test_duplicates_are_sent_once(autojump_clock: trio.testing.MockClock) -> None:
    hook = Hook()
    stats = await _run(hook, [_alert("same")] * 3, WebhookConfig(url="https://hooks.invalid/x"))
    assert len(hook.bodies) == 1 and stats.duplicates == 2


async def test_a_burst_is_rate_limited_and_the_next_post_counts_what_was_held_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hook = Hook()
    burst = [_alert(f"m{i}") for i in range(5)]
    config = WebhookConfig(url="https://hooks.invalid/x", per_minute=2)
    stats = await _run(hook, burst, config)
    assert len(hook.bodies) == 2 and stats.suppressed == 3
    bus = Bus()
    hook = Hook()
    async with trio.open_nursery() as nursery:
        await nursery.start(run_webhook, config, bus, None, httpx.MockTransport(hook))
        for alert in burst:
            bus.publish(alert)
            await trio.sleep(1)
        await trio.sleep(61)
        bus.publish(_alert("after a minute"))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert hook.bodies[-1]["message"] == "after a minute"
    assert hook.bodies[-1]["suppressed_before"] == 3


async def test_failures_are_retried_then_dropped_without_raising(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky = Hook(failures=2)
    stats = await _run(flaky, [_alert("x")], WebhookConfig(url="https://hooks.invalid/x"))
    assert stats.sent == 1 and flaky.requests == 3
    dead = Hook(failures=1000)
    stats = await _run(
        dead, [_alert("y"), _alert("z")], WebhookConfig(url="https://hooks.invalid/x", retries=2)
    )
    assert stats.failed == 2 and dead.requests == 6
