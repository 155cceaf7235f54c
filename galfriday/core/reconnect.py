"""When to try connecting again (sans-IO): exponential backoff with full jitter, capped.

:class:`ReconnectPlanner` is told about attempts, successful connections and losses, and
answers how long to wait before the next attempt. Rules:

- Full jitter: the wait is uniform in ``[0, min(cap, base * 2**failures)]``.
- A connection that stayed up for ``stable_after`` seconds resets the failure count.
- Never more than ``max_attempts`` attempts in any rolling ``window`` (Kraken, behind
  Cloudflare, bans an IP for 10 minutes after about 150 connects in 10 minutes): when the
  window is full, the wait stretches until its oldest attempt leaves it.
- While the exchange reports maintenance, at least ``maintenance_gap`` seconds between attempts.

Time comes in as arguments (monotonic seconds); randomness from the ``random.Random`` given.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

__all__ = ["BackoffPolicy", "ReconnectPlanner"]


@dataclass(frozen=True)
class BackoffPolicy:
    base: float = 0.5
    cap: float = 30.0
    stable_after: float = 60.0
    max_attempts: int = 150
    window: float = 600.0
    maintenance_gap: float = 5.0


class ReconnectPlanner:
    """Backoff state of one connection."""

    def __init__(self, policy: BackoffPolicy, rng: random.Random) -> None:
        self.policy = policy
        self._rng = rng
        self._attempts: deque[float] = deque()
        self._connected_at: float | None = None
        self.failures = 0

    def attempts_in_window(self, now: float) -> int:
        self._forget(now)
        return len(self._attempts)

    def record_attempt(self, now: float) -> None:
        self._forget(now)
        self._attempts.append(now)

    def record_connected(self, now: float) -> None:
        self._connected_at = now

    def record_lost(self, now: float) -> None:
        """The connection ended (or an attempt failed)."""
        connected_at, self._connected_at = self._connected_at, None
        if connected_at is not None and now - connected_at >= self.policy.stable_after:
            self.failures = 0
        else:
            self.failures += 1

    def delay(self, now: float, maintenance: bool = False) -> float:
        """Seconds to wait, from ``now``, before the next attempt."""
        policy = self.policy
        ceiling = min(policy.cap, policy.base * 2 ** min(self.failures, 63))
        wait = self._rng.uniform(0, ceiling) if self.failures else 0.0
        last = self._attempts[-1] if self._attempts else None
        if maintenance and last is not None:
            wait = max(wait, last + policy.maintenance_gap - now)
        self._forget(now)
        if len(self._attempts) >= policy.max_attempts:
            oldest = self._attempts[len(self._attempts) - policy.max_attempts]
            wait = max(wait, oldest + policy.window - now)
        return max(0.0, wait)

    def _forget(self, now: float) -> None:
        horizon = now - self.policy.window
        while self._attempts and self._attempts[0] <= horizon:
            self._attempts.popleft()
