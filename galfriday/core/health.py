"""Connection health: metrics, and a HEALTHY / DEGRADED / UNHEALTHY verdict (pure).

:class:`ConnectionMetrics` is updated by the connection (frames, bytes, reconnects, errors,
overruns) and by processors (the last update per (channel, symbol)). :func:`evaluate` turns a
snapshot of it into a :class:`HealthReport`. :class:`HealthMonitor` is the policy: every 10
seconds it judges a connection and says what to do about an UNHEALTHY one (rebuild it, or
resync the silent books); :func:`fit_to_trade` says whether the feeds are fit for the
dead-man switch to be re-armed. The engine only executes and audits. Pure: times come in.

Thresholds (:class:`HealthThresholds`, all configurable):

- UNHEALTHY: no frame at all for ``dead_after`` seconds (default 15), or not subscribed for
  ``down_after`` seconds (default 30), or a watched subscription (``book`` by default: trades,
  tickers and the private channels may be quiet for hours) silent for ``stale_after`` (120 s).
- DEGRADED: not subscribed right now, or ``reconnects_degraded`` (3) reconnects within the
  last 10 minutes, or any overrun or error since the last evaluation, or a subscription silent
  for ``slow_after`` (60 s).
- HEALTHY: none of the above.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

__all__ = [
    "ConnectionMetrics",
    "Health",
    "HealthAction",
    "HealthMonitor",
    "HealthReport",
    "HealthThresholds",
    "Reconnect",
    "ResyncBook",
    "evaluate",
    "fit_to_trade",
]

RATE_WINDOW = 10.0
RECONNECT_WINDOW = 600.0


class Health(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class HealthThresholds:
    dead_after: float = 15.0
    down_after: float = 30.0
    stale_after: float = 120.0
    slow_after: float = 60.0
    reconnects_degraded: int = 3
    watched_channels: frozenset[str] = frozenset({"book"})


@dataclass
class ConnectionMetrics:
    """Counters of one connection. Times are monotonic seconds."""

    name: str
    started: float
    messages: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    reconnects: int = 0
    errors: int = 0
    overruns: int = 0
    last_received: float = 0.0
    last_sent: float = 0.0
    subscribed_since: float | None = None
    down_since: float | None = None
    by_channel: dict[str, int] = field(default_factory=dict)
    last_update: dict[tuple[str, str], float] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)
    _channel_marks: dict[str, int] = field(default_factory=dict)
    _marked_at: float | None = None
    _reconnect_times: deque[float] = field(default_factory=deque)

    def received(self, size: int, now: float) -> None:
        self.messages += 1
        self.bytes_in += size
        self.last_received = now
        self._recent.append(now)
        while self._recent and self._recent[0] < now - RATE_WINDOW:
            self._recent.popleft()

    def sent(self, size: int, now: float) -> None:
        self.bytes_out += size
        self.last_sent = now

    def channel_update(self, channel: str, symbol: str, now: float) -> None:
        """A processor saw data (not a heartbeat) for ``(channel, symbol)``."""
        self.by_channel[channel] = self.by_channel.get(channel, 0) + 1
        self.last_update[(channel, symbol)] = now

    def forget(self, channel: str, symbol: str) -> None:
        self.last_update.pop((channel, symbol), None)

    def reconnected(self, now: float) -> None:
        self.reconnects += 1
        self._reconnect_times.append(now)

    def rate(self, now: float) -> float:
        """Frames per second over the last 10 seconds."""
        recent = [t for t in self._recent if t >= now - RATE_WINDOW]
        return len(recent) / RATE_WINDOW

    def channel_rates(self, now: float) -> dict[str, float]:
        """Data messages per second by channel since the previous call."""
        elapsed = now - (self._marked_at if self._marked_at is not None else self.started)
        rates = {
            channel: round((count - self._channel_marks.get(channel, 0)) / max(elapsed, 1e-9), 2)
            for channel, count in self.by_channel.items()
        }
        self._channel_marks = dict(self.by_channel)
        self._marked_at = now
        return rates

    def reconnects_within(self, now: float, window: float = RECONNECT_WINDOW) -> int:
        while self._reconnect_times and self._reconnect_times[0] < now - window:
            self._reconnect_times.popleft()
        return len(self._reconnect_times)


@dataclass(frozen=True)
class HealthReport:
    state: Health
    reasons: tuple[str, ...]
    stale: tuple[tuple[str, str], ...] = ()
    dead: bool = False  # no frames, or not subscribed: only a new connection helps


def evaluate(
    metrics: ConnectionMetrics,
    now: float,
    thresholds: HealthThresholds,
    errors_since_last: int = 0,
    overruns_since_last: int = 0,
) -> HealthReport:
    """The health of a connection at ``now``."""
    unhealthy: list[str] = []
    degraded: list[str] = []
    dead = False
    age = now - max(metrics.last_received, metrics.started)
    if age >= thresholds.dead_after:
        unhealthy.append(f"no frame for {age:.0f}s")
        dead = True
    if metrics.subscribed_since is None:
        down = now - (metrics.down_since if metrics.down_since is not None else metrics.started)
        if down >= thresholds.down_after:
            unhealthy.append(f"not subscribed for {down:.0f}s")
            dead = True
        else:
            degraded.append(f"not subscribed for {down:.0f}s")
    watched = {
        key: at for key, at in metrics.last_update.items() if key[0] in thresholds.watched_channels
    }
    stale = tuple(key for key, at in watched.items() if now - at >= thresholds.stale_after)
    if stale:
        unhealthy.append(f"silent subscriptions: {len(stale)}")
    slow = [k for k, at in watched.items() if now - at >= thresholds.slow_after]
    if slow and not stale:
        degraded.append(f"slow subscriptions: {len(slow)}")
    recent = metrics.reconnects_within(now)
    if recent >= thresholds.reconnects_degraded:
        degraded.append(f"{recent} reconnects in 10 min")
    if errors_since_last:
        degraded.append(f"{errors_since_last} errors")
    if overruns_since_last:
        degraded.append(f"{overruns_since_last} overruns")
    if unhealthy:
        return HealthReport(Health.UNHEALTHY, tuple(unhealthy + degraded), stale, dead)
    if degraded:
        return HealthReport(Health.DEGRADED, tuple(degraded))
    return HealthReport(Health.HEALTHY, ())


# --- the policy: what the engine does about a verdict ------------------------------------------


class Reconnect(msgspec.Struct, frozen=True, kw_only=True):
    """Rebuild the connection (a dead one: no frames, or not subscribed)."""

    connection: str
    reason: str


class ResyncBook(msgspec.Struct, frozen=True, kw_only=True):
    """Rebuild one silent book from a fresh snapshot; the socket stays."""

    symbol: str
    reason: str


HealthAction = Reconnect | ResyncBook


class HealthMonitor:
    """The health policy of one connection: :meth:`check` judges it and says what to do.

    UNHEALTHY acts: a connection that is dead (no frames, or not subscribed), or any
    unhealthy connection that carries no books, is rebuilt; otherwise the silent books are
    resynced, one by one, and each gets ``stale_after`` seconds before it is judged again.

    Args:
        name: the connection's name.
        thresholds: the verdict's thresholds.
        books: True if the connection carries book subscriptions (a silent book can then be
            resynced alone instead of rebuilding the connection).
    """

    def __init__(self, name: str, thresholds: HealthThresholds, *, books: bool) -> None:
        self.name = name
        self.thresholds = thresholds
        self.books = books
        self.report: HealthReport | None = None
        self._errors = 0
        self._overruns = 0

    def check(
        self, metrics: ConnectionMetrics, now: float
    ) -> tuple[HealthReport, bool, list[HealthAction]]:
        """(the verdict at ``now``, whether it changed, what to do about it)."""
        report = evaluate(
            metrics,
            now,
            self.thresholds,
            metrics.errors - self._errors,
            metrics.overruns - self._overruns,
        )
        self._errors, self._overruns = metrics.errors, metrics.overruns
        changed = self.report is None or self.report.state != report.state
        self.report = report
        actions: list[HealthAction] = []
        if report.state is Health.UNHEALTHY:
            why = f"unhealthy: {'; '.join(report.reasons)}"
            if report.dead or not self.books:
                actions.append(Reconnect(connection=self.name, reason=why))
            else:
                for channel, symbol in report.stale:
                    if channel == "book":
                        actions.append(ResyncBook(symbol=symbol, reason="silent"))
                        metrics.last_update[(channel, symbol)] = now  # give it its time
        return report, changed, actions


def fit_to_trade(reports: Iterable[HealthReport], *, strict: bool) -> bool:
    """Whether feeds with these verdicts are fit to trade on (the dead-man switch is re-armed
    only then): strictly, every one HEALTHY; otherwise none UNHEALTHY."""
    if strict:
        return all(r.state is Health.HEALTHY for r in reports)
    return all(r.state is not Health.UNHEALTHY for r in reports)
