"""The tape: where the engine's shell notes what crosses the process boundary.

Every live component gets a :class:`Tape`. The base class records nothing (capture off) but
still numbers operations and stamps them, so the engine behaves the same with or without a
capture. :class:`CaptureTape` redacts secrets and hands records to a
:class:`~galfriday.capture.writer.CaptureWriter`. The replay has its own tape that hands the
recorded answers back (:mod:`galfriday.replay.driver`).

Operations: an engine action that talks to the exchange runs inside ``with tape.op(name,
**args) as op``. The op's id rides along in a context variable, so the frames it sends, the
REST calls it makes and the inputs it reads are tagged with it, and ``op.wall`` / ``op.mono``
are the one timestamp the action uses for what it records: a replay reproduces them exactly.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

import trio

from galfriday.capture.format import Applied, Event, Op, Record, State, WsIn, WsOut
from galfriday.core.steps import Step, encode_step

__all__ = ["REDACTED", "CaptureTape", "Redactor", "Tape", "current_op", "op_wall"]

REDACTED: Final = "<redacted>"
_TOKEN: Final = re.compile(r'("token"\s*:\s*")[^"]*(")')
_OP: ContextVar[Op | None] = ContextVar("galfriday_op", default=None)


def current_op() -> Op | None:
    """The operation the calling task is part of, if any."""
    return _OP.get()


def op_wall() -> float:
    """The wall time of the calling task's operation (now, outside any operation)."""
    op = _OP.get()
    return op.wall if op is not None else time.time()


class Redactor:
    """Removes secrets from text: every ``"token": "..."`` value and each known secret."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = {s for s in secrets if len(s) >= 8}

    def add(self, secret: str) -> None:
        if len(secret) >= 8:
            self.secrets.add(secret)

    def clean(self, text: str) -> str:
        if '"token"' in text:
            text = _TOKEN.sub(rf"\g<1>{REDACTED}\g<2>", text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class Tape:
    """Numbers and stamps operations; records nothing (a capture that is switched off)."""

    recording = False

    def __init__(self, session: str | None = None) -> None:
        self.session = session or uuid.uuid4().hex[:12]
        self._ops = 0
        self._http = 0

    def stamp(self) -> tuple[float, float]:
        """(monotonic, wall) now."""
        return trio.current_time(), time.time()

    @contextmanager
    def op(self, name: str, **args: Any) -> Iterator[Op]:
        """Run the body as operation ``name``; its I/O is tagged with the op's id."""
        op = self._begin(name, args)
        token = _OP.set(op)
        try:
            yield op
        finally:
            _OP.reset(token)

    def _begin(self, name: str, args: dict[str, Any]) -> Op:
        self._ops += 1
        mono, wall = self.stamp()
        op = Op(self._ops, name, mono, wall, args)
        self.write(op)
        return op

    def next_http(self) -> int:
        self._http += 1
        return self._http

    # --- what the shell reports -----------------------------------------------------------

    def write(self, record: Record) -> None:
        """Keep one record (here: nowhere)."""

    def ws_in(self, conn: str, mono: float, wall: float, text: str) -> None:
        if self.recording:
            self.write(WsIn(conn, mono, wall, self.clean(text)))

    def step(self, step: Step) -> None:
        """A step is about to be applied to the engine's state (a replay applies it again)."""
        if self.recording:
            self.write(Applied(step.mono, step.wall, encode_step(step)))

    def ws_out(self, conn: str, text: str) -> None:
        if self.recording:
            op = current_op()
            mono, wall = self.stamp()
            self.write(WsOut(conn, mono, wall, self.clean(text), op.id if op else None))

    def state(self, conn: str, old: str, new: str, reason: str, mono: float, wall: float) -> None:
        if self.recording:
            self.write(State(conn, mono, wall, old, new, self.clean(reason)))

    def event(self, conn: str, kind: str, detail: str = "") -> None:
        if self.recording:
            mono, wall = self.stamp()
            self.write(Event(conn, mono, wall, kind, self.clean(detail)))

    def clean(self, text: str) -> str:
        return text


class CaptureTape(Tape):
    """Redacts, then hands every record to ``sink`` (a capture writer's ``append``)."""

    recording = True

    def __init__(
        self, sink: Callable[[Record], None], redactor: Redactor, session: str | None = None
    ) -> None:
        super().__init__(session)
        self._sink = sink
        self.redactor = redactor

    def write(self, record: Record) -> None:
        self._sink(record)

    def clean(self, text: str) -> str:
        return self.redactor.clean(text)
