"""Announcements several services make the same way: on the bus, and in the audit trail."""

from __future__ import annotations

import time
from collections.abc import Callable

from galfriday.bus import Bus
from galfriday.events import ResyncStarted

__all__ = ["announce_resync"]


def announce_resync(
    bus: Bus,
    audit: Callable[..., None],
    stream: str,
    symbol: str | None,
    reason: str,
    attempt: int,
) -> None:
    """Publish a :class:`ResyncStarted` and audit a ``resyncs`` row for it."""
    wall = time.time()
    bus.publish(ResyncStarted(stream=stream, symbol=symbol, reason=reason, received_at=wall))
    audit("resyncs", at_wall=wall, stream=stream, symbol=symbol, reason=reason, attempt=attempt)
