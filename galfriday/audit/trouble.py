"""What stops the audit writer, in the engine's words, and how long it waits to try again.

:func:`classify` sorts an exception from a write into a :data:`TroubleKind` worth retrying
(the world's fault: a lock held too long, a full disk, an I/O error) or ``None`` (ours: a row the
schema refuses; retrying would loop forever). :class:`AuditTrouble` is what the writer reports
to the engine. Pure: no trio, no clock.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Final, Literal

import msgspec

__all__ = ["RETRY_FIRST", "RETRY_MAX", "AuditTrouble", "TroubleKind", "classify", "next_delay"]

TroubleKind = Literal["disk_full", "io_error", "busy", "queue_full"]

RETRY_FIRST: Final = 0.05  # seconds before the first retry of a failed batch
RETRY_MAX: Final = 5.0  # the delay doubles up to this

# SQLite's primary result codes (the low byte of an extended code).
_KINDS: Final[dict[int, TroubleKind]] = {
    5: "busy",  # SQLITE_BUSY: another connection holds the write lock past busy_timeout
    6: "busy",  # SQLITE_LOCKED
    13: "disk_full",  # SQLITE_FULL: the disk (or max_page_count) is full
    7: "io_error",  # SQLITE_NOMEM
    8: "io_error",  # SQLITE_READONLY: the file or its folder became read-only
    10: "io_error",  # SQLITE_IOERR and its extended codes
    11: "io_error",  # SQLITE_CORRUPT
    14: "io_error",  # SQLITE_CANTOPEN: e.g. the -wal cannot be created
    15: "io_error",  # SQLITE_PROTOCOL
    26: "io_error",  # SQLITE_NOTADB: the file was replaced under us
}


class AuditTrouble(msgspec.Struct, frozen=True, kw_only=True):
    """Why audit rows are not reaching the database.

    Attributes:
        kind: ``busy`` (another process held the database longer than the busy timeout),
            ``disk_full``, ``io_error``, or ``queue_full`` (writes succeed but rows arrive faster
            than they are written and the queue passed its capacity).
        since: trio time when this episode of trouble began.
        error: the last error's text (SQLite's message), or a description for ``queue_full``.
        rows_waiting: rows accepted but not yet written, at the time of reading.
        rows_lost: rows refused during this episode because the queue passed its hard limit.
    """

    kind: TroubleKind
    since: float
    error: str
    rows_waiting: int = 0
    rows_lost: int = 0


def classify(exc: BaseException) -> TroubleKind | None:
    """The trouble behind a failed write, or ``None`` for a bug of ours (a row the schema
    refuses, an unknown table or column, a value SQLite cannot bind)."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:
            return None
        return _KINDS.get(code & 0xFF)
    if isinstance(exc, OSError):
        return "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "io_error"
    return None


def next_delay(delay: float) -> float:
    """The wait after ``delay``: doubled, at most :data:`RETRY_MAX`."""
    return min(delay * 2, RETRY_MAX)
