"""What the engine does when its audit trail cannot be written.

The audit writer never drops a batch: it keeps and retries it (see
:mod:`galfriday.audit.writer`) and reports trouble to :meth:`StorageGuard.on_trouble`. The guard
turns that into the engine's reaction:

- trouble starts: a critical alert (the log and the bus, hence the webhook: the ``alerts`` table
  is what cannot be written), the engine halts new orders (:attr:`halted`) and counts as
  unhealthy, so the dead-man switch is left to run out and Kraken cancels what rests;
- trouble clears: an alert saying so, orders allowed again;
- trouble lasts ``give_up`` seconds: :meth:`watch` raises
  :class:`~galfriday.errors.StorageFailure`, which stops the engine with one clear line and a
  non-zero exit, rather than let it run on unrecorded.

The capture is not the audit trail: a failing capture (full disk) only degrades, the engine goes
on (:meth:`capture_report`).
"""

from __future__ import annotations

import time
from typing import Final

import trio
from loguru import logger

from galfriday.audit.trouble import AuditTrouble
from galfriday.bus import Bus
from galfriday.errors import StorageFailure
from galfriday.events import Alert, Severity

__all__ = ["GIVE_UP", "StorageGuard"]

GIVE_UP: Final = 60.0  # seconds of failing audit writes before the engine stops


class StorageGuard:
    """Watches the audit writer's trouble for one engine.

    Args:
        bus: where the alerts go (the webhook and any subscriber listen there).
        database: named in the messages.
        give_up: seconds of trouble before :meth:`watch` stops the engine.
    """

    def __init__(self, bus: Bus, database: str, give_up: float = GIVE_UP) -> None:
        self._bus = bus
        self.database = database
        self.give_up = give_up
        self.trouble: AuditTrouble | None = None
        self._changed = trio.Event()

    @property
    def halted(self) -> str | None:
        """Why new orders are refused now (None: they are not)."""
        trouble = self.trouble
        if trouble is None:
            return None
        return f"the audit trail cannot be written ({trouble.kind}: {trouble.error})"

    def on_trouble(self, trouble: AuditTrouble | None) -> None:
        """The writer's report (on the trio thread): trouble started, changed, or cleared."""
        old, self.trouble = self.trouble, trouble
        self._changed.set()
        if trouble is None:
            if old is not None:
                self._alert(Severity.HIGH, f"audit trail writable again ({self.database})")
            return
        if old is None or old.kind != trouble.kind:
            self._alert(
                Severity.CRITICAL,
                f"audit trail failing ({trouble.kind}: {trouble.error}); no new orders, the"
                f" dead-man switch left to run out; stopping in {self.give_up:.0f}s if it"
                f" lasts ({self.database})",
            )

    async def watch(self) -> None:
        """Raise :class:`StorageFailure` once trouble has lasted ``give_up`` seconds."""
        while True:
            changed = self._changed = trio.Event()  # fresh before the state is read
            trouble = self.trouble
            if trouble is None:
                await changed.wait()
                continue
            deadline = trouble.since + self.give_up
            if trio.current_time() >= deadline:
                raise StorageFailure(
                    f"the audit database {self.database} could not be written for"
                    f" {self.give_up:.0f}s ({trouble.kind}: {trouble.error}); stopped"
                    " rather than run unrecorded"
                )
            with trio.move_on_at(deadline):
                await changed.wait()

    def _alert(self, severity: Severity, message: str) -> None:
        (logger.critical if severity is Severity.CRITICAL else logger.warning)("alert: {}", message)
        self._bus.publish(
            Alert(severity=severity, source="audit", message=message, received_at=time.time())
        )
