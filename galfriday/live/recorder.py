"""Where the core's events go in a running engine: the bus, the audit trail, the log.

:class:`Recorder` is the engine's :class:`~galfriday.core.frames.Sink`: every event is published
on the bus, and the events that are audit facts become their audit rows
(:func:`galfriday.audit.mapping.rows` decides which). Alerts and unexplained balance moves
are logged. The state machines emit; only this module decides where their events are kept.
"""

from __future__ import annotations

from collections.abc import Callable

from loguru import logger

from galfriday.audit import mapping
from galfriday.audit.tables import Row
from galfriday.bus import Bus
from galfriday.events import Alert, BalanceChange, Event, Severity

__all__ = ["Recorder"]


class Recorder:
    """Publishes events and audits those that are audit facts.

    Args:
        bus: the engine's bus.
        write: queues an audit row (never blocks).
    """

    def __init__(self, bus: Bus, write: Callable[[Row], None]) -> None:
        self.bus = bus
        self.write = write

    def wants(self, kind: type[Event]) -> bool:
        return kind in mapping.AUDITED or self.bus.wanted(kind)

    def emit(self, event: Event) -> None:
        self.bus.publish(event)
        if type(event) not in mapping.AUDITED:
            return
        if isinstance(event, Alert):
            log = logger.error if event.severity is Severity.CRITICAL else logger.warning
            log("alert ({}): {}", event.source, event.message)
        elif isinstance(event, BalanceChange) and event.unexplained is not None:
            logger.warning(
                "{} moved by {} that the private stream does not explain ({})",
                event.asset,
                event.unexplained,
                "ledger" if event.ledger_id else "snapshot",
            )
        for row in mapping.rows(event):
            self.write(row)
