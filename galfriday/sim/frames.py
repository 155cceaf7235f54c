"""Frames the simulator sends, written the way Kraken writes them (sans-IO).

Book numbers are written by hand at full precision with trailing zeros (``0.00100000``), as
Kraken does; everything else goes through galfriday's own wire structs and msgspec, so the
simulator speaks exactly the shapes the client decodes. Timestamps are RFC3339 with
microseconds; ``time_in``/``time_out`` come from the caller's wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import msgspec

from galfriday.kraken import wire
from galfriday.kraken.book import format_scaled
from galfriday.sim.market import PairSpec, SimBook

__all__ = [
    "book_frame",
    "encode",
    "error_response",
    "heartbeat",
    "instrument_frame",
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


def instrument_frame(pairs: Sequence[PairSpec], asset_precisions: dict[str, int]) -> bytes:
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
    return encode(
        wire.InstrumentMessage(
            type="snapshot", data=wire.InstrumentData(assets=assets, pairs=infos)
        )
    )


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
