from __future__ import annotations

from galfriday.core.health import (
    ConnectionMetrics,
    Health,
    HealthMonitor,
    HealthReport,
    HealthThresholds,
    Reconnect,
    ResyncBook,
    evaluate,
    fit_to_trade,
)

T = HealthThresholds()


def _subscribed(now: float = 100.0) -> ConnectionMetrics:
    metrics = ConnectionMetrics("public", started=0.0)
    metrics.subscribed_since = 1.0
    metrics.received(100, now)
    metrics.channel_update("book", "BTC/USD", now)
    return metrics


def test_a_live_subscribed_connection_is_healthy() -> None:
    assert evaluate(_subscribed(), 101.0, T).state is Health.HEALTHY


def test_no_frame_for_fifteen_seconds_is_unhealthy_and_dead() -> None:
    report = evaluate(_subscribed(), 116.0, T)
    assert report.state is Health.UNHEALTHY and report.dead


def test_not_subscribed_is_degraded_then_unhealthy_after_thirty_seconds() -> None:
    metrics = _subscribed()
    metrics.subscribed_since, metrics.down_since = None, 95.0
    assert evaluate(metrics, 101.0, T).state is Health.DEGRADED
    metrics.received(10, 126.0)
    report = evaluate(metrics, 126.0, T)
    assert report.state is Health.UNHEALTHY and report.dead


def test_a_silent_book_is_slow_then_stale_without_the_connection_being_dead() -> None:
    metrics = _subscribed(now=0.5)
    metrics.channel_update("book", "ETH/USD", 0.5)
    metrics.received(10, 70.0)
    metrics.channel_update("book", "BTC/USD", 70.0)
    assert evaluate(metrics, 70.0, T).state is Health.DEGRADED
    metrics.received(10, 125.0)
    metrics.channel_update("book", "BTC/USD", 125.0)
    report = evaluate(metrics, 125.0, T)
    assert report.state is Health.UNHEALTHY and not report.dead
    assert report.stale == (("book", "ETH/USD"),)


def test_quiet_trades_and_private_channels_are_not_judged() -> None:
    metrics = _subscribed(now=0.5)
    metrics.channel_update("trade", "DOGE/USD", 0.5)
    metrics.channel_update("executions", "", 0.5)
    metrics.received(10, 500.0)
    metrics.channel_update("book", "BTC/USD", 500.0)
    assert evaluate(metrics, 500.0, T).state is Health.HEALTHY


def test_reconnects_errors_and_overruns_degrade() -> None:
    metrics = _subscribed()
    for t in (10.0, 20.0, 30.0):
        metrics.reconnected(t)
    assert "3 reconnects in 10 min" in evaluate(metrics, 101.0, T).reasons
    assert evaluate(metrics, 700.0 - 599, T).state is Health.DEGRADED
    fresh = _subscribed()
    assert evaluate(fresh, 101.0, T, errors_since_last=1).state is Health.DEGRADED
    assert evaluate(fresh, 101.0, T, overruns_since_last=2).reasons == ("2 overruns",)


def test_channel_rates_are_per_second_since_the_last_look() -> None:
    metrics = ConnectionMetrics("public", started=0.0)
    for i in range(50):
        metrics.channel_update("book", "BTC/USD", i * 0.2)
    metrics.channel_update("trade", "BTC/USD", 5.0)
    assert metrics.channel_rates(10.0) == {"book": 5.0, "trade": 0.1}
    metrics.channel_update("book", "BTC/USD", 11.0)
    assert metrics.channel_rates(20.0) == {"book": 0.1, "trade": 0.0}


# --- the policy -------------------------------------------------------------------------------


def test_a_dead_connection_is_rebuilt_at_fifteen_seconds_of_silence_exactly() -> None:
    monitor = HealthMonitor("public", T, books=True)
    metrics = _subscribed(now=100.0)
    report, changed, actions = monitor.check(metrics, 114.999)
    assert report.state is Health.HEALTHY and changed and actions == []
    report, changed, actions = monitor.check(metrics, 115.0)
    assert report.state is Health.UNHEALTHY and changed
    assert actions == [Reconnect(connection="public", reason=f"unhealthy: {report.reasons[0]}")]


def test_a_silent_book_is_resynced_alone_and_given_its_time() -> None:
    monitor = HealthMonitor("public", T, books=True)
    metrics = _subscribed(now=100.0)
    metrics.channel_update("book", "ETH/USD", 100.0)
    for at in range(110, 221, 10):  # frames keep coming, ETH/USD's book stays silent
        metrics.received(10, float(at))
        metrics.channel_update("book", "BTC/USD", float(at))
    _, _, actions = monitor.check(metrics, 219.999)
    assert actions == []
    _, _, actions = monitor.check(metrics, 220.0)  # 120 s silent
    assert actions == [ResyncBook(symbol="ETH/USD", reason="silent")]
    _, _, again = monitor.check(metrics, 230.0)
    assert again == []  # the resync has its 120 s before it is judged again


def test_an_unhealthy_connection_without_books_is_rebuilt() -> None:
    monitor = HealthMonitor("private", T, books=False)
    metrics = _subscribed(now=100.0)
    metrics.subscribed_since, metrics.down_since = None, 100.0
    metrics.received(10, 130.0)
    _, _, actions = monitor.check(metrics, 130.0)
    assert [type(a) for a in actions] == [Reconnect]


def test_errors_and_overruns_degrade_only_the_check_that_sees_them() -> None:
    monitor = HealthMonitor("public", T, books=True)
    metrics = _subscribed(now=100.0)
    metrics.errors = 2
    report, _, _ = monitor.check(metrics, 101.0)
    assert report.state is Health.DEGRADED and "2 errors" in report.reasons
    report, changed, _ = monitor.check(metrics, 102.0)
    assert report.state is Health.HEALTHY and changed


def test_fit_to_trade_strictly_means_every_feed_healthy() -> None:
    healthy = HealthReport(Health.HEALTHY, ())
    degraded = HealthReport(Health.DEGRADED, ("x",))
    unhealthy = HealthReport(Health.UNHEALTHY, ("y",))
    assert fit_to_trade([healthy, healthy], strict=True)
    assert not fit_to_trade([healthy, degraded], strict=True)
    assert fit_to_trade([healthy, degraded], strict=False)
    assert not fit_to_trade([degraded, unhealthy], strict=False)
