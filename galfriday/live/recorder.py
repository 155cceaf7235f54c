"""Where the core's events go in a running engine: the bus, the audit trail, the log.

:class:`Recorder` is the engine's :class:`~galfriday.core.frames.Sink`: every event is published
on the bus, and the events that are audit facts (a refused frame, book checks, a resync, an
alert) also become their audit rows. Alerts are logged by severity. The state machines emit;
only this module decides where their events are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from loguru import logger

from galfriday.bus import Bus
from galfriday.events import Alert, BookChecks, Event, FrameRefused, ResyncStarted, Severity

__all__ = ["Recorder"]

AUDITED: Final = frozenset({Alert, BookChecks, FrameRefused, ResyncStarted})


class Recorder:
    """Publishes events and audits those that are audit facts.

    Args:
        bus: the engine's bus.
        write: queues an audit row (``write(table, **values)``; never blocks).
    """

    def __init__(self, bus: Bus, write: Callable[..., None]) -> None:
        self.bus = bus
        self.write = write

    def wants(self, kind: type[Event]) -> bool:
        return kind in AUDITED or self.bus.wanted(kind)

    def emit(self, event: Event) -> None:
        self.bus.publish(event)
        if type(event) in AUDITED:
            self._audit(event)

    def _audit(self, event: Any) -> None:
        wall = event.received_at
        if isinstance(event, FrameRefused):
            self.write(
                "decode_errors",
                at_wall=wall,
                connection=event.connection,
                path=event.path,
                reason=event.reason,
                raw=event.raw,
            )
        elif isinstance(event, BookChecks):
            self.write(
                "book_checks",
                at_wall=wall,
                symbol=event.symbol,
                verified=event.verified,
                mismatched=event.mismatched,
                unverified=event.unverified,
            )
        elif isinstance(event, ResyncStarted):
            self.write(
                "resyncs",
                at_wall=wall,
                stream=event.stream,
                symbol=event.symbol,
                reason=event.reason,
                attempt=event.attempt,
            )
        elif isinstance(event, Alert):
            log = logger.error if event.severity is Severity.CRITICAL else logger.warning
            log("alert ({}): {}", event.source, event.message)
            self.write(
                "alerts",
                at_wall=wall,
                severity=event.severity,
                source=event.source,
                message=event.message,
            )
