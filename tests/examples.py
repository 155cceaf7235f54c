"""Kraken's documented example frames (tests/data/ws_examples.txt) and the BTC/USD worked book."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"


def ws_examples() -> dict[str, str]:
    """Example name -> raw frame text, exactly as Kraken's pages give it."""
    out = {}
    for line in (DATA / "ws_examples.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, frame = line.split(" ", 1)
            out[name] = frame
    return out


# Kraken's book checksum guide, its worked example: BTC/USD, price_precision 1, qty_precision 8.
BTC_ASKS = [
    ("45285.2", "0.00100000"),
    ("45286.4", "1.54571953"),
    ("45286.6", "1.54571109"),
    ("45289.6", "1.54560911"),
    ("45290.2", "0.15890660"),
    ("45291.8", "1.54553491"),
    ("45294.7", "0.04454749"),
    ("45296.1", "0.35380000"),
    ("45297.5", "0.09945542"),
    ("45299.5", "0.18772827"),
]
BTC_BIDS = [
    ("45283.5", "0.10000000"),
    ("45283.4", "1.54582015"),
    ("45282.1", "0.10000000"),
    ("45281.0", "0.10000000"),
    ("45280.3", "1.54592586"),
    ("45279.0", "0.07990000"),
    ("45277.6", "0.03310103"),
    ("45277.5", "0.30000000"),
    ("45277.3", "1.54602737"),
    ("45276.6", "0.15445238"),
]
BTC_CHECKSUM = 3310070434


def btc_snapshot_frame(checksum: int = BTC_CHECKSUM) -> str:
    def side(levels: list[tuple[str, str]]) -> str:
        return ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in levels)

    return (
        '{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD",'
        f'"bids":[{side(BTC_BIDS)}],"asks":[{side(BTC_ASKS)}],'
        f'"checksum":{checksum},"timestamp":"2023-10-06T17:35:55.440295Z"}}]}}'
    )
