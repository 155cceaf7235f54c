"""Fuzzing the frame decoders and processors: 100,000+ random and mutated frames.

A seeded mutation fuzzer (fast enough for 100k frames in seconds) over a corpus of
Kraken's documented example frames and verified book traffic, plus a hypothesis property
over arbitrary JSON. Every frame goes through the public processor (``MarketData``) and
the private one (``PrivateStream``). Nothing may escape them; every frame the decoder
refuses must be counted and audited exactly once.
"""

from __future__ import annotations

import json
import random
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from galfriday.bus import Bus
from galfriday.core.health import ConnectionMetrics
from galfriday.errors import MalformedFrame
from galfriday.kraken import wire
from galfriday.kraken.rest import KrakenRest, RestConfig
from galfriday.live.connection import Frame
from galfriday.live.marketdata import MarketData, MarketDataConfig
from galfriday.live.private import PrivateConfig, PrivateStream
from galfriday.live.recorder import Recorder
from tests.bench.frames import make_traffic
from tests.examples import ws_examples
from tests.live.helpers import Audit

FRAMES = 100_000
_SURPRISES: list[Any] = [
    None, True, -1, 0, 1e308, -1e-308, 2**70, "", "x" * 300, "1e9999", [], {}, [[]],
    {"a": 1}, "NaN", "BTC/USD", -0.0,
]  # fmt: skip


class Processors:
    """A public and a private processor with an audit that keeps every row."""

    def __init__(self, symbols: tuple[str, ...], books: dict[str, tuple[int, int]]) -> None:
        self.audit = Audit()
        bus = Bus()
        self.public = MarketData(
            MarketDataConfig(symbols=symbols),
            Recorder(bus, self.audit),
            ConnectionMetrics("public", 0.0),
        )
        for symbol, (pp, qp) in books.items():
            base, quote = symbol.split("/")
            self.public.pairs[symbol] = wire.PairInfo(
                symbol=symbol, base=base, quote=quote, price_precision=pp, qty_precision=qp
            )
        rest = KrakenRest(RestConfig(base_url="http://127.0.0.1:9"))  # never called
        self.private = PrivateStream(
            PrivateConfig(), Recorder(bus, self.audit), ConnectionMetrics("private", 0.0), rest
        )
        self.decoder = wire.FrameDecoder()
        self.refused = 0

    def feed(self, text: str, at: float) -> None:
        try:
            self.decoder.decode(text)
        except MalformedFrame:
            self.refused += 1
        self.public.process(Frame(text, at, at, "public"))
        self.private.process(Frame(text, at, at, "private"))


def _mutate_json(value: Any, rng: random.Random) -> Any:
    """Change one random place of a decoded frame: a value, a key, a list."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        roll = rng.random()
        if roll < 0.15:
            del value[key]
        elif roll < 0.25:
            value[key + rng.choice(("_", "X", ""))] = value.pop(key)
        else:
            value[key] = _mutate_json(value[key], rng)
        return value
    if isinstance(value, list) and value:
        index = rng.randrange(len(value))
        roll = rng.random()
        if roll < 0.15:
            del value[index]
        elif roll < 0.25:
            value.insert(index, value[index])
        else:
            value[index] = _mutate_json(value[index], rng)
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and rng.random() < 0.5:
        return value * rng.choice((-1, 10, 0.1, 1e12)) + rng.choice((0, 1, -1))
    return rng.choice(_SURPRISES)


def _mutate_text(text: str, rng: random.Random) -> str:
    """Byte-level damage: cut, flip, insert, duplicate."""
    roll = rng.random()
    if roll < 0.25:
        return text[: rng.randrange(len(text) + 1)]
    i = rng.randrange(len(text))
    if roll < 0.5:
        return text[:i] + chr(rng.randrange(32, 127)) + text[i + 1 :]
    if roll < 0.75:
        return text[:i] + rng.choice(('"', "{", "}", "[", ",", ":", "\\", "\x00")) + text[i:]
    j = min(len(text), i + rng.randrange(1, 40))
    return text[:j] + text[i:j] + text[j:]


def _corpus() -> tuple[list[str], dict[str, tuple[int, int]]]:
    traffic = make_traffic(pairs=3, depth=10, updates=300, seed=11)
    frames = [f.decode() for f in traffic.snapshots + traffic.updates]
    return list(ws_examples().values()) + frames, traffic.books


@pytest.mark.slow
def test_a_hundred_thousand_random_and_mutated_frames_escape_nothing_and_are_all_counted() -> None:
    corpus, books = _corpus()
    processors = Processors(tuple(books), books)
    rng = random.Random(2026)
    kinds = {"json": 0, "text": 0, "random": 0, "original": 0}
    for n in range(FRAMES):
        roll = rng.random()
        base = rng.choice(corpus)
        if roll < 0.45:
            text = json.dumps(_mutate_json(json.loads(base), rng))
            kinds["json"] += 1
        elif roll < 0.85:
            text = _mutate_text(base, rng)
            kinds["text"] += 1
        elif roll < 0.95:
            text = "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(0, 80)))
            kinds["random"] += 1
        else:
            text = base  # real frames keep the books alive, so later damage meets state
            kinds["original"] += 1
        processors.feed(text, float(n))
    public, private, audit = processors.public, processors.private, processors.audit
    assert public.stats.frames == FRAMES
    # Every refused frame counted by both processors and audited once by each.
    assert public.stats.malformed == processors.refused
    assert private.machine.malformed == processors.refused
    # (An instrument frame whose pair or asset entries are odd is not refused: the entries are
    # skipped, each audited, and the rest serves.)
    refusals = [
        r for r in audit.table("decode_errors") if not r["reason"].startswith(("pair ", "asset "))
    ]
    assert len(refusals) == 2 * processors.refused
    assert (
        public.stats.failed == 0 and private.machine.failed_frames == 0
    )  # no frame broke our code
    assert processors.refused > FRAMES // 3  # the fuzzer does reach the refusal paths
    assert all(row["reason"] for row in audit.table("decode_errors"))
    # ...and the accepting paths: books verified and mismatched, gaps, anomalies.
    assert sum(feed.total_verified for feed in public.books.values()) > 100
    assert sum(feed.total_mismatched for feed in public.books.values()) > 0
    assert private.machine.gaps > 0 and audit.table("order_anomalies")
    assert min(kinds.values()) > 0


@pytest.mark.slow
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                ["channel", "type", "data", "symbol", "bids", "asks", "price", "qty",
                 "checksum", "sequence", "exec_type", "order_id", "method", "req_id",
                 "success", "result", "asset", "balance", "ledger_id"]
            ),
            children,
            max_size=6,
        ),
        max_leaves=25,
    )
)  # fmt: skip
def test_any_json_document_is_decoded_or_refused_cleanly(document: object) -> None:
    processors = Processors(("BTC/USD",), {"BTC/USD": (1, 8)})
    text = json.dumps(document, allow_nan=True)
    processors.feed(text, 1.0)
    assert processors.public.stats.malformed == processors.refused
    assert processors.private.machine.malformed == processors.refused
