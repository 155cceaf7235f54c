"""The capture writer: records off the trio thread into compressed, rotated files.

:meth:`CaptureWriter.append` is all the trio thread does per record: a list append. Every
``flush_seconds`` (0.1 s) the writer task swaps the list out and a worker thread
(``trio.to_thread`` with a ``CapacityLimiter(1)``) encodes, compresses and writes it as one
block, so a ``kill -9`` loses at most the last tenth of a second and the file stays readable to
its last complete block. ``fsync`` runs at most every ``fsync_seconds`` (for power loss).

Never back-pressure a feed: if the disk stalls and ``max_pending`` records are waiting, new
records are dropped and counted; the count goes into the file (an ``Event`` of kind
``dropped``, and the ``End`` record) so a replay knows it is not exact.

Never stop the engine either: an ``OSError`` while writing a block or opening a part (a full
disk, a quota, an I/O error) drops that block's records and counts them the same way; the
part is cut back to its last complete block, the error is logged once per episode, and the
next flush tries again. :attr:`CaptureWriter.failing` and :attr:`CaptureWriter.last_error`
tell the engine's health. Only a capture folder that cannot be used at all when the session
starts (not writable, not a folder) is a :class:`~galfriday.errors.ConfigError`.

Rotation: a part that reaches ``max_bytes`` or ``max_seconds`` is closed (its ``End`` names the
next part) and the next part starts with its own header. Files are created 0600.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import trio
from loguru import logger

from galfriday.capture.format import (
    FORMAT_VERSION,
    End,
    Event,
    Header,
    Record,
    encode_block,
    file_prefix,
)
from galfriday.errors import ConfigError
from galfriday.version import version

__all__ = ["CaptureConfig", "CaptureFile", "CaptureWriter"]

SUFFIX: Final = ".gfcap"
# A folder that cannot hold a capture at all: a configuration problem, not a passing one.
_UNUSABLE: Final = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.ENOENT}
)


@dataclass(frozen=True)
class CaptureConfig:
    folder: Path = Path("captures")
    max_bytes: int = 256 * 1024 * 1024
    max_seconds: float = 24 * 3600.0
    flush_seconds: float = 0.1
    fsync_seconds: float = 1.0
    max_pending: int = 500_000
    level: int = 1


class CaptureFile:
    """One part on disk (used from one worker thread at a time).

    Only complete blocks stay in the file: a write that fails part-way is cut back off.
    """

    def __init__(self, path: Path, header: Header, level: int) -> None:
        self.path = path
        self.level = level
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.size = 0
        self.records = 0
        try:
            self._put(file_prefix() + encode_block([header], level))
        except OSError:
            os.close(self._fd)
            path.unlink(missing_ok=True)  # no header: not a part; the next try reuses the name
            raise

    def write(self, records: list[Record]) -> None:
        self._put(encode_block(records, self.level))
        self.records += len(records)

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self, end: End) -> None:
        self._put(encode_block([end], self.level))
        self.close_without_end()

    def close_without_end(self) -> None:
        """Close as an abruptly stopped engine would leave the file (tests, benchmarks)."""
        try:
            self.sync()
        finally:
            os.close(self._fd)

    def abandon(self) -> None:
        """Close after a failure, without an ``End`` and without raising."""
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _put(self, data: bytes) -> None:
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, view[done:])  # in the kernel: a kill loses nothing
        except OSError:
            with contextlib.suppress(OSError):  # keep the file readable to its last block
                os.ftruncate(self._fd, self.size)
                os.lseek(self._fd, self.size, os.SEEK_SET)
            raise
        self.size += len(data)


class CaptureWriter:
    """Writes one session's records; run :meth:`run` in a nursery, then :meth:`append`."""

    def __init__(
        self,
        config: CaptureConfig,
        session: str,
        summary: dict[str, Any],
        pairs: list[str],
    ) -> None:
        self.config = config
        self.session = session
        self.summary = summary
        self.pairs = pairs
        self.paths: list[Path] = []
        self.records = 0
        self.dropped = 0
        self.bytes_written = 0
        self.failing = False  # the last block could not be written (cleared when one is)
        self.last_error: str | None = None  # what the disk said, last time it refused
        self._pending: list[Record] = []
        self._reported_drops = 0
        self._file: CaptureFile | None = None
        self._opened_at = 0.0
        self._synced_at = 0.0
        self._limiter = trio.CapacityLimiter(1)
        self._flushing = trio.Lock()
        self._blocks = trio.lowlevel.ParkingLot()
        self._stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    def append(self, record: Record) -> None:
        """Queue one record (never blocks; past ``max_pending`` it is dropped and counted)."""
        if len(self._pending) >= self.config.max_pending:
            self.dropped += 1
            return
        self._pending.append(record)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the first part, then write a block every ``flush_seconds`` until cancelled.

        Raises:
            ConfigError: the capture folder cannot be used at all (not writable, not a folder).
        """
        now = trio.current_time()
        try:
            await trio.to_thread.run_sync(self._open, now, limiter=self._limiter)
        except OSError as exc:
            if exc.errno in _UNUSABLE:
                folder = self.config.folder
                raise ConfigError(
                    f"capture folder {folder}", f"cannot be written ({exc.strerror})"
                ) from None
            self._failed(exc, 0)  # a full disk: the next flush tries again
        task_status.started()
        try:
            while True:
                await trio.sleep(self.config.flush_seconds)
                await self.flush()
        finally:
            with trio.CancelScope(shield=True):
                await self.flush()
                end = End(trio.current_time(), _wall(), self.records, self.dropped)
                await trio.to_thread.run_sync(self._close, end, limiter=self._limiter)

    async def flush(self) -> None:
        """Write what is queued as one block (in the worker thread). A block the disk refuses
        is dropped and counted, never raised: the count goes into a later block. One flush at
        a time (the periodic one and a caller's): blocks stay in order, drops counted once."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        records = len(batch)
        lost = self.dropped - self._reported_drops
        now = trio.current_time()
        if lost:
            if not self.failing:
                logger.error("capture fell behind: {} records dropped", lost)
            batch.append(Event("capture", now, _wall(), "dropped", str(lost)))
        if not batch:
            return
        try:
            await trio.to_thread.run_sync(self._write, batch, now, limiter=self._limiter)
        except OSError as exc:
            self._failed(exc, records)
            return
        self._reported_drops += lost
        if self.failing:
            self.failing = False
            logger.warning("capture: writing again ({} records were dropped)", lost)
        self._blocks.unpark_all()

    def _failed(self, exc: OSError, records: int) -> None:
        self.dropped += records
        self.last_error = f"{exc.strerror or exc}"
        if not self.failing:
            self.failing = True
            logger.error(
                "capture: cannot write to {} ({}); dropping records until it works again",
                self.config.folder,
                self.last_error,
            )

    async def next_block(self) -> None:
        """Wait until the next block is on disk."""
        await self._blocks.park()

    # --- in the worker thread ---------------------------------------------------------------

    def _open(self, now: float) -> CaptureFile:
        part = len(self.paths) + 1
        name = f"galfriday-{self._stamp}-{self.session}-p{part:03d}{SUFFIX}"
        path = self.config.folder / name
        header = Header(
            FORMAT_VERSION, version(), self.session, part, now, _wall(), self.summary, self.pairs
        )
        file = self._file = CaptureFile(path, header, self.config.level)
        self.paths.append(path)
        self._opened_at = self._synced_at = now
        self.bytes_written += file.size
        return file

    def _write(self, batch: list[Record], now: float) -> None:
        config = self.config
        file = self._file
        if file is not None and (
            file.size >= config.max_bytes or now - self._opened_at >= config.max_seconds
        ):
            self._file = None
            part = len(self.paths) + 1
            following = f"galfriday-{self._stamp}-{self.session}-p{part:03d}{SUFFIX}"
            try:
                file.close(End(now, _wall(), file.records, 0, following))
            except OSError:
                file.abandon()  # readable to its last block, without an End
                raise
            file = None
        if file is None:  # rotated, or the last open failed
            file = self._open(now)
        before = file.size
        file.write(batch)
        self.records += len(batch)
        self.bytes_written += file.size - before
        if now - self._synced_at >= config.fsync_seconds:
            self._synced_at = now
            try:
                file.sync()
            except OSError as exc:  # the block is written; only its durability is in doubt
                logger.warning("capture: fsync of {} failed ({})", file.path, exc.strerror)

    def _close(self, end: End) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        try:
            file.close(end)
        except OSError as exc:
            file.abandon()
            logger.error("capture: {} closed without its end record ({})", file.path, exc)


def _wall() -> float:
    return datetime.now(UTC).timestamp()
