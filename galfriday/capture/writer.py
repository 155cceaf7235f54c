"""The capture writer: records off the trio thread into compressed, rotated files.

:meth:`CaptureWriter.append` is all the trio thread does per record: a list append. Every
``flush_seconds`` (0.1 s) the writer task swaps the list out and a worker thread
(``trio.to_thread`` with a ``CapacityLimiter(1)``) encodes, compresses and writes it as one
block, so a ``kill -9`` loses at most the last tenth of a second and the file stays readable to
its last complete block. ``fsync`` runs at most every ``fsync_seconds`` (for power loss).

Never back-pressure a feed: if the disk stalls and ``max_pending`` records are waiting, new
records are dropped and counted; the count goes into the file (an ``Event`` of kind
``dropped``, and the ``End`` record) so a replay knows it is not exact.

Rotation: a part that reaches ``max_bytes`` or ``max_seconds`` is closed (its ``End`` names the
next part) and the next part starts with its own header. Files are created 0600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

import trio
from loguru import logger

from galfriday import __version__
from galfriday.capture.format import (
    FORMAT_VERSION,
    End,
    Event,
    Header,
    Record,
    encode_block,
    file_prefix,
)

__all__ = ["CaptureConfig", "CaptureFile", "CaptureWriter"]

SUFFIX: Final = ".gfcap"


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
    """One part on disk (used from one worker thread at a time)."""

    def __init__(self, path: Path, header: Header, level: int) -> None:
        self.path = path
        self.level = level
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self.size = 0
        self.records = 0
        self._put(file_prefix() + encode_block([header], level))

    def write(self, records: list[Record]) -> None:
        self.records += len(records)
        self._put(encode_block(records, self.level))

    def sync(self) -> None:
        os.fsync(self._file.fileno())

    def close(self, end: End) -> None:
        self._put(encode_block([end], self.level))
        self.close_without_end()

    def close_without_end(self) -> None:
        """Close as an abruptly stopped engine would leave the file (tests, benchmarks)."""
        self.sync()
        self._file.close()

    def _put(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()  # in the kernel now: a killed process loses nothing written
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
        self._pending: list[Record] = []
        self._reported_drops = 0
        self._file: CaptureFile | None = None
        self._opened_at = 0.0
        self._synced_at = 0.0
        self._limiter = trio.CapacityLimiter(1)
        self._blocks = trio.lowlevel.ParkingLot()
        self._stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    def append(self, record: Record) -> None:
        """Queue one record (never blocks; past ``max_pending`` it is dropped and counted)."""
        if len(self._pending) >= self.config.max_pending:
            self.dropped += 1
            return
        self._pending.append(record)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the first part, then write a block every ``flush_seconds`` until cancelled."""
        now = trio.current_time()
        await trio.to_thread.run_sync(self._open, now, limiter=self._limiter)
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
        """Write what is queued as one block (in the worker thread)."""
        if self.dropped > self._reported_drops:
            lost = self.dropped - self._reported_drops
            self._reported_drops = self.dropped
            logger.error("capture fell behind: {} records dropped", lost)
            now = trio.current_time()
            self._pending.append(Event("capture", now, _wall(), "dropped", str(lost)))
        batch, self._pending = self._pending, []
        if batch:
            now = trio.current_time()
            await trio.to_thread.run_sync(self._write, batch, now, limiter=self._limiter)
            self._blocks.unpark_all()

    async def next_block(self) -> None:
        """Wait until the next block is on disk."""
        await self._blocks.park()

    # --- in the worker thread ---------------------------------------------------------------

    def _open(self, now: float) -> None:
        part = len(self.paths) + 1
        name = f"galfriday-{self._stamp}-{self.session}-p{part:03d}{SUFFIX}"
        path = self.config.folder / name
        header = Header(
            FORMAT_VERSION, __version__, self.session, part, now, _wall(), self.summary, self.pairs
        )
        self._file = CaptureFile(path, header, self.config.level)
        self.paths.append(path)
        self._opened_at = self._synced_at = now
        self.bytes_written += self._file.size

    def _write(self, batch: list[Record], now: float) -> None:
        file = self._file
        assert file is not None
        config = self.config
        if file.size >= config.max_bytes or now - self._opened_at >= config.max_seconds:
            part = len(self.paths) + 1
            following = f"galfriday-{self._stamp}-{self.session}-p{part:03d}{SUFFIX}"
            file.close(End(now, _wall(), file.records, 0, following))
            self._open(now)
            file = self._file
            assert file is not None
        before = file.size
        file.write(batch)
        self.records += len(batch)
        self.bytes_written += file.size - before
        if now - self._synced_at >= config.fsync_seconds:
            file.sync()
            self._synced_at = now

    def _close(self, end: End) -> None:
        if self._file is not None:
            self._file.close(end)
            self._file = None


def _wall() -> float:
    return datetime.now(UTC).timestamp()
