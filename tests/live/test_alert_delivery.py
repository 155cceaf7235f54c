"""What becomes an alert at which severity, and apprise delivery to a loopback receiver."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from loguru import logger

from galfriday.bus import Bus
from galfriday.config import AlertsSection, load_config
from galfriday.errors import ConfigError
from galfriday.events import (
    Alert,
    ConnectionState,
    ConnectionStateChanged,
    Event,
    GapDetected,
    HealthChanged,
    ReconciliationReport,
    ReviewItem,
    Severity,
)
from galfriday.live.alerts import AlertConfig, alert_config, alert_for, run_alerts


def _health(old: str, new: str) -> HealthChanged:
    return HealthChanged(connection="public", old=old, new=new, reasons=("silent 31s",))


def _review(severity: Severity) -> ReviewItem:
    return ReviewItem(
        item_id="abc",
        run_id="r1",
        kind="balance",
        subject="BTC",
        severity=severity,
        internal="1",
        exchange="2",
        created_at=1.0,
    )


def _severity(event: Event) -> Severity | None:
    alert = alert_for(event)
    return None if alert is None else alert.severity


@pytest.mark.parametrize(
    ("event", "severity"),
    [
        (_health("healthy", "unhealthy"), Severity.HIGH),
        (_health("healthy", "degraded"), Severity.MEDIUM),
        (_health("unhealthy", "healthy"), Severity.LOW),
        (_health("", "healthy"), None),
        (GapDetected(stream="executions", first=5, last=7), Severity.MEDIUM),
        (_review(Severity.LOW), Severity.LOW),
        (_review(Severity.MEDIUM), Severity.MEDIUM),
        (_review(Severity.HIGH), None),  # the reconciliation's own Alert carries it
        (ReconciliationReport(run_id="r", kind="scheduled", status="failed"), Severity.MEDIUM),
        (ReconciliationReport(run_id="r", kind="scheduled", status="ok"), None),
    ],
)
def test_each_event_raises_the_severity_the_table_gives(
    event: Event, severity: Severity | None
) -> None:
    assert _severity(event) is severity


def test_a_connection_that_drops_raises_a_low_alert_and_one_that_connects_none() -> None:
    drop = ConnectionStateChanged(
        connection="private", old=ConnectionState.SUBSCRIBED, new=ConnectionState.DISCONNECTED
    )
    up = ConnectionStateChanged(
        connection="private", old=ConnectionState.CONNECTING, new=ConnectionState.CONNECTED
    )
    assert _severity(drop) is Severity.LOW and _severity(up) is None


def _mixed_events() -> list[Event]:
    return [
        ConnectionStateChanged(
            connection="public", old=ConnectionState.SUBSCRIBED, new=ConnectionState.DISCONNECTED
        ),
        _health("healthy", "degraded"),
        GapDetected(stream="executions", first=5, last=7),
        _health("degraded", "unhealthy"),
        Alert(severity=Severity.CRITICAL, source="audit", message="disk full"),
    ]


async def _received(min_severity: Severity) -> list[str]:
    bodies: list[str] = []

    def hook(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content)["severity"])
        return httpx.Response(200)

    bus = Bus()
    config = AlertConfig(url="https://hooks.invalid/x", min_severity=min_severity)
    async with trio.open_nursery() as nursery:
        await nursery.start(run_alerts, config, bus, None, httpx.MockTransport(hook))
        for event in _mixed_events():
            bus.publish(event)
            await trio.sleep(1)
        nursery.cancel_scope.cancel()
    return bodies


async def test_min_severity_low_receives_more_than_high(
    autojump_clock: trio.testing.MockClock,
) -> None:
    assert await _received(Severity.LOW) == ["low", "medium", "medium", "high", "critical"]
    assert await _received(Severity.HIGH) == ["high", "critical"]
    assert await _received(Severity.CRITICAL) == ["critical"]


class _Receiver(BaseHTTPRequestHandler):
    """Stands in for a JSON notification service: each POST body goes to the server's queue."""

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.bodies.put(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[int, queue.Queue[dict[str, str]]]]:
    """A loopback HTTP server on a free port, and the queue of bodies it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.bodies = queue.Queue()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], server.bodies  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


async def test_apprise_urls_receive_each_alert_with_title_and_type(
    receiver: tuple[int, queue.Queue[dict[str, str]]],
) -> None:
    port, bodies = receiver
    bus = Bus()
    config = AlertConfig(urls=(f"json://127.0.0.1:{port}/notify",))
    async with trio.open_nursery() as nursery:
        await nursery.start(run_alerts, config, bus)
        bus.publish(Alert(severity=Severity.CRITICAL, source="audit", message="disk full"))
        body = await trio.to_thread.run_sync(bodies.get, True, 10.0)
        nursery.cancel_scope.cancel()
    assert body["title"] == "galfriday critical: audit"
    assert body["message"] == "disk full"
    assert body["type"] == "failure"


async def test_a_failing_apprise_url_is_logged_by_its_scheme_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines: list[str] = []
    gave_up = trio.Event()

    def sink(line: str) -> None:  # called on the trio thread: _deliver logs there
        lines.append(line)
        if "failed after" in line:
            gave_up.set()

    handle = logger.add(sink, level="DEBUG")
    logger.enable("galfriday")
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    url = "json://user:s3cr3t-token@127.0.0.1:9/hook"
    config = AlertConfig(urls=(url,), retries=1)
    bus = Bus()
    try:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(run_alerts, config, bus)
                bus.publish(Alert(severity=Severity.HIGH, source="test", message="x"))
                await gave_up.wait()
                nursery.cancel_scope.cancel()
    finally:
        logger.remove(handle)
        logger.disable("galfriday")
    logged = "".join(lines) + "".join(capsys.readouterr())
    assert "alert to json:// failed after 2 tries" in logged
    assert "s3cr3t" not in logged and "127.0.0.1:9" not in logged


def test_an_unknown_apprise_scheme_is_a_config_error_naming_only_the_scheme() -> None:
    section = AlertsSection(urls=["ntfy://topic", "slak://T000/B000/s3cr3t"])
    with pytest.raises(ConfigError) as error:
        alert_config(section)
    assert error.value.field == "alerts.urls"
    assert "entry 2 (slak://)" in str(error.value) and "s3cr3t" not in str(error.value)


def test_alerts_without_a_destination_are_off() -> None:
    assert alert_config(AlertsSection()) is None
    config = alert_config(AlertsSection(urls=["ntfy://topic"], min_severity="low"))
    assert config is not None and config.min_severity is Severity.LOW
    assert "ntfy" not in repr(config)


def test_an_alerts_url_without_a_scheme_is_refused_by_the_config(tmp_path: Path) -> None:
    path = tmp_path / "galfriday.toml"
    path.write_text('[alerts]\nurls = ["ntfy://ok", "hooks.slack.com/T0/s3cr3t"]\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.field == "alerts.urls" and "entry 2" in str(error.value)
    assert "s3cr3t" not in str(error.value)
