"""The capture file format: round trip, and every kind of damage named by file and byte."""

from __future__ import annotations

import random

import pytest

from galfriday.capture.format import (
    FORMAT_VERSION,
    SIGNATURE,
    End,
    Header,
    HttpResponse,
    Op,
    Reader,
    Record,
    State,
    WsIn,
    WsOut,
    encode_block,
    file_prefix,
)
from galfriday.errors import CaptureError, ConfigError

HEADER = Header(FORMAT_VERSION, "0.0.0", "abc123", 1, 10.0, 1.7e9, {"private": True}, ["BTC/USD"])


def blocks() -> list[list[Record]]:
    out: list[list[Record]] = []
    for b in range(20):
        block: list[Record] = [
            WsIn("public", 10.0 + b + i / 100, 1.7e9 + b, f'{{"channel":"heartbeat","n":{i}}}')
            for i in range(50)
        ]
        block.append(Op(b + 1, "resync", 10.0 + b, 1.7e9 + b, {"symbol": "BTC/USD"}))
        block.append(WsOut("public", 10.0 + b, 1.7e9 + b, '{"method":"ping"}', b + 1))
        block.append(HttpResponse(b + 1, b, 10.0 + b, 1.7e9 + b, 200, '{"error":[]}'))
        block.append(State("public", 10.0 + b, 1.7e9 + b, "connected", "subscribed"))
        out.append(block)
    out.append([End(99.0, 1.7e9 + 99, 1000)])
    return out


def build(parts: list[list[Record]]) -> tuple[bytes, list[int]]:
    """The file's bytes, and the offset where each block after the header starts."""
    data = bytearray(file_prefix() + encode_block([HEADER]))
    starts = []
    for records in parts:
        starts.append(len(data))
        data += encode_block(records)
    return bytes(data), starts


def read_all(reader: Reader) -> list[Record]:
    return [r for block in reader.blocks() for r in block]


def test_round_trip_keeps_every_record_in_order() -> None:
    parts = blocks()
    data, _ = build(parts)
    reader = Reader("x.gfcap", data)
    assert reader.header == HEADER
    assert read_all(reader) == [r for block in parts for r in block]
    assert reader.complete
    assert reader.skipped == []


def test_a_file_without_its_end_record_is_readable_and_marked_incomplete() -> None:
    data, _ = build(blocks()[:-1])
    reader = Reader("x.gfcap", data)
    assert len(read_all(reader)) == 20 * 54
    assert not reader.complete


def test_not_a_capture_names_the_file_and_byte_zero() -> None:
    with pytest.raises(CaptureError) as caught:
        Reader("notes.txt", b"hello, this is text\n")
    assert str(caught.value) == (
        "notes.txt: not a galfriday capture (no capture signature) (at byte 0)"
    )
    assert isinstance(caught.value, ConfigError)  # so the CLI exits 2 with one line


def test_an_empty_file_is_not_a_capture() -> None:
    with pytest.raises(CaptureError, match="at byte 0"):
        Reader("empty.gfcap", b"")


def test_another_format_version_is_refused_before_reading_records() -> None:
    data = SIGNATURE + (FORMAT_VERSION + 1).to_bytes(2, "big") + encode_block([HEADER])
    with pytest.raises(CaptureError, match=r"format version 3; this galfriday reads version 2"):
        Reader("future.gfcap", data)


@pytest.mark.parametrize("seed", range(12))
def test_truncation_anywhere_is_an_error_at_the_last_complete_block(seed: int) -> None:
    data, starts = build(blocks())
    cut = random.Random(seed).randrange(starts[0] + 1, len(data))
    if cut in starts:
        cut += 1
    broken = next(s for s in reversed(starts) if s < cut)
    reader = Reader("cut.gfcap", data[:cut])
    with pytest.raises(CaptureError) as caught:
        read_all(reader)
    assert caught.value.offset == broken
    assert "truncated" in str(caught.value)
    assert f"(at byte {broken:,})" in str(caught.value)


@pytest.mark.parametrize("seed", range(12))
def test_salvage_keeps_every_complete_block_before_a_cut(seed: int) -> None:
    parts = blocks()
    data, starts = build(parts)
    cut = random.Random(seed).randrange(starts[0] + 1, len(data))
    whole = sum(1 for s in [*starts[1:], len(data)] if s <= cut)
    reader = Reader("cut.gfcap", data[:cut], salvage=True)
    records = read_all(reader)
    assert records == [r for block in parts[:whole] for r in block]
    assert len(reader.skipped) == (0 if cut in starts or cut == len(data) else 1)


def test_a_flipped_byte_is_found_by_the_checksum_and_salvage_skips_only_that_block() -> None:
    parts = blocks()
    data, starts = build(parts)
    damaged = bytearray(data)
    damaged[starts[5] + 40] ^= 0xFF
    with pytest.raises(CaptureError) as caught:
        read_all(Reader("bad.gfcap", bytes(damaged)))
    assert caught.value.offset == starts[5]
    assert "checksum mismatch" in str(caught.value)
    assert "--salvage" in str(caught.value)

    reader = Reader("bad.gfcap", bytes(damaged), salvage=True)
    records = read_all(reader)
    assert records == [r for i, block in enumerate(parts) if i != 5 for r in block]
    assert [(s.offset, s.length) for s in reader.skipped] == [(starts[5], starts[6] - starts[5])]
    assert reader.complete


def test_a_damaged_block_length_is_not_trusted() -> None:
    data, starts = build(blocks())
    damaged = bytearray(data)
    damaged[starts[3] + 4 : starts[3] + 8] = (2**31).to_bytes(4, "big")
    with pytest.raises(CaptureError, match="not plausible"):
        read_all(Reader("bad.gfcap", bytes(damaged)))
    reader = Reader("bad.gfcap", bytes(damaged), salvage=True)
    assert len(read_all(reader)) == 20 * 54 + 1 - 54


def test_garbage_between_blocks_is_skipped_by_salvage() -> None:
    parts = blocks()
    data, starts = build(parts)
    spliced = data[: starts[2]] + b"\x00garbage\x00" * 10 + data[starts[2] :]
    with pytest.raises(CaptureError, match="no block marker"):
        read_all(Reader("spliced.gfcap", spliced))
    reader = Reader("spliced.gfcap", spliced, salvage=True)
    assert read_all(reader) == [r for block in parts for r in block]
    assert reader.skipped[0].length == 90
