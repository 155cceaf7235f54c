from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.kraken.wire import ExactBookData, ExactBookLevel
from galfriday.sim.exchange import Exchange
from galfriday.sim.market import PairSpec, SimBook, StepResult, default_pairs

D = Decimal


def _exchange(seed: int = 1) -> Exchange:
    return Exchange(default_pairs(), {"USD": D(100_000), "BTC": D(5)}, seed)


def test_same_seed_same_market() -> None:
    a, b = _exchange(7), _exchange(7)
    for i in range(500):
        ua, ub = a.background_event(float(i)), b.background_event(float(i))
        assert ua.step.changes == ub.step.changes and ua.trades == ub.trades
    assert a.books["ETH/USD"].top("bids", 50) == b.books["ETH/USD"].top("bids", 50)


def test_different_seeds_differ() -> None:
    a, b = _exchange(1), _exchange(2)
    for i in range(50):
        a.background_event(float(i))
        b.background_event(float(i))
    assert a.books["BTC/USD"].top("bids", 20) != b.books["BTC/USD"].top("bids", 20)


def test_books_stay_deep_enough_for_depth_1000_and_never_cross() -> None:
    exchange = _exchange()
    for i in range(4000):
        exchange.background_event(float(i))
        book = exchange.books["XRP/USD"]
        bid, ask = book.best("bids"), book.best("asks")
        assert bid is not None and ask is not None and bid < ask
    assert len(book.prices("bids")) >= 1000 and len(book.prices("asks")) >= 1000


def _client_book(book: SimBook, depth: int) -> OrderBook:
    spec = book.spec
    client = OrderBook(spec.symbol, depth, spec.price_precision, spec.qty_precision)
    data = ExactBookData(
        symbol=spec.symbol,
        bids=[
            ExactBookLevel(price=spec.price(p), qty=spec.qty(q)) for p, q in book.top("bids", depth)
        ],
        asks=[
            ExactBookLevel(price=spec.price(p), qty=spec.qty(q)) for p, q in book.top("asks", depth)
        ],
        checksum=book.checksum(),
    )
    assert client.apply(data, snapshot=True) is BookCheck.MATCH
    return client


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.sampled_from([10, 25, 100, 500, 1000]))
def test_view_updates_keep_a_client_book_equal_to_the_top_n(seed: int, depth: int) -> None:
    exchange = _exchange(seed)
    book = exchange.books["ETH/USD"]
    spec = book.spec
    client = _client_book(book, depth)
    for _ in range(400):
        step = exchange.background_event(0.0, "ETH/USD").step
        view = book.view_update(step, depth)
        if view is not None:
            data = ExactBookData(
                symbol=spec.symbol,
                bids=[ExactBookLevel(price=spec.price(p), qty=spec.qty(q)) for p, q in view[0]],
                asks=[ExactBookLevel(price=spec.price(p), qty=spec.qty(q)) for p, q in view[1]],
                checksum=book.checksum(),
            )
            assert client.apply(data, snapshot=False) is BookCheck.MATCH
        assert client.bids() == book.top("bids", depth)
        assert client.asks() == book.top("asks", depth)


def _spec() -> PairSpec:
    return default_pairs()[0]


def test_price_time_priority_fills_the_account_only_after_the_queue_ahead() -> None:
    book = SimBook(_spec())
    step = StepResult("BTC/USD")
    book.add("bids", 1000, 5, None, step)  # background first
    book.add("bids", 1000, 3, "O1", step)  # our order behind it
    book.add("bids", 1000, 4, None, step)  # background behind us
    step = StepResult("BTC/USD")
    book.take("sell", 6, None, None, step)
    assert [(m.qty, m.maker) for m in step.matches] == [(5, None), (1, "O1")]
    step = StepResult("BTC/USD")
    book.take("sell", 10, None, None, step)
    assert [(m.qty, m.maker) for m in step.matches] == [(2, "O1"), (4, None)]
    assert book.best("bids") is None


def test_taker_respects_its_limit_and_stops_at_its_own_resting_order() -> None:
    book = SimBook(_spec())
    step = StepResult("BTC/USD")
    book.add("asks", 1001, 2, None, step)
    book.add("asks", 1002, 2, "MINE", step)
    book.add("asks", 1003, 2, None, step)
    step = StepResult("BTC/USD")
    left = book.take("buy", 10, 1003, "MINE", step)
    assert [(m.price, m.qty) for m in step.matches] == [(1001, 2)]
    assert left == 8


def test_background_cancels_take_the_newest_background_first() -> None:
    book = SimBook(_spec())
    step = StepResult("BTC/USD")
    book.add("asks", 1001, 2, None, step)
    book.add("asks", 1001, 1, "O1", step)
    book.add("asks", 1001, 5, None, step)
    book.cancel_background("asks", 1001, 6, step)
    chunks = [(c.qty, c.owner) for c in book.levels["asks"][1001].chunks]
    assert chunks == [(1, None), (1, "O1")]


def test_trimming_never_drops_a_level_holding_an_account_order() -> None:
    book = SimBook(_spec())
    book.seed_levels(random.Random(1), 1200)
    step = StepResult("BTC/USD")
    worst = book.prices("asks")[-1]
    book.add("asks", worst, 1, "O1", step)
    book.trim(step)
    assert worst in book.levels["asks"]
