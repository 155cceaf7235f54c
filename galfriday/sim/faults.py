"""Fault injection for the simulator: what to break next, and the record of what was broken.

Faults are queued here by tests (the :class:`~galfriday.sim.server.Simulator` methods), by
CLI flags, or by the seeded random schedule (:func:`random_fault`); the servers consume them.
Every injected fault is appended to :attr:`Faults.records` with the simulator's wall time, so
a test can compare what was injected with what the client detected.

Frame faults apply to the next data frames of one side (``"public"`` or ``"private"``):
duplicate, drop (a private drop leaves a ``sequence`` gap), reorder (swap with the next),
corrupt a book checksum. REST faults apply to the next private or public REST calls. A freeze
stops the whole exchange for a while, as a stopped process would (sockets open and silent, new
connections and REST calls waiting). Held orders: the next WebSocket ``add_order`` requests
reach the matching engine only after a delay, and their replies with them, even if the socket
that carried them is gone by then.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Final

__all__ = ["Fault", "FaultRecord", "Faults", "FrameFault", "RestFault", "random_fault"]


class Fault(enum.StrEnum):
    DROP_CONNECTION = "drop_connection"
    CLOSE_CONNECTION = "close_connection"
    STALL = "stall"
    DUPLICATE_FRAMES = "duplicate_frames"
    DROP_FRAMES = "drop_frames"
    REORDER_FRAMES = "reorder_frames"
    CORRUPT_CHECKSUM = "corrupt_checksum"
    MALFORMED_FRAME = "malformed_frame"
    UNKNOWN_FRAME = "unknown_frame"
    REST_5XX = "rest_5xx"
    REST_SLOW = "rest_slow"
    REST_UNAVAILABLE = "rest_unavailable"
    REST_RATE_LIMIT = "rest_rate_limit"
    INVALIDATE_TOKEN = "invalidate_token"
    SYSTEM_STATUS = "system_status"
    DRIFT_DEPOSIT = "drift_deposit"
    DRIFT_WITHDRAWAL = "drift_withdrawal"
    DRIFT_ORDER = "drift_order"
    FREEZE = "freeze"
    HOLD_ORDERS = "hold_orders"


FrameFault = Fault  # one of DUPLICATE_FRAMES, DROP_FRAMES, REORDER_FRAMES, CORRUPT_CHECKSUM
RestFault = Fault  # one of the REST_* faults

FRAME_FAULTS: Final = frozenset(
    {Fault.DUPLICATE_FRAMES, Fault.DROP_FRAMES, Fault.REORDER_FRAMES, Fault.CORRUPT_CHECKSUM}
)
REST_FAULTS: Final = frozenset(
    {Fault.REST_5XX, Fault.REST_SLOW, Fault.REST_UNAVAILABLE, Fault.REST_RATE_LIMIT}
)


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault: what, where, when (simulator wall time), and details."""

    fault: Fault
    target: str
    at: float
    detail: str = ""


@dataclass
class _Pending:
    fault: Fault
    left: int
    seconds: float = 0.0
    record: FaultRecord | None = None


@dataclass
class Faults:
    """Queued faults and the record of injected ones."""

    records: list[FaultRecord] = field(default_factory=list)
    # Frame faults as they hit a frame: (the queued fault's record, simulator wall time).
    applied: list[tuple[FaultRecord, float]] = field(default_factory=list)
    _frames: dict[str, deque[_Pending]] = field(
        default_factory=lambda: {"public": deque(), "private": deque()}
    )
    _rest: deque[_Pending] = field(default_factory=deque)
    _holds: deque[_Pending] = field(default_factory=deque)

    def record(self, fault: Fault, target: str, at: float, detail: str = "") -> FaultRecord:
        entry = FaultRecord(fault, target, at, detail)
        self.records.append(entry)
        return entry

    def queue_frames(
        self, fault: Fault, target: str, count: int, record: FaultRecord | None = None
    ) -> None:
        """Apply ``fault`` to the next ``count`` data frames sent on ``target``."""
        self._frames[target].append(_Pending(fault, count, record=record))

    def next_frame_fault(self, target: str, is_book: bool, at: float = 0.0) -> Fault | None:
        """The fault for the next data frame of ``target`` (consumes one count)."""
        queue = self._frames[target]
        if not queue:
            return None
        pending = queue[0]
        if pending.fault is Fault.CORRUPT_CHECKSUM and not is_book:
            return None
        pending.left -= 1
        if pending.left <= 0:
            queue.popleft()
        if pending.record is not None:
            self.applied.append((pending.record, at))
        return pending.fault

    def pending_frames(self) -> int:
        """Frame faults queued and not yet applied to a frame."""
        return sum(len(queue) for queue in self._frames.values())

    def clear_frames(self) -> None:
        for queue in self._frames.values():
            queue.clear()

    def queue_rest(self, fault: Fault, count: int, seconds: float = 0.0) -> None:
        self._rest.append(_Pending(fault, count, seconds))

    def clear_rest(self) -> None:
        """Forget the REST faults still queued (the outage is over)."""
        self._rest.clear()

    def next_rest_fault(self) -> tuple[Fault, float] | None:
        if not self._rest:
            return None
        pending = self._rest[0]
        pending.left -= 1
        if pending.left <= 0:
            self._rest.popleft()
        return pending.fault, pending.seconds

    def queue_hold(self, count: int, seconds: float) -> None:
        """Hold the next ``count`` WebSocket ``add_order`` requests ``seconds`` each."""
        self._holds.append(_Pending(Fault.HOLD_ORDERS, count, seconds))

    def next_order_hold(self) -> float:
        """Seconds to hold the next ``add_order`` (0: none)."""
        if not self._holds:
            return 0.0
        pending = self._holds[0]
        pending.left -= 1
        if pending.left <= 0:
            self._holds.popleft()
        return pending.seconds

    def injected(self, fault: Fault | None = None) -> list[FaultRecord]:
        return [r for r in self.records if fault is None or r.fault is fault]


def random_fault(rng: random.Random) -> tuple[Fault, str]:
    """A fault and a target for the random schedule (every kind the simulator has)."""
    fault = rng.choice(list(Fault))
    return fault, target_for(fault, rng)


def target_for(fault: Fault, rng: random.Random) -> str:
    """Where ``fault`` applies: ``rest``, ``account``, ``exchange``, or a connection."""
    if fault in REST_FAULTS:
        return "rest"
    if fault in (Fault.DRIFT_DEPOSIT, Fault.DRIFT_WITHDRAWAL, Fault.DRIFT_ORDER):
        return "account"
    if fault is Fault.CORRUPT_CHECKSUM:
        return "public"
    if fault in (Fault.INVALIDATE_TOKEN,):
        return "private"
    if fault in (Fault.SYSTEM_STATUS, Fault.FREEZE):
        return "exchange"
    if fault is Fault.HOLD_ORDERS:
        return "private"
    return str(rng.choice(("public", "private")))
