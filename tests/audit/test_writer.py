"""The audit writer never drops a row: retries, trouble reports, bounded memory, stop."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest
import trio
import trio.testing

from galfriday.audit.store import AuditRow, AuditStore, AuditTrouble, AuditWriter
from galfriday.audit.tables import GapRow


def _gap(writer: AuditWriter, i: int, stream: str = "s") -> None:
    writer.write_nowait("gaps", at_wall=float(i), stream=stream, first_missing=i, last_missing=i)


def _stored(path: Path) -> list[int]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT first_missing FROM gaps ORDER BY id").fetchall()
    return [row[0] for row in rows]


class Troubles:
    """Records what ``on_trouble`` was told, and lets a test wait for the next report."""

    def __init__(self) -> None:
        self.seen: list[AuditTrouble | None] = []
        self._changed = trio.Event()

    def __call__(self, trouble: AuditTrouble | None) -> None:
        self.seen.append(trouble)
        self._changed.set()
        self._changed = trio.Event()

    async def next(self) -> AuditTrouble | None:
        await self._changed.wait()
        return self.seen[-1]


def _full_disk(code: int = 13, message: str = "database or disk is full") -> sqlite3.Error:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code
    return exc


class FailingStore(AuditStore):
    """A store whose first ``failures`` writes raise ``error``; records when each was tried."""

    def __init__(self, failures: int, error: sqlite3.Error) -> None:
        super().__init__(":memory:")
        self.failures = failures
        self.error = error
        self.attempts: list[float] = []

    def write(self, rows: Iterable[AuditRow]) -> int:
        self.attempts.append(trio.from_thread.run_sync(trio.current_time))
        if len(self.attempts) <= self.failures:
            raise self.error
        return super().write(rows)


async def test_a_lock_held_past_the_busy_timeout_delays_the_batch_and_loses_nothing(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "audit.db"
    troubles = Troubles()
    writer = AuditWriter(AuditStore(path, busy_timeout=0.05), on_trouble=troubles)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # e.g. a long prune transaction: the write lock
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for i in range(10):
                _gap(writer, i)
            trouble = await troubles.next()
            assert trouble is not None and trouble.kind == "busy"
            assert "locked" in trouble.error
            assert writer.trouble is not None and writer.trouble.rows_waiting == 10
            other.execute("COMMIT")
            await writer.flush()
            assert troubles.seen[-1] is None and writer.trouble is None
            nursery.cancel_scope.cancel()
    assert _stored(path) == list(range(10))
    assert writer.unwritten == 0
    writer.store.close()


async def test_a_full_disk_keeps_the_rows_in_order_until_space_is_freed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    troubles = Troubles()
    writer = AuditWriter(store, batch_rows=50, on_trouble=troubles)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # no room for one more page
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for i in range(120):
            _gap(writer, i, stream="s" * 1000)  # no batch of these fits in the free space
        trouble = await troubles.next()
        assert trouble is not None and trouble.kind == "disk_full"
        for i in range(120, 200):  # more rows arrive meanwhile
            _gap(writer, i, stream="s" * 1000)
        await trio.sleep(30)  # still full: nothing written, nothing dropped
        assert writer.written == 0 and writer.rows_waiting == 200
        await writer.read(lambda s: s.db.execute("PRAGMA max_page_count = 1000000"))
        await writer.flush()
        assert troubles.seen == [trouble, None]
        nursery.cancel_scope.cancel()
    store.close()
    assert _stored(path) == list(range(200))


async def test_failed_batches_are_retried_after_a_doubling_delay_up_to_five_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FailingStore(failures=10, error=_full_disk(10, "disk I/O error"))
    writer = AuditWriter(store)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        _gap(writer, 1)
        await writer.flush()
        nursery.cancel_scope.cancel()
    gaps = [round(b - a, 6) for a, b in zip(store.attempts, store.attempts[1:], strict=False)]
    assert gaps == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert writer.written == 1


async def test_the_trouble_names_the_kind_the_time_and_the_rows_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FailingStore(failures=3, error=_full_disk())
    troubles = Troubles()
    writer = AuditWriter(store, on_trouble=troubles)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        start = trio.current_time()
        _gap(writer, 1)
        _gap(writer, 2)
        trouble = await troubles.next()
        assert trouble == AuditTrouble(
            kind="disk_full",
            since=start + writer.batch_seconds,
            error="database or disk is full",
            rows_waiting=2,
        )
        assert await troubles.next() is None
        nursery.cancel_scope.cancel()


async def test_rows_refused_by_the_schema_are_counted_and_the_others_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    writer = AuditWriter(AuditStore(path))
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        _gap(writer, 1)
        writer.write_nowait("gaps", at_wall=1.0, stream=None, first_missing=2, last_missing=2)
        _gap(writer, 3)
        await writer.flush()
        assert (writer.written, writer.failed, writer.trouble) == (2, 1, None)
        nursery.cancel_scope.cancel()
    writer.store.close()
    assert _stored(path) == [1, 3]


async def test_a_row_for_an_unknown_table_fails_loudly_after_the_good_rows_are_in(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    writer = AuditWriter(AuditStore(path))
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="no_such_table")):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            _gap(writer, 1)
            writer.write_nowait("no_such_table", x=1)
            _gap(writer, 2)
    writer.store.close()
    assert _stored(path) == [1, 2]


async def test_past_capacity_rows_are_still_taken_and_reported_as_queue_full() -> None:
    troubles = Troubles()
    writer = AuditWriter(AuditStore(":memory:"), capacity=2, hard_limit=3, on_trouble=troubles)
    for i in range(3):
        _gap(writer, i)
    assert writer.queued == 3 and writer.lost == 0
    [trouble] = troubles.seen
    assert trouble is not None and trouble.kind == "queue_full"
    _gap(writer, 3)  # past the hard limit: lost, and said so
    assert writer.lost == 1 and writer.queued == 3
    assert writer.trouble is not None and writer.trouble.rows_lost == 1
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await writer.flush()
        assert troubles.seen[-1] is None and writer.written == 3
        nursery.cancel_scope.cancel()
    assert writer.unwritten == 1  # the lost row: the command must exit non-zero


async def test_write_waits_while_the_queue_is_at_capacity() -> None:
    writer = AuditWriter(AuditStore(":memory:"), capacity=2)
    _gap(writer, 1)
    _gap(writer, 2)
    done = trio.Event()

    async def producer() -> None:
        await writer.write("gaps", at_wall=3.0, stream="s", first_missing=3, last_missing=3)
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()
        await nursery.start(writer.run)
        await done.wait()
        await writer.flush()
        assert writer.written == 3
        nursery.cancel_scope.cancel()


async def test_a_stop_on_a_failing_database_gives_up_after_stop_seconds_and_counts_the_rows(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FailingStore(failures=10**9, error=_full_disk())
    writer = AuditWriter(store, stop_seconds=2.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for i in range(5):
            _gap(writer, i)
        await trio.sleep(60)
        stopping = trio.current_time()
        nursery.cancel_scope.cancel()
    assert trio.current_time() - stopping <= 2.0
    assert writer.unwritten == 5 and writer.written == 0
    with trio.move_on_after(1) as waited:
        await writer.flush()  # returns at once: nothing more will be written
    assert not waited.cancelled_caught


def _typed_gap(i: int) -> GapRow:
    return GapRow(at_wall=float(i), stream="s", first_missing=i, last_missing=i)


async def test_typed_rows_and_loose_rows_are_written_together_in_order(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    writer = AuditWriter(AuditStore(path))
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.write_row(_typed_gap(1))
        _gap(writer, 2)
        await writer.write_typed(_typed_gap(3))
        await writer.flush()
        assert (writer.written, writer.failed) == (3, 0)
        nursery.cancel_scope.cancel()
    writer.store.close()
    assert _stored(path) == [1, 2, 3]


async def test_a_typed_row_past_the_hard_limit_is_lost_and_counted() -> None:
    writer = AuditWriter(AuditStore(":memory:"), capacity=1, hard_limit=2)
    for i in range(3):
        writer.write_row(_typed_gap(i))
    assert (writer.queued, writer.lost) == (2, 1)
    assert writer.trouble is not None and writer.trouble.rows_lost == 1


async def test_write_typed_waits_while_the_queue_is_at_capacity() -> None:
    writer = AuditWriter(AuditStore(":memory:"), capacity=1)
    writer.write_row(_typed_gap(1))
    done = trio.Event()

    async def producer() -> None:
        await writer.write_typed(_typed_gap(2))
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()
        await nursery.start(writer.run)
        await done.wait()
        await writer.flush()
        assert writer.written == 2
        nursery.cancel_scope.cancel()


async def test_a_typed_row_the_schema_refuses_is_counted_and_the_others_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    writer = AuditWriter(AuditStore(path))
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.write_row(_typed_gap(1))
        writer.write_row(GapRow(at_wall=1.0, stream=None, first_missing=2, last_missing=2))  # type: ignore[arg-type]
        writer.write_row(_typed_gap(3))
        await writer.flush()
        assert (writer.written, writer.failed) == (2, 1)
        nursery.cancel_scope.cancel()
    writer.store.close()
    assert _stored(path) == [1, 3]


class CheckpointingStore(AuditStore):
    """A store that tells the test (a channel) each time a checkpoint copied pages."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.send, self.copied = trio.open_memory_channel[int](100)

    def checkpoint(self) -> int:
        copied = super().checkpoint()
        trio.from_thread.run_sync(self.send.send_nowait, copied)
        return copied


async def test_beside_the_writer_the_wal_is_checkpointed_every_checkpoint_rows_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    store = CheckpointingStore(path)
    writer = AuditWriter(store, checkpoint_rows=10)
    size = path.stat().st_size
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        nursery.start_soon(writer.keep_checkpoints)
        for i in range(40):
            _gap(writer, i)
            await writer.flush()  # one commit per row
        with trio.fail_after(10):
            copied = [await store.copied.receive() for _ in range(2)]
        assert all(pages > 0 for pages in copied)
        assert path.stat().st_size > size  # the pages reached the database file
        nursery.cancel_scope.cancel()
    store.close()
    assert _stored(path) == list(range(40))
    assert writer.checkpoints >= 2
