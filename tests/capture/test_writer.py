"""The capture writer and the tape: blocks on time, rotation, drops, redaction, file modes."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing
from loguru import logger

from galfriday.capture.format import End, Event, Header, Op, Reader, Record, WsIn, WsOut
from galfriday.capture.tape import REDACTED, CaptureTape, Redactor, Tape, current_op
from galfriday.capture.writer import SUFFIX, CaptureConfig, CaptureWriter
from galfriday.errors import ConfigError


def read(path: Path) -> tuple[Header, list[Record], Reader]:
    reader = Reader(str(path), path.read_bytes())
    records = [r for block in reader.blocks() for r in block]
    assert reader.header is not None
    return reader.header, records, reader


def frame(i: int) -> WsIn:
    return WsIn("public", float(i), 1.7e9 + i, f'{{"channel":"heartbeat","i":{i}}}')


async def test_blocks_reach_the_file_within_a_flush_period_and_the_file_is_0600(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    writer = CaptureWriter(CaptureConfig(folder=tmp_path), "sess01", {"k": 1}, ["BTC/USD"])
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for i in range(100):
            writer.append(frame(i))
        await writer.next_block()  # written by the flusher, within its period
        # As a kill -9 would leave it: readable, complete blocks only, no End record.
        header, records, reader = read(writer.paths[0])
        assert records == [frame(i) for i in range(100)]
        assert not reader.complete
        assert (header.session, header.part, header.pairs) == ("sess01", 1, ["BTC/USD"])
        writer.append(frame(100))
        nursery.cancel_scope.cancel()
    _, records, reader = read(writer.paths[0])
    assert records[-2] == frame(100)
    assert isinstance(records[-1], End) and records[-1].records == 101
    assert reader.complete
    assert stat.S_IMODE(writer.paths[0].stat().st_mode) == 0o600


async def test_parts_rotate_by_size_each_with_a_header_and_a_link_to_the_next(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    config = CaptureConfig(folder=tmp_path, max_bytes=2_000, level=0)
    writer = CaptureWriter(config, "sess02", {}, [])
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for i in range(300):
            writer.append(frame(i))
            if i % 20 == 19:
                await writer.flush()
        nursery.cancel_scope.cancel()
    assert len(writer.paths) > 2
    seen: list[Record] = []
    for number, path in enumerate(writer.paths, start=1):
        header, records, reader = read(path)
        assert header.part == number and reader.complete
        end = records[-1]
        assert isinstance(end, End)
        following = writer.paths[number].name if number < len(writer.paths) else None
        assert end.next_part == following
        seen += records[:-1]
    assert seen == [frame(i) for i in range(300)]


def test_parts_rotate_by_age(tmp_path: Path) -> None:
    # The worker-thread side on its own: virtual time and real threads do not mix.
    writer = CaptureWriter(CaptureConfig(folder=tmp_path, max_seconds=60), "sess03", {}, [])
    writer._open(0.0)
    for i in range(6):
        writer._write([frame(i)], now=25.0 * i)  # 0 25 50 | 75 100 125 | ...
    writer._close(End(150.0, 0.0, 6))
    assert [len(read(path)[1]) for path in writer.paths] == [4, 4]  # 3 frames + End each


async def test_a_stalled_disk_drops_records_instead_of_blocking_and_says_so(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    writer = CaptureWriter(CaptureConfig(folder=tmp_path, max_pending=10), "sess04", {}, [])
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for i in range(25):
            writer.append(frame(i))  # all within one flush period: 15 do not fit
        nursery.cancel_scope.cancel()
    _, records, _ = read(writer.paths[0])
    assert records[:10] == [frame(i) for i in range(10)]
    assert Event("capture", records[10].mono, records[10].wall, "dropped", "15") == records[10]
    end = records[-1]
    assert isinstance(end, End) and end.dropped == 15


async def test_the_capture_tape_redacts_tokens_and_keys_at_write_time() -> None:
    kept: list[Record] = []
    tape = CaptureTape(kept.append, Redactor(["my-api-key-123456"]))
    with tape.op("connect", conn="private") as op:
        assert current_op() is op
        tape.ws_out("private", '{"method":"subscribe","params":{"token":"SECRETTOKEN1"}}')
    assert current_op() is None
    tape.ws_in("private", 1.0, 2.0, '{"echo":"my-api-key-123456"}')
    tape.state("private", "connected", "disconnected", "refused for my-api-key-123456", 1, 2)
    assert isinstance(kept[0], Op) and kept[0].name == "connect"
    out = kept[1]
    assert isinstance(out, WsOut) and out.op == op.id
    assert out.text == f'{{"method":"subscribe","params":{{"token":"{REDACTED}"}}}}'
    text = repr(kept)
    assert "SECRETTOKEN1" not in text and "my-api-key-123456" not in text


async def test_a_tape_that_is_off_records_nothing_but_still_numbers_operations() -> None:
    tape = Tape()
    with tape.op("a") as first, tape.op("b") as second:
        assert (first.id, second.id) == (1, 2)
        assert current_op() is second
    assert current_op() is None


class FullDisk:
    """``os.write`` for one file descriptor that, while ``full``, writes a few bytes of a
    block and then fails with ENOSPC, as a filling disk does; other descriptors pass."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fd = -1
        self.full = False
        self._write = os.write
        monkeypatch.setattr(os, "write", self.write)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if fd != self.fd or not self.full:
            return self._write(fd, data)
        if len(data) > 10:
            return self._write(fd, data[:10])  # a part of the block reaches the file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    logger.enable("galfriday")
    yield lines
    logger.disable("galfriday")
    logger.remove(sink)


async def test_a_full_disk_drops_and_counts_blocks_and_the_capture_goes_on(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    logs: list[str],
) -> None:
    disk = FullDisk(monkeypatch)
    writer = CaptureWriter(CaptureConfig(folder=tmp_path), "sess05", {}, [])
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        disk.fd = writer._file._fd  # type: ignore[union-attr]
        writer.append(frame(0))
        await writer.next_block()
        disk.full = True
        for i in range(1, 6):
            writer.append(frame(i))
            await writer.flush()  # refused: dropped and counted, nothing raised
        assert writer.failing and writer.dropped == 5
        assert writer.last_error == "No space left on device"
        disk.full = False
        writer.append(frame(6))
        await writer.flush()
        assert not writer.failing
        nursery.cancel_scope.cancel()
    _, records, reader = read(writer.paths[0])
    assert reader.complete  # no piece of a refused block was left in the file
    assert records[:2] == [frame(0), frame(6)]
    dropped = records[2]
    assert isinstance(dropped, Event) and (dropped.kind, dropped.detail) == ("dropped", "5")
    end = records[-1]
    assert isinstance(end, End) and end.dropped == 5
    refusals = [line for line in logs if "cannot write" in line]
    assert len(refusals) == 1 and "No space left on device" in refusals[0]  # once an episode
    assert any("writing again (5 records were dropped)" in line for line in logs)


async def test_a_part_that_cannot_be_opened_is_tried_again_at_the_next_flush(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = CaptureConfig(folder=tmp_path, max_bytes=1, level=0)  # every block rotates
    writer = CaptureWriter(config, "sess06", {}, [])
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        refuse = True
        real_open = os.open

        def open_(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
            if refuse and str(path).endswith(SUFFIX):
                raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
            return real_open(path, flags, mode)

        monkeypatch.setattr(os, "open", open_)
        writer.append(frame(0))
        await writer.flush()  # part 1 closed, part 2 cannot be opened: the block is dropped
        assert writer.failing and writer.dropped == 1 and len(writer.paths) == 1
        refuse = False
        writer.append(frame(1))
        await writer.flush()
        assert not writer.failing and len(writer.paths) == 2
        nursery.cancel_scope.cancel()
    end = read(writer.paths[0])[1][-1]
    assert isinstance(end, End) and end.next_part == writer.paths[1].name
    _, records, reader = read(writer.paths[1])
    assert records[0] == frame(1) and reader.complete


async def test_a_capture_folder_that_cannot_be_written_is_a_config_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")
    writer = CaptureWriter(CaptureConfig(folder=tmp_path / "file" / "sub"), "sess07", {}, [])
    with pytest.RaisesGroup(pytest.RaisesExc(ConfigError, match="capture folder")):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)


async def test_a_session_stopped_on_a_full_disk_leaves_a_readable_part(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch)
    writer = CaptureWriter(CaptureConfig(folder=tmp_path), "sess08", {}, [])
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        disk.fd = writer._file._fd  # type: ignore[union-attr]
        writer.append(frame(0))
        await writer.next_block()
        disk.full = True
        writer.append(frame(1))
        nursery.cancel_scope.cancel()  # the last block and the End are refused too
    _, records, reader = read(writer.paths[0])
    assert records == [frame(0)] and not reader.complete
