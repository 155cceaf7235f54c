"""One engine per database: an advisory lock in a file beside it.

``<db>.lock`` (mode 0600) is locked with ``fcntl.flock``, exclusive and non-blocking, by the
process that writes the database (:class:`~galfriday.audit.store.AuditStore` takes it before it
changes anything and gives it back in ``close``). The kernel drops the lock when the process
ends, however it ends (``kill -9`` included), so a stale file never blocks a restart. The file
holds who has it (pid and start time, JSON) for the message a second engine gets and for
``galfriday status``.

Rules:
- :meth:`DatabaseLock.acquire` never waits for a live holder: a second engine is refused at once
  with one line (:class:`~galfriday.errors.ConfigError`, exit 2). It does retry for a few
  milliseconds, because :func:`read_holder` takes a shared lock for an instant.
- :func:`read_holder` answers at once and changes nothing: it tries a shared non-blocking lock,
  which succeeds only when nobody holds the exclusive one.
- ``flock`` locks belong to an open file, not to a process: a second :class:`DatabaseLock` in the
  same process is refused too (tests rely on it).

Synchronous and quick; called once at start-up and from the command line.
"""

from __future__ import annotations

import fcntl
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import msgspec

from galfriday.errors import ConfigError

__all__ = ["DatabaseLock", "LockHolder", "lock_path", "read_holder"]

_ATTEMPTS: Final = 10  # a reader's shared lock lasts microseconds; 10 x 10 ms is plenty
_PAUSE: Final = 0.01
_MAX_CONTENT: Final = 4096


class LockHolder(msgspec.Struct, frozen=True, kw_only=True):
    """Who holds a database's lock: a process id and when it took the lock (UTC epoch
    seconds); ``None`` for what the file does not say (it is written just after locking)."""

    pid: int | None = None
    since: float | None = None

    def describe(self) -> str:
        """``pid 1234, since 2026-11-24 11:05:47 UTC`` (or what is known of it)."""
        pid = f"pid {self.pid}" if self.pid is not None else "pid unknown"
        if self.since is None:
            return pid
        when = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{pid}, since {when}"


def lock_path(db: Path) -> Path:
    """The lock file of database ``db``: ``<db>.lock`` beside it."""
    return db.with_name(db.name + ".lock")


class DatabaseLock:
    """The exclusive lock on one database file; :meth:`acquire` once, :meth:`release` once.

    Args:
        db: the database file (which need not exist yet).
    """

    def __init__(self, db: Path) -> None:
        self.db = db
        self.path = lock_path(db)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock and write our pid and start time into the file.

        Raises:
            ConfigError: another process (or another lock in this one) holds it, or the lock
                file cannot be created; one line naming the database and the fix.
        """
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ConfigError(
                "--db",
                f"cannot create the lock file {self.path} ({exc.strerror}); choose another --db",
            ) from None
        try:
            _lock_exclusive(fd, self.db)
            me = msgspec.json.encode(LockHolder(pid=os.getpid(), since=time.time()))
            os.ftruncate(fd, 0)
            os.pwrite(fd, me + b"\n", 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Give the lock back (a no-op when not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # nobody: a reader of a stale file learns nothing wrong
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _lock_exclusive(fd: int, db: Path) -> None:
    for attempt in range(_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt + 1 < _ATTEMPTS:
                time.sleep(_PAUSE)
        except OSError as exc:  # e.g. ENOLCK: a file system without flock
            raise ConfigError(
                "--db", f"cannot lock {lock_path(db)} ({exc.strerror}); choose another --db"
            ) from None
    holder = _read(fd)
    raise ConfigError(
        "--db",
        f"{db} is in use by another galfriday ({holder.describe()}); "
        "stop it first or choose another --db",
    )


def read_holder(db: Path) -> LockHolder | None:
    """Who holds ``db``'s lock now, or ``None`` when no live process does. Never waits.

    Raises:
        ConfigError: the lock file exists but cannot be opened (permissions).
    """
    path = lock_path(db)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read ({exc.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> LockHolder:
    try:
        return msgspec.json.decode(os.pread(fd, _MAX_CONTENT, 0), type=LockHolder)
    except (OSError, msgspec.DecodeError):
        return LockHolder()
