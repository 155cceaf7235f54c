"""The capture writer and the tape: blocks on time, rotation, drops, redaction, file modes."""

from __future__ import annotations

import stat
from pathlib import Path

import trio
import trio.testing

from galfriday.capture.format import End, Event, Header, Op, Reader, Record, WsIn, WsOut
from galfriday.capture.tape import REDACTED, CaptureTape, Redactor, Tape, current_op
from galfriday.capture.writer import CaptureConfig, CaptureWriter


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
