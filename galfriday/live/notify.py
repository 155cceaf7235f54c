"""Announcements several services make the same way: on the bus, and in the audit trail."""

from __future__ import annotations

from collections.abc import Callable

from galfriday.bus import Bus
from galfriday.errors import MalformedFrame
from galfriday.events import ResyncStarted
from galfriday.kraken import wire
from galfriday.live.connection import Frame

__all__ = ["announce_resync", "decode_or_audit"]


def decode_or_audit(
    decoder: wire.FrameDecoder, frame: Frame, audit: Callable[..., None]
) -> wire.Message | None:
    """Decode a frame; a malformed one is audited (path, reason, a copy) and gives None."""
    try:
        return decoder.decode(frame.raw)
    except MalformedFrame as exc:
        audit(
            "decode_errors",
            at_wall=frame.received_wall,
            connection=frame.connection,
            path=exc.path,
            reason=exc.reason,
            raw=exc.raw,
        )
        return None


def announce_resync(
    bus: Bus,
    audit: Callable[..., None],
    stream: str,
    symbol: str | None,
    reason: str,
    attempt: int,
    wall: float,
) -> None:
    """Publish a :class:`ResyncStarted` and audit a ``resyncs`` row for it."""
    bus.publish(ResyncStarted(stream=stream, symbol=symbol, reason=reason, received_at=wall))
    audit("resyncs", at_wall=wall, stream=stream, symbol=symbol, reason=reason, attempt=attempt)
