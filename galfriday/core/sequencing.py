"""Sequence-gap detection and deduplication for the private stream (sans-IO).

:class:`SequenceTracker` follows one subscription's top-level ``sequence`` (``executions``,
``balances``). It accepts each number once, reports every gap once with the missing range,
accepts a late message that fills a reported gap (reorder), and rejects duplicates and numbers
from before the last reset. Reset it on every snapshot and resubscription: the snapshot is
authoritative and numbering may restart.

:class:`MessageCache` remembers keys (``exec_id``, ledger id, ...) for a time-to-live measured
in frame time, which the caller passes in; it never reads a clock. A hard size bound evicts the
oldest keys first, and evicted keys are dropped for good.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Hashable
from typing import Final

import msgspec

__all__ = ["MessageCache", "SequenceTracker", "SequenceVerdict", "Verdict"]

DEFAULT_MAX_MISSING: Final = 10_000


class Verdict(enum.Enum):
    FIRST = "first"
    """The first number after a reset: accepted."""
    IN_ORDER = "in_order"
    """The expected next number: accepted."""
    GAP = "gap"
    """Accepted, but the numbers in ``missing`` never arrived before it."""
    LATE = "late"
    """Accepted: it fills a gap reported earlier (the stream was reordered)."""
    DUPLICATE = "duplicate"
    """Rejected: already seen, or from before the last reset."""

    @property
    def accepted(self) -> bool:
        return self is not Verdict.DUPLICATE


class SequenceVerdict(msgspec.Struct, frozen=True):
    verdict: Verdict
    sequence: int
    missing: tuple[int, int] | None = None
    """With :attr:`Verdict.GAP`: the first and last missing numbers, inclusive."""


class SequenceTracker:
    """One subscription's sequence numbers.

    Args:
        max_missing: how many missing numbers to remember for late arrivals; beyond that the
            oldest are forgotten, and a very late arrival counts as a duplicate.
    """

    def __init__(self, max_missing: int = DEFAULT_MAX_MISSING) -> None:
        self._max_missing = max_missing
        self._next: int | None = None
        self._missing: OrderedDict[int, None] = OrderedDict()
        self.gaps = 0
        self.duplicates = 0
        self.late = 0

    @property
    def expected(self) -> int | None:
        """The next number in order, or ``None`` before the first message."""
        return self._next

    @property
    def missing(self) -> int:
        """How many reported-missing numbers are still outstanding."""
        return len(self._missing)

    def reset(self) -> None:
        """Forget everything; the next message is :attr:`Verdict.FIRST`."""
        self._next = None
        self._missing.clear()

    def observe(self, sequence: int) -> SequenceVerdict:
        """Classify one message's sequence number and record it."""
        expected = self._next
        if expected is None:
            self._next = sequence + 1
            return SequenceVerdict(Verdict.FIRST, sequence)
        if sequence == expected:
            self._next = sequence + 1
            return SequenceVerdict(Verdict.IN_ORDER, sequence)
        if sequence > expected:
            self._next = sequence + 1
            self.gaps += 1
            self._remember_missing(expected, sequence - 1)
            return SequenceVerdict(Verdict.GAP, sequence, (expected, sequence - 1))
        if sequence in self._missing:
            del self._missing[sequence]
            self.late += 1
            return SequenceVerdict(Verdict.LATE, sequence)
        self.duplicates += 1
        return SequenceVerdict(Verdict.DUPLICATE, sequence)

    def _remember_missing(self, first: int, last: int) -> None:
        bound = self._max_missing
        start = max(first, last - bound + 1)
        for number in range(start, last + 1):
            self._missing[number] = None
        while len(self._missing) > bound:
            self._missing.popitem(last=False)


class MessageCache:
    """Keys seen recently, for deduplication.

    Args:
        ttl: how long a key is remembered, in seconds of frame time.
        max_size: the most keys held at once; the oldest go first.
    """

    def __init__(self, ttl: float, max_size: int) -> None:
        if ttl <= 0 or max_size <= 0:
            raise ValueError("ttl and max_size must be positive")
        self.ttl = ttl
        self.max_size = max_size
        self._seen: OrderedDict[Hashable, float] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._seen

    def remembered(self) -> frozenset[Hashable]:
        """The keys remembered now."""
        return frozenset(self._seen)

    def seen(self, key: Hashable, now: float) -> bool:
        """True if ``key`` was seen within the TTL; otherwise remember it and return False.

        Args:
            key: the identity of the message.
            now: the frame's time in seconds (monotonic or wall, but one scale per cache).
        """
        self.expire(now)
        if key in self._seen:
            return True
        self._seen[key] = now
        if len(self._seen) > self.max_size:
            self._seen.popitem(last=False)
            self.evicted += 1
        return False

    def expire(self, now: float) -> None:
        """Drop the keys older than the TTL at ``now``."""
        horizon = now - self.ttl
        seen = self._seen
        while seen:
            key, stamp = next(iter(seen.items()))
            if stamp > horizon:
                break
            del seen[key]
            self.evicted += 1
