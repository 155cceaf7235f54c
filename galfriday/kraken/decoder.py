"""Kraken WebSocket v2 frame decoding: one reusable :class:`FrameDecoder` per stream.

Rules:
- A frame decodes to one of the :data:`~galfriday.kraken.messages.Message` structs. A frame of
  a channel with one struct goes through a single decoder of the union of those structs, which
  dispatches on ``channel`` in C (one pass, wherever the key is); any frame that this decoder
  refuses (``instrument``, responses, unknown channels, malformed frames) is decoded again the
  careful way: sniffed for its ``channel`` or ``method``, then that decoder, so its result or
  its error is the one that decoder gives.
- Unknown channels and methods decode to :class:`~galfriday.kraken.messages.UnknownFrame` and
  are counted; a frame that does not decode raises :class:`~galfriday.errors.MalformedFrame`
  carrying msgspec's path (``$.data[0].price``). Nothing else escapes :meth:`FrameDecoder.decode`.
- Numbers must be sane (:mod:`galfriday.kraken.bounds`): a frame of a channel that holds
  Decimals with a bad one is malformed, with the path of that number. The book path has no
  check (its floats cannot hold such values).
- The ``instrument`` snapshot lists every pair (about a thousand): each pair and asset is
  decoded on its own, and one that does not decode (or holds an insane number) is left out and
  listed in :attr:`~galfriday.kraken.messages.InstrumentData.skipped` (and counted as
  ``skipped``); the frame is not malformed.
- ``cancel_all_orders_after`` answers ``triggerTime: "0"`` when it disarms the switch: that
  decodes as ``trigger_time=None`` (as an absent ``triggerTime`` does).

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final, Protocol, Union

import msgspec

from galfriday.errors import MalformedFrame
from galfriday.kraken.bounds import BAD_NUMBER_REASON, bad_number, suspect
from galfriday.kraken.messages import (
    AssetInfo,
    BalancesMessage,
    BookMessage,
    ExactBookMessage,
    ExecutionsMessage,
    Heartbeat,
    InstrumentData,
    InstrumentMessage,
    Message,
    OhlcMessage,
    PairInfo,
    Response,
    SkippedEntry,
    StatusMessage,
    TickerMessage,
    TradeMessage,
    UnknownFrame,
)

__all__ = ["FrameDecoder"]


class _Envelope(msgspec.Struct):
    channel: str | None = None
    method: str | None = None


class _Decoding(Protocol):
    def decode(self, buf: bytes | str, /) -> Any: ...


class _RawInstrumentData(msgspec.Struct):
    assets: list[msgspec.Raw] = []
    pairs: list[msgspec.Raw] = []


class _RawInstrument(msgspec.Struct):
    type: str
    data: _RawInstrumentData


class _Named(msgspec.Struct):
    symbol: Any = None
    id: Any = None


class _InstrumentDecoder:
    """Decodes an ``instrument`` frame entry by entry; counts what it leaves out."""

    def __init__(self) -> None:
        self._frame = msgspec.json.Decoder(_RawInstrument)
        self._asset = msgspec.json.Decoder(AssetInfo)
        self._pair = msgspec.json.Decoder(PairInfo)
        self._name = msgspec.json.Decoder(_Named)
        self.skipped = 0

    def decode(self, raw: bytes | str) -> InstrumentMessage:
        frame = self._frame.decode(raw)
        skipped: list[SkippedEntry] = []
        assets = self._entries("asset", frame.data.assets, self._asset, skipped)
        pairs = self._entries("pair", frame.data.pairs, self._pair, skipped)
        self.skipped += len(skipped)
        data = InstrumentData(assets=assets, pairs=pairs, skipped=skipped)
        return InstrumentMessage(type=frame.type, data=data)

    def _entries(
        self,
        kind: str,
        raws: list[msgspec.Raw],
        decoder: msgspec.json.Decoder[Any],
        skipped: list[SkippedEntry],
    ) -> list[Any]:
        entries = []
        for index, item in enumerate(raws):
            where = f"$.data.{kind}s[{index}]"
            try:
                entry = decoder.decode(item)
            except msgspec.DecodeError as exc:
                error = _malformed(exc, bytes(item))
                path = where + error.path[1:]
                skipped.append(self._skip(kind, item, path, error.reason))
                continue
            path_of_bad = bad_number(entry, where) if suspect((entry,)) else None
            if path_of_bad is None:
                entries.append(entry)
            else:
                skipped.append(self._skip(kind, item, path_of_bad, BAD_NUMBER_REASON))
        return entries

    def _skip(self, kind: str, item: msgspec.Raw, path: str, reason: str) -> SkippedEntry:
        try:
            named = self._name.decode(item)
            name = named.symbol if kind == "pair" else named.id
        except msgspec.DecodeError:
            name = None
        name = name if isinstance(name, str) else ""
        text = bytes(item).decode("utf-8", "replace")[:200]
        return SkippedEntry(kind=kind, name=name, path=path, reason=reason, raw=text)


_CHANNEL_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    "status": StatusMessage,
    "heartbeat": Heartbeat,
    "book": BookMessage,
    "ticker": TickerMessage,
    "trade": TradeMessage,
    "ohlc": OhlcMessage,
    "executions": ExecutionsMessage,
    "balances": BalancesMessage,
}
# Channels whose messages hold Decimals, all in ``data`` (a list of structs).
_CHECKED: Final = frozenset({"ticker", "trade", "ohlc", "executions", "balances"})
# The message type of each channel: its counter name and whether its numbers are checked.
_BY_TYPE: Final = {cls: (name, name in _CHECKED) for name, cls in _CHANNEL_TYPES.items()}
_ANY_CHANNEL: Final[Any] = Union[tuple(_CHANNEL_TYPES.values())]  # noqa: UP007
_PATH = re.compile(r" - at `(\$[^`]*)`$")
_DISARMED: Final = re.compile(rb'"triggerTime"\s*:\s*"0"')
_NO_TIME: Final = b'"triggerTime":null'
_PREFIX_STR: Final = '{"channel":"'
_PREFIX_BYTES: Final = b'{"channel":"'
_PREFIX_LEN: Final = len(_PREFIX_STR)


def _data(message: Any) -> Sequence[Any]:
    """The ``data`` list of a message of the :data:`_CHECKED` channels."""
    data: Sequence[Any] = message.data
    return data


def _malformed(exc: Exception, raw: bytes | str) -> MalformedFrame:
    text = str(exc)
    match = _PATH.search(text)
    if match:
        return MalformedFrame(text[: match.start()], match.group(1), raw)
    return MalformedFrame(text, "$", raw)


class FrameDecoder:
    """Decodes Kraken v2 frames into :data:`Message` structs; one instance per stream.

    It counts what it saw (:meth:`statistics`): frames per channel or method, unknown frames,
    malformed ones and ``instrument`` entries skipped. Not thread-safe; cheap to create.
    """

    def __init__(self) -> None:
        self._instrument = _InstrumentDecoder()
        self._by_channel: dict[str, _Decoding] = {
            name: msgspec.json.Decoder(cls) for name, cls in _CHANNEL_TYPES.items()
        }
        self._by_channel["instrument"] = self._instrument
        self._any_channel: msgspec.json.Decoder[Message] = msgspec.json.Decoder(_ANY_CHANNEL)
        self._by_channel_bytes = {name.encode(): name for name in self._by_channel}
        self._exact_book = msgspec.json.Decoder(ExactBookMessage)
        self._response = msgspec.json.Decoder(Response)
        self._envelope = msgspec.json.Decoder(_Envelope)
        self.counts: dict[str, int] = {}
        self.unknown = 0
        self.malformed = 0

    @property
    def skipped(self) -> int:
        """``instrument`` assets and pairs left out so far (each listed in its message)."""
        return self._instrument.skipped

    def decode(self, raw: bytes | str) -> Message:
        """Decode one frame.

        Raises:
            MalformedFrame: not JSON, a known channel/method with the wrong shape, or a number
                that is not finite or too large (see the module rules).
        """
        try:
            message: Message = self._any_channel.decode(raw)
        except (msgspec.MsgspecError, ValueError, TypeError, RecursionError):
            name, message = self._decode_careful(raw)
            checked = name in _CHECKED
        else:
            name, checked = _BY_TYPE[type(message)]
        if checked and suspect(_data(message)):
            self._refuse_bad_number(message, raw)
        counts = self.counts
        counts[name] = counts.get(name, 0) + 1
        return message

    def decode_exact_book(self, raw: bytes | str) -> ExactBookMessage:
        """Decode a book frame with Decimal levels (for values too large for the float path).

        Raises:
            MalformedFrame: as :meth:`decode`.
        """
        try:
            message: ExactBookMessage = self._exact_book.decode(raw)
        except (msgspec.MsgspecError, ValueError, TypeError, RecursionError) as exc:
            self.malformed += 1
            raise _malformed(exc, raw) from exc
        if suspect((message,)):
            self._refuse_bad_number(message, raw)
        return message

    def statistics(self) -> dict[str, int]:
        """A copy of the counters by channel or method, plus ``unknown``, ``malformed`` and
        ``skipped`` (instrument entries)."""
        return {
            **self.counts,
            "unknown": self.unknown,
            "malformed": self.malformed,
            "skipped": self.skipped,
        }

    def _decode_careful(self, raw: bytes | str) -> tuple[str, Message]:
        """A frame the union decoder refused: its own channel's decoder, or the slow path."""
        try:
            name = self._sniff(raw)
            if name is not None:
                return name, self._by_channel[name].decode(raw)
            return self._decode_slow(raw)
        except (msgspec.MsgspecError, ValueError, TypeError, RecursionError) as exc:
            self.malformed += 1
            raise _malformed(exc, raw) from exc

    def _refuse_bad_number(self, message: Message, raw: bytes | str) -> None:
        path = bad_number(message)
        if path is not None:
            self.malformed += 1
            raise MalformedFrame(BAD_NUMBER_REASON, path, raw)

    def _sniff(self, raw: bytes | str) -> str | None:
        """The channel of a frame written the way Kraken writes it (channel key first)."""
        if isinstance(raw, str):
            if raw.startswith(_PREFIX_STR):
                name = raw[_PREFIX_LEN : raw.find('"', _PREFIX_LEN)]
                return name if name in self._by_channel else None
        elif raw.startswith(_PREFIX_BYTES):
            return self._by_channel_bytes.get(raw[_PREFIX_LEN : raw.find(b'"', _PREFIX_LEN)])
        return None

    def _decode_slow(self, raw: bytes | str) -> tuple[str, Message]:
        envelope = self._envelope.decode(raw)
        if envelope.channel is not None:
            decoder = self._by_channel.get(envelope.channel)
            if decoder is not None:
                return envelope.channel, decoder.decode(raw)
            self.unknown += 1
            unknown = UnknownFrame(kind="channel", name=envelope.channel)
            return f"unknown channel {envelope.channel}", unknown
        if envelope.method == "cancel_all_orders_after":  # "0": disarmed, no time to decode
            text = raw.encode() if isinstance(raw, str) else raw
            return envelope.method, self._response.decode(_DISARMED.sub(_NO_TIME, text))
        if envelope.method is not None:
            return envelope.method, self._response.decode(raw)
        self.unknown += 1
        return "unknown shape", UnknownFrame(kind="shape", name="")
