"""The capture file format (sans-IO): records, blocks, and a reader that names every fault.

A capture file is::

    signature   10 bytes   b"\\x89GFCAP\\r\\n\\x1a\\n"   (a binary file mangled as text fails here)
    version      2 bytes   big-endian format version (:data:`FORMAT_VERSION`)
    blocks ...

and each block is::

    marker       4 bytes   b"GFBK"
    length       4 bytes   big-endian length of the payload
    crc          4 bytes   big-endian CRC-32 of the payload
    count        4 bytes   big-endian number of records
    payload               zlib-compressed msgpack array of records

The first block holds one :class:`Header`. Blocks are written whole and never rewritten, so a
file cut short (a killed process, a full disk) is readable up to its last complete block, and
a damaged block is found by its CRC and skipped (``salvage``) by looking for the next marker.
A cleanly closed file ends with an :class:`End` record.

Records carry a monotonic (``mono``, seconds on the engine's clock) and a wall (``wall``, epoch
seconds) timestamp. A replay needs two kinds: the frames received (:class:`WsIn`) and the
steps applied to the engine's state (:class:`Applied`: a subscription, a resync, a REST
answer, a reconciliation's verdict, a review decision), in the order they happened; state
changes (:class:`State`) give the connection rows. The rest is there for a person reading
the capture: operations (:class:`Op`, the engine's own actions that talk to the exchange) and
the frames they sent (:class:`WsOut`) and REST exchanges they made (:class:`HttpRequest`,
:class:`HttpResponse`), which carry the operation's id.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from galfriday.errors import CaptureError

__all__ = [
    "FORMAT_VERSION",
    "SIGNATURE",
    "Applied",
    "End",
    "Event",
    "Header",
    "HttpRequest",
    "HttpResponse",
    "Op",
    "Reader",
    "Record",
    "Skipped",
    "State",
    "WsIn",
    "WsOut",
    "encode_block",
    "file_prefix",
]

SIGNATURE: Final = b"\x89GFCAP\r\n\x1a\n"
FORMAT_VERSION: Final = 2  # 2: steps applied are recorded (Applied); 1 replayed operations
BLOCK_MARKER: Final = b"GFBK"
_PREFIX: Final = struct.Struct(">H")
_BLOCK: Final = struct.Struct(">4sIII")
MAX_BLOCK: Final = 256 * 1024 * 1024  # a length above this is damage, not data


class Header(msgspec.Struct, tag="h", array_like=True):
    """The first record of every file (each rotated part has its own)."""

    version: int
    galfriday: str
    session: str
    part: int
    mono: float
    wall: float
    config: dict[str, Any]
    pairs: list[str]


class WsIn(msgspec.Struct, tag="i", array_like=True):
    """A frame received, as the processor took it (``mono``/``wall`` are receive times)."""

    conn: str
    mono: float
    wall: float
    text: str


class WsOut(msgspec.Struct, tag="o", array_like=True):
    """A frame sent (redacted), by operation ``op`` (None: not part of an operation)."""

    conn: str
    mono: float
    wall: float
    text: str
    op: int | None = None


class State(msgspec.Struct, tag="s", array_like=True):
    """A connection's state change; ``reason`` holds the error or close code that caused it."""

    conn: str
    mono: float
    wall: float
    old: str
    new: str
    reason: str = ""


class Event(msgspec.Struct, tag="e", array_like=True):
    """Anything else in a connection's or the engine's life (an overrun, a reconnect request)."""

    conn: str
    mono: float
    wall: float
    kind: str
    detail: str = ""


class Op(msgspec.Struct, tag="p", array_like=True):
    """The start of one of the engine's operations; ``args`` are what it was called with."""

    id: int
    name: str
    mono: float
    wall: float
    args: dict[str, Any] = {}


class HttpRequest(msgspec.Struct, tag="q", array_like=True):
    """A REST request (no headers: they hold the key and signature; the body is redacted)."""

    op: int | None
    seq: int
    mono: float
    wall: float
    method: str
    path: str
    body: str = ""


class HttpResponse(msgspec.Struct, tag="r", array_like=True):
    """The answer to request ``seq``; ``error`` names a transport failure (then no status)."""

    op: int | None
    seq: int
    mono: float
    wall: float
    status: int
    body: str = ""
    error: str | None = None


class Applied(msgspec.Struct, tag="a", array_like=True):
    """A step applied to the engine's state (:mod:`galfriday.core.steps`), as bytes."""

    mono: float
    wall: float
    data: bytes


class End(msgspec.Struct, tag="z", array_like=True):
    """The last record of a cleanly closed file; ``dropped`` records could not be written."""

    mono: float
    wall: float
    records: int
    dropped: int = 0
    next_part: str | None = None


Record = Header | WsIn | WsOut | State | Event | Op | HttpRequest | HttpResponse | Applied | End

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(list[Record])


def file_prefix() -> bytes:
    """The bytes every capture file starts with."""
    return SIGNATURE + _PREFIX.pack(FORMAT_VERSION)


def encode_block(records: list[Any], level: int = 1) -> bytes:
    """One block holding ``records`` (the encoding and compression happen here)."""
    payload = zlib.compress(_ENCODER.encode(records), level)
    return _BLOCK.pack(BLOCK_MARKER, len(payload), zlib.crc32(payload), len(records)) + payload


@dataclass(frozen=True)
class Skipped:
    """A damaged stretch that ``salvage`` skipped."""

    offset: int
    length: int
    reason: str


@dataclass
class Reader:
    """Reads the records of one capture file held in memory (``data``), in order.

    Without ``salvage`` the first fault raises :class:`~galfriday.errors.CaptureError` naming
    ``name`` and the byte offset. With it, damaged blocks are skipped (listed in
    :attr:`skipped`) and reading goes on at the next block marker. A file that ends without
    its :class:`End` record is not an error (the engine was stopped abruptly); :attr:`complete`
    tells.
    """

    name: str
    data: bytes | mmap.mmap
    salvage: bool = False
    skipped: list[Skipped] = field(default_factory=list)
    complete: bool = False
    header: Header | None = None
    records: int = 0
    offset: int = 0
    _checked: bool = False

    def __post_init__(self) -> None:
        data = self.data
        if bytes(data[: len(SIGNATURE)]) != SIGNATURE:
            raise CaptureError(self.name, 0, "not a galfriday capture (no capture signature)")
        if len(data) < len(SIGNATURE) + _PREFIX.size:
            raise CaptureError(self.name, len(SIGNATURE), "truncated before its format version")
        (version,) = _PREFIX.unpack_from(data, len(SIGNATURE))
        if version != FORMAT_VERSION:
            raise CaptureError(
                self.name,
                len(SIGNATURE),
                f"capture format version {version}; this galfriday reads version"
                f" {FORMAT_VERSION} (use the galfriday that wrote it)",
            )
        self.offset = len(SIGNATURE) + _PREFIX.size
        first = next(self._blocks(), None)
        if not first or not isinstance(first[0], Header):
            raise CaptureError(self.name, self.offset, "no header block")
        self.header = first[0]
        self._rest = first[1:]

    def check(self) -> None:
        """Walk every block (markers, lengths, checksums) without decoding it, so damage is
        found before a replay starts (and, with ``salvage``, listed in :attr:`skipped`)."""
        begin = self.offset
        for _ in self._blocks(decode=False):
            pass
        self.offset, self.records, self._checked = begin, 0, True

    def blocks(self) -> Iterator[list[Record]]:
        """Every block's records after the header, in file order."""
        if self._rest:
            yield self._rest
        for records in self._blocks():
            if records and isinstance(records[-1], End):
                self.complete = True
            yield records

    def _blocks(self, decode: bool = True) -> Iterator[list[Record]]:
        data, size = self.data, len(self.data)
        while self.offset < size:
            start = self.offset
            try:
                records = self._block(start, decode)
            except _Damage as damage:
                if not self.salvage:
                    hint = "; --salvage replays what is readable" if self.records else ""
                    raise CaptureError(self.name, start, f"{damage}{hint}") from None
                resume = data.find(BLOCK_MARKER, start + 1)
                resume = size if resume < 0 else resume
                if not self._checked:
                    self.skipped.append(Skipped(start, resume - start, str(damage)))
                self.offset = resume
                continue
            self.records += len(records) if decode else 1
            yield records

    def _block(self, start: int, decode: bool = True) -> list[Record]:
        data, size = self.data, len(self.data)
        if size - start < _BLOCK.size:
            raise _Damage(f"truncated block header ({size - start} of {_BLOCK.size} bytes)")
        marker, length, crc, count = _BLOCK.unpack_from(data, start)
        if marker != BLOCK_MARKER:
            raise _Damage("no block marker (corrupted)")
        if length > MAX_BLOCK:
            raise _Damage(f"block length {length:,} is not plausible (corrupted)")
        body = start + _BLOCK.size
        if body + length > size:
            raise _Damage(f"truncated block ({size - body:,} of {length:,} bytes)")
        payload = data[body : body + length]
        if zlib.crc32(payload) != crc:
            raise _Damage("block checksum mismatch (corrupted)")
        if not decode:
            self.offset = body + length
            return []
        try:
            records = _DECODER.decode(zlib.decompress(payload))
        except (zlib.error, msgspec.DecodeError) as exc:
            raise _Damage(f"unreadable block ({exc})") from None
        if len(records) != count:
            raise _Damage(f"block holds {len(records)} records, its header says {count}")
        self.offset = body + length
        return records


class _Damage(Exception):
    pass
