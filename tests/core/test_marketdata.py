"""The market-data machine's decisions, on exact times, with no socket."""

from __future__ import annotations

import json
from pathlib import Path

from galfriday.core.frames import Frame, ListSink
from galfriday.core.health import ConnectionMetrics
from galfriday.core.marketdata import MarketDataConfig, MarketDataMachine
from galfriday.events import Alert, BookChecks, ResyncStarted
from galfriday.kraken import wire

DATA = Path(__file__).parent.parent / "data" / "ws"
SNAPSHOT = json.dumps(json.loads((DATA / "book_btc_usd.json").read_text())[0])
BAD_UPDATE = json.dumps(
    {
        "channel": "book",
        "type": "update",
        "data": [
            {
                "symbol": "BTC/USD",
                "bids": [{"price": 45283.5, "qty": 0.2}],
                "asks": [],
                "checksum": 1,  # never right
                "timestamp": "2023-10-06T17:35:55.440295Z",
            }
        ],
    }
)


def _machine(**config: object) -> tuple[MarketDataMachine, ListSink]:
    sink = ListSink()
    machine = MarketDataMachine(
        MarketDataConfig(symbols=("BTC/USD",), **config),  # type: ignore[arg-type]
        ConnectionMetrics("public", 0.0),
        sink,
    )
    machine.pairs["BTC/USD"] = wire.PairInfo(
        symbol="BTC/USD", base="BTC", quote="USD", price_precision=1, qty_precision=8
    )
    return machine, sink


def _at(raw: str, mono: float) -> Frame:
    return Frame(raw, mono, 1_700_000_000.0 + mono, "public")


def test_a_mismatch_resyncs_that_symbol_and_drops_deltas_until_its_snapshot() -> None:
    machine, sink = _machine()
    assert machine.receive(_at(SNAPSHOT, 1.0)) is None
    assert machine.books["BTC/USD"].verified and machine.ready
    assert machine.receive(_at(BAD_UPDATE, 2.0)) == ("BTC/USD", "checksum mismatch")
    assert machine.start_resync("BTC/USD", "checksum mismatch", 1.7e9, 2.0)
    assert machine.receive(_at(BAD_UPDATE, 3.0)) is None  # a delta before the snapshot
    assert machine.books["BTC/USD"].resyncing
    machine.receive(_at(SNAPSHOT, 4.0))
    assert not machine.books["BTC/USD"].resyncing and machine.books["BTC/USD"].verified
    [resync] = sink.of(ResyncStarted)
    assert isinstance(resync, ResyncStarted) and resync.attempt == 1


def test_past_the_cap_it_gives_up_then_retries_after_a_doubling_quiet_period() -> None:
    machine, sink = _machine(max_resyncs=2, retry_after=60.0, retry_max=900.0)
    machine.receive(_at(SNAPSHOT, 0.0))
    for attempt in range(2):
        machine.receive(_at(BAD_UPDATE, 1.0 + attempt))
        assert machine.start_resync("BTC/USD", "x", 1.7e9, 1.0 + attempt)
        machine.receive(_at(SNAPSHOT, 1.5 + attempt))
    machine.receive(_at(BAD_UPDATE, 10.0))
    assert not machine.start_resync("BTC/USD", "x", 1.7e9, 10.0)  # gives up at 10.0
    [alert] = sink.of(Alert)
    assert isinstance(alert, Alert) and "next try in 60s" in alert.message
    assert machine.receive(_at(BAD_UPDATE, 69.999)) is None  # still quiet, no retry
    assert machine.receive(_at(BAD_UPDATE, 70.0)) == ("BTC/USD", "retry after giving up")
    for attempt in range(2):  # the new round fails too
        assert machine.start_resync("BTC/USD", "x", 1.7e9, 71.0 + attempt)
    assert not machine.start_resync("BTC/USD", "x", 1.7e9, 80.0)
    assert "next try in 120s" in sink.of(Alert)[-1].message  # type: ignore[attr-defined]
    assert machine.receive(_at(BAD_UPDATE, 199.999)) is None
    assert machine.receive(_at(BAD_UPDATE, 200.0)) == ("BTC/USD", "retry after giving up")


def test_book_checks_are_reported_every_ten_seconds_of_frames() -> None:
    machine, sink = _machine()
    machine.receive(_at(SNAPSHOT, 10.0))  # the first report comes with the first frame
    machine.receive(_at(SNAPSHOT, 15.0))
    assert len(sink.of(BookChecks)) == 1
    machine.receive(_at(SNAPSHOT, 20.0))
    checks = sink.of(BookChecks)
    assert len(checks) == 2 and checks[-1].verified == 2  # type: ignore[attr-defined]
