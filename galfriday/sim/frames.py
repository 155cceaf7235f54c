"""Frames the simulator sends, written the way Kraken writes them (sans-IO).

Book numbers are written by hand at full precision with trailing zeros (``0.00100000``), as
Kraken does; everything else goes through galfriday's own wire structs and msgspec, so the
simulator speaks exactly the shapes the client decodes. Timestamps are RFC3339 with
microseconds; ``time_in``/``time_out`` come from the caller's wall clock.

A public channel's frame is written once per event and subscription key (channel and option),
then pushed to every session subscribed with that key; ``None`` means the event changed
nothing that subscription shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

import msgspec

from galfriday.kraken import wire
from galfriday.kraken.book import format_scaled
from galfriday.sim.account import utc_datetime
from galfriday.sim.exchange import Exchange, PublicUpdate
from galfriday.sim.market import PairSpec, SimBook

__all__ = [
    "ODD_PAIR",
    "book_frame",
    "encode",
    "error_response",
    "heartbeat",
    "instrument_frame",
    "private_update",
    "public_snapshot",
    "public_update",
    "rfc3339",
    "status_frame",
]

_ENCODER: Final = msgspec.json.Encoder(decimal_format="number")
HEARTBEAT: Final = b'{"channel":"heartbeat"}'


def encode(message: msgspec.Struct) -> bytes:
    return _ENCODER.encode(message)


def rfc3339(wall: float) -> str:
    """``2023-10-06T17:35:55.440295Z`` for an epoch time."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_STAMP = b'"timestamp":"'
_STAMP_WIDTH = len("2023-10-06T17:35:55.440295Z")


def restamp(frame: bytes, wall: float) -> bytes:
    """A book frame with its (last) ``timestamp`` set to ``wall``: the time it was sent."""
    at = frame.rfind(_STAMP)
    if at < 0:
        return frame
    start = at + len(_STAMP)
    return frame[:start] + rfc3339(wall).encode() + frame[start + _STAMP_WIDTH :]


def heartbeat() -> bytes:
    return HEARTBEAT


def status_frame(system: str, connection_id: int) -> bytes:
    data = wire.SystemStatus(
        system=system, api_version="v2", connection_id=connection_id, version="2.0.0"
    )
    return encode(wire.StatusMessage(type="update", data=[data]))


def _side(levels: Sequence[tuple[int, int]], pp: int, qp: int) -> str:
    return ",".join(
        f'{{"price":{format_scaled(p, pp)},"qty":{format_scaled(q, qp)}}}' for p, q in levels
    )


def book_frame(
    kind: str,
    spec: PairSpec,
    bids: Sequence[tuple[int, int]],
    asks: Sequence[tuple[int, int]],
    checksum: int,
    wall: float,
) -> bytes:
    """A ``book`` snapshot or update; levels are (ticks, lots)."""
    pp, qp = spec.price_precision, spec.qty_precision
    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{spec.symbol}",'
        f'"bids":[{_side(bids, pp, qp)}],"asks":[{_side(asks, pp, qp)}],'
        f'"checksum":{checksum},"timestamp":"{rfc3339(wall)}"}}]}}'
    ).encode()


def book_snapshot(book: SimBook, depth: int, wall: float) -> bytes:
    return book_frame(
        "snapshot",
        book.spec,
        book.top("bids", depth),
        book.top("asks", depth),
        book.checksum(),
        wall,
    )


# One pair that does not decode, as a real snapshot of about a thousand pairs may hold: its
# price precision is no number. A client must skip and count it, and read the others.
ODD_PAIR: Final = {
    "symbol": "ODD/USD", "base": "ODD", "quote": "USD", "status": "online",
    "price_precision": "four", "qty_precision": 8, "qty_min": 1.0,
}  # fmt: skip


def instrument_frame(
    pairs: Sequence[PairSpec], asset_precisions: dict[str, int], *, odd_pair: bool = False
) -> bytes:
    """The ``instrument`` snapshot of ``pairs``; with ``odd_pair``, :data:`ODD_PAIR` last."""
    assets = [
        wire.AssetInfo(id=asset, status="enabled", precision=precision, precision_display=5)
        for asset, precision in sorted(asset_precisions.items())
    ]
    infos = [
        wire.PairInfo(
            symbol=p.symbol,
            base=p.base,
            quote=p.quote,
            status="online",
            price_precision=p.price_precision,
            qty_precision=p.qty_precision,
            price_increment=p.tick,
            qty_increment=p.qty(1),
            qty_min=p.qty_min,
            cost_min=p.cost_min,
            cost_precision=p.cost_precision,
            marginable=False,
            has_index=True,
            tick_size=p.tick,
        )
        for p in pairs
    ]
    message = wire.InstrumentMessage(
        type="snapshot", data=wire.InstrumentData(assets=assets, pairs=infos)
    )
    if not odd_pair:
        return encode(message)
    frame = msgspec.to_builtins(message, builtin_types=(Decimal,))
    frame["data"]["pairs"].append(dict(ODD_PAIR))
    return _ENCODER.encode(frame)


def error_response(
    method: str, error: str, req_id: int | None, wall: float, symbol: str | None = None
) -> bytes:
    stamp = datetime.fromtimestamp(wall, UTC)
    return encode(
        wire.Response(
            method=method,
            success=False,
            error=error,
            req_id=req_id,
            symbol=symbol,
            time_in=stamp,
            time_out=stamp,
        )
    )


def public_update(
    exchange: Exchange, channel: str, option: object, update: PublicUpdate, wall: float
) -> bytes | None:
    """What a ``channel`` subscription (with its depth, interval or trigger ``option``) gets
    of one market event; None when it gets nothing."""
    step = update.step
    book = exchange.books[step.symbol]
    if channel == "book":
        view = book.view_update(step, option)  # type: ignore[arg-type]
        if view is None:
            return None
        return book_frame("update", book.spec, view[0], view[1], book.checksum(), wall)
    if channel == "trade":
        if not update.trades:
            return None
        return encode(wire.TradeMessage(type="update", data=update.trades))
    if channel == "ticker":
        top_changed = any(book.index(s, p) == 0 or q == 0 for s, p, q in step.changes)
        if not (update.trades or (option == "bbo" and top_changed)):
            return None
        return _ticker(exchange, step.symbol, "update")
    if channel == "ohlc":
        if not update.trades:
            return None
        return _ohlc(exchange, step.symbol, option, "update", wall)
    return None


def public_snapshot(
    exchange: Exchange, channel: str, symbol: str, option: object, wall: float
) -> bytes:
    """The snapshot a new subscription gets."""
    if channel == "book":
        return book_snapshot(exchange.books[symbol], option, wall)  # type: ignore[arg-type]
    if channel == "ticker":
        return _ticker(exchange, symbol, "snapshot")
    if channel == "trade":
        recent = list(exchange.recent[symbol])
        return encode(wire.TradeMessage(type="snapshot", data=recent))
    return _ohlc(exchange, symbol, option, "snapshot", wall)


def _ticker(exchange: Exchange, symbol: str, kind: str) -> bytes:
    return encode(wire.TickerMessage(type=kind, data=[exchange.ticker(symbol)]))


def _ohlc(exchange: Exchange, symbol: str, interval: object, kind: str, wall: float) -> bytes:
    candle = exchange.candle(symbol, interval, wall)  # type: ignore[arg-type]
    data = [candle] if candle else []
    return encode(wire.OhlcMessage(type=kind, data=data, timestamp=utc_datetime(wall)))


def private_update(record: wire.ExecutionReport | wire.BalanceEntry, sequence: int) -> bytes:
    """One private-stream record as its channel's ``update`` with the session's ``sequence``."""
    message: msgspec.Struct
    if isinstance(record, wire.ExecutionReport):
        message = wire.ExecutionsMessage(type="update", data=[record], sequence=sequence)
    else:
        message = wire.BalancesMessage(type="update", data=[record], sequence=sequence)
    return encode(message)
