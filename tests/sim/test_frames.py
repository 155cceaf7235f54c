"""Frames written the way Kraken writes them."""

from __future__ import annotations

from galfriday.sim import frames


def test_restamp_sets_the_send_time_and_keeps_the_rest_of_the_frame() -> None:
    frame = (
        b'{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],'
        b'"checksum":12,"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
    )
    sent = frames.restamp(frame, 1_700_000_000.25)
    assert sent == frame.replace(b"2023-10-06T17:35:55.440295Z", b"2023-11-14T22:13:20.250000Z")
    assert frames.restamp(b'{"channel":"heartbeat"}', 1.0) == b'{"channel":"heartbeat"}'
