"""A local copy of Kraken's REST call counter (sans-IO), so we never hit the real limit.

Kraken keeps a counter per API key: each call adds 1 (ledger and trade-history queries add 2,
and so, to be safe, does ``ClosedOrders``; AddOrder and CancelOrder are counted by the trading
limiter instead), and it decays at a tier-dependent rate. Past the tier's maximum, Kraken
answers ``EAPI:Rate limit exceeded`` and keeps the key restricted for a while.
:class:`CallCounter` mirrors it with a safety margin and tells the caller how long to wait
before a call. Kraken's counter outlives our process, so the REST client keeps its estimate
with the nonce and a restart carries it over (:meth:`CallCounter.carry_over`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["EXPENSIVE_METHODS", "TIERS", "UNCOUNTED_METHODS", "CallCounter", "Tier"]

# Kraken: "ledger/trade history calls" add 2. Whether the closed-orders history is one of them
# is not stated (PROTOCOL.md 4.5); counted as 2, so either reading stays under the limit.
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
