"""A WebSocket frame as the engine received it, and where the core's outputs go.

:class:`Frame` is what a connection hands its processor: the text, the monotonic and wall
receive times, and the connection's name. :class:`Sink` is what a core state machine emits
its events to (the bus, the audit trail, a replay's database: the shell decides); a machine
never publishes or writes anything itself.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from galfriday.events import Event, FrameRefused

__all__ = ["Frame", "ListSink", "Sink"]


class Frame(msgspec.Struct, frozen=True, gc=False):
    """A frame as received: text, monotonic and wall receive times, and its connection.

    (A msgspec struct, not a dataclass: one is built per frame, and a frozen dataclass costs
    over a microsecond to build.)
    """

    raw: str
    received_mono: float
    received_wall: float
    connection: str

    def refused(self, path: str, reason: str, raw: str | None = None) -> FrameRefused:
        """This frame refused at ``path`` for ``reason`` (``raw``: what to keep of it; its
        first 200 characters unless given)."""
        kept = self.raw[:200] if raw is None else raw
        return FrameRefused(
            connection=self.connection,
            path=path,
            reason=reason,
            raw=kept,
            received_at=self.received_wall,
        )


class Sink(Protocol):
    """Where a state machine's events go."""

    def emit(self, event: Event) -> None:
        """Take one event (never blocks, never raises)."""

    def wants(self, kind: type[Event]) -> bool:
        """Whether anyone takes events of ``kind`` (so that costly ones need not be built)."""


class ListSink:
    """A sink that keeps what it gets: for tests, and for callers that collect."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def wants(self, kind: type[Event]) -> bool:
        return True

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]
