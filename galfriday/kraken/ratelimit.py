"""A local copy of Kraken's REST call counter (sans-IO), so we never hit the real limit.

Kraken keeps a counter per API key: each call adds 1 (ledger and trade-history queries add 2,
and so, to be safe, does ``ClosedOrders``; AddOrder and CancelOrder are counted by the trading
limiter instead), and it decays at a tier-dependent rate. Past the tier's maximum, Kraken
answers ``EAPI:Rate limit exceeded`` and keeps the key restricted for a while.
:class:`CallCounter` mirrors it with a safety margin and tells the caller how long to wait
before a call. Kraken's counter outlives our process, so the REST client keeps its estimate
with the nonce and a restart carries it over (:meth:`CallCounter.carry_over`).

:class:`CallQueue` decides who calls next. Calls wait in priority classes (:class:`Priority`):
orders and cancels, then connection recovery (the WebSocket token), then a recovery's backfill,
then background work (reconciliation, stale-order queries). The rules:

- strict priority: a call is granted only when no call of a higher class is waiting, and in
  order of arrival within a class; a lower class never spends budget a higher one waits for;
- headroom: backfill and background calls may only fill the counter to ``headroom`` below
  what the higher classes may use, so a token or an order never waits behind them;
- one signed call at a time (nonces must reach Kraken in increasing order): a call is granted
  only when the previous one is done;
- a call's cost is counted when it is granted, never reserved ahead (a queue of reservations
  made a token wait 4 to 10 s behind reconciliation calls that had not even started).

Pure: time comes in as ``now``.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "EXPENSIVE_METHODS",
    "TIERS",
    "UNCOUNTED_METHODS",
    "CallCounter",
    "CallQueue",
    "Priority",
    "Ticket",
    "Tier",
    "default_priority",
]

# Kraken: "ledger/trade history calls" add 2. Whether the closed-orders history is one of them
# is not stated (Kraken's rate-limits page); counted as 2, so either reading stays under the limit.
EXPENSIVE_METHODS: Final = frozenset(
    {"Ledgers", "QueryLedgers", "TradesHistory", "QueryTrades", "ClosedOrders"}
)
UNCOUNTED_METHODS: Final = frozenset(
    {"AddOrder", "AddOrderBatch", "CancelOrder", "CancelOrderBatch", "EditOrder", "AmendOrder"}
)


@dataclass(frozen=True)
class Tier:
    maximum: float
    decay_per_second: float


TIERS: Final = {
    "starter": Tier(15, 0.33),
    "intermediate": Tier(20, 0.5),
    "pro": Tier(20, 1.0),
}


class CallCounter:
    """Our estimate of Kraken's counter for one key.

    Args:
        tier: the account's verification tier.
        margin: how far below the maximum to stay.
    """

    def __init__(self, tier: Tier, margin: float = 2.0) -> None:
        self.tier = tier
        self.margin = margin
        self._value = 0.0
        self._at = 0.0

    @staticmethod
    def cost(method: str) -> float:
        if method in UNCOUNTED_METHODS:
            return 0.0
        return 2.0 if method in EXPENSIVE_METHODS else 1.0

    def value(self, now: float) -> float:
        return max(0.0, self._value - (now - self._at) * self.tier.decay_per_second)

    def wait_for(self, method: str, now: float) -> float:
        """Seconds to wait before ``method`` fits under the limit (0 if it fits now)."""
        excess = self.value(now) + self.cost(method) - (self.tier.maximum - self.margin)
        return max(0.0, excess / self.tier.decay_per_second)

    def spend(self, method: str, now: float) -> None:
        """Count a call made at ``now`` (which may lie ahead: a call reserved after a wait)."""
        self._value = self.value(now) + self.cost(method)
        self._at = now

    def carry_over(self, value: float, seconds_ago: float, now: float) -> None:
        """Start from the ``value`` an earlier process left ``seconds_ago`` (Kraken's counter
        outlives us); a negative interval (a clock that went back) is taken as no decay."""
        self._value = max(0.0, value - max(0.0, seconds_ago) * self.tier.decay_per_second)
        self._at = now

    def penalise(self, now: float) -> None:
        """Kraken said we are over: assume the counter is full."""
        self._value = self.tier.maximum
        self._at = now


_EPSILON: Final = 1e-9
_MIN_WAIT: Final = 0.001  # never ask to be woken at a time that rounds to now


class Priority(enum.IntEnum):
    """REST priority classes, most urgent first."""

    ORDER = 0  # AddOrder, CancelOrder, ...
    RECOVERY = 1  # the WebSocket token of a (re)connect
    BACKFILL = 2  # a private recovery's REST backfill
    BACKGROUND = 3  # reconciliation, stale-order queries, everything else


def default_priority(method: str) -> Priority:
    """The class of ``method`` when the caller does not say."""
    if method in UNCOUNTED_METHODS:
        return Priority.ORDER
    if method == "GetWebSocketsToken":
        return Priority.RECOVERY
    return Priority.BACKGROUND


@dataclass(eq=False)
class Ticket:
    """One call waiting for (or holding) its turn."""

    number: int
    method: str
    priority: Priority
    cost: float
    granted: bool = False


@dataclass
class CallQueue:
    """Who may make the next signed call, and when (see the module docstring).

    Args:
        counter: the local copy of Kraken's call counter.
        headroom: counter units kept free for orders and recovery.
        limited: False to grant without counting (a replay, where no exchange is behind).
    """

    counter: CallCounter
    headroom: float = 3.0
    limited: bool = True
    _waiting: list[Ticket] = field(default_factory=list)
    _in_flight: Ticket | None = None
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def enqueue(self, method: str, priority: Priority) -> Ticket:
        ticket = Ticket(next(self._numbers), method, priority, self.counter.cost(method))
        self._waiting.append(ticket)
        self._waiting.sort(key=lambda t: (t.priority, t.number))
        return ticket

    def waiting(self) -> int:
        return len(self._waiting)

    def pump(self, now: float) -> float | None:
        """Grant the next call if it may go now. Returns when to look again: ``now`` or later
        for a call waiting on the counter, None when nothing waits or only for a call in flight."""
        if self._in_flight is not None or not self._waiting:
            return None
        ticket = self._waiting[0]
        wait = self._wait(ticket, now) if self.limited else 0.0
        if wait > 0:
            return now + wait
        self._waiting.pop(0)
        ticket.granted = True
        self._in_flight = ticket
        if self.limited:
            self.counter.spend(ticket.method, now)
        return None

    def done(self, ticket: Ticket) -> None:
        """The granted call has its answer (or failed); the next may go."""
        if self._in_flight is ticket:
            self._in_flight = None

    def cancel(self, ticket: Ticket) -> None:
        """The caller gave up (cancelled): out of the queue, or its turn handed back."""
        if ticket in self._waiting:
            self._waiting.remove(ticket)
        self.done(ticket)

    def _wait(self, ticket: Ticket, now: float) -> float:
        counter = self.counter
        ceiling = counter.tier.maximum - counter.margin
        if ticket.priority >= Priority.BACKFILL:
            ceiling -= self.headroom
        excess = counter.value(now) + ticket.cost - ceiling
        if excess <= _EPSILON:  # floating-point dust: it fits
            return 0.0
        return max(_MIN_WAIT, excess / counter.tier.decay_per_second)
