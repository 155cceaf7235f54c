from __future__ import annotations

import zlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galfriday.kraken.book import BookCheck, OrderBook, book_checksum, format_scaled
from galfriday.kraken.wire import BookData, BookLevel, ExactBookData, ExactBookLevel, FrameDecoder
from tests.examples import BTC_ASKS, BTC_BIDS, BTC_CHECKSUM, btc_snapshot_frame


def _btc_book(depth: int = 10) -> OrderBook:
    return OrderBook("BTC/USD", depth, price_precision=1, qty_precision=8)


def _data(
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    checksum: int | None,
    symbol: str = "BTC/USD",
) -> BookData:
    return BookData(
        symbol=symbol,
        bids=[BookLevel(price=float(p), qty=float(q)) for p, q in bids],
        asks=[BookLevel(price=float(p), qty=float(q)) for p, q in asks],
        checksum=checksum,
    )


def test_worked_example_checksum_string_and_crc() -> None:
    book = _btc_book()
    message = FrameDecoder().decode(btc_snapshot_frame())
    assert book.apply(message.data[0], snapshot=True) is BookCheck.MATCH  # type: ignore[union-attr]
    expected_text = (
        "452852100000452864154571953452866154571109452896154560911452902158906604529181545534914529474454749"
        "452961353800004529759945542452995187728274528351000000045283415458201545282110000000452810100000004"
        "52803154592586452790799000045277633101034527753000000045277315460273745276615445238"
    )
    assert zlib.crc32(expected_text.encode()) == BTC_CHECKSUM
    assert book.checksum() == BTC_CHECKSUM


def test_exact_levels_give_the_same_checksum() -> None:
    book = _btc_book()
    message = FrameDecoder().decode_exact_book(btc_snapshot_frame())
    assert book.apply(message.data[0], snapshot=True) is BookCheck.MATCH


def test_wrong_checksum_is_a_mismatch_not_an_exception() -> None:
    book = _btc_book()
    assert (
        book.apply(_data(BTC_BIDS, BTC_ASKS, BTC_CHECKSUM + 1), snapshot=True) is BookCheck.MISMATCH
    )


def test_update_applies_all_changes_in_order_before_the_checksum() -> None:
    book = _btc_book()
    book.apply(_data(BTC_BIDS, BTC_ASKS, None), snapshot=True)
    # Same level changed twice in one message: the last value wins; then a delete.
    changes = [("45283.5", "2.00000000"), ("45283.5", "3.00000000"), ("45276.6", "0")]
    expected = _btc_book()
    bids = [("45283.5", "3.00000000"), *BTC_BIDS[1:9]]
    expected.apply(_data(bids, BTC_ASKS, None), snapshot=True)
    assert book.apply(_data(changes, [], expected.checksum()), snapshot=False) is BookCheck.MATCH
    assert book.best_bid == (452835, 300000000)
    assert len(book.bids()) == 9


def test_zero_qty_deletes_and_unknown_delete_is_harmless() -> None:
    book = _btc_book()
    book.apply(_data(BTC_BIDS, BTC_ASKS, None), snapshot=True)
    book.apply(_data([("1.0", "0")], [("45285.2", "0")], None), snapshot=False)
    assert book.best_ask == (452864, 154571953)
    assert len(book) == 19


def test_inserts_beyond_depth_are_truncated_after_each_message() -> None:
    book = _btc_book(depth=10)
    book.apply(_data(BTC_BIDS, BTC_ASKS, None), snapshot=True)
    # A better bid pushes the worst one out; deleting the new one must not bring it back.
    book.apply(_data([("45284.0", "1.00000000")], [], None), snapshot=False)
    assert len(book.bids()) == 10 and book.bids()[-1][0] == 452773
    book.apply(_data([("45284.0", "0")], [], None), snapshot=False)
    assert len(book.bids()) == 9 and book.bids()[-1][0] == 452773


def test_snapshot_replaces_the_whole_book() -> None:
    book = _btc_book()
    book.apply(_data(BTC_BIDS, BTC_ASKS, None), snapshot=True)
    book.apply(_data([("100.0", "1")], [("101.0", "1")], None), snapshot=True)
    assert book.bids() == [(1000, 100000000)] and book.asks() == [(1010, 100000000)]


def test_best_levels_spread_and_top_in_decimal() -> None:
    book = _btc_book()
    book.apply(_data(BTC_BIDS, BTC_ASKS, None), snapshot=True)
    assert book.spread == Decimal("1.7")
    top = book.top(2)
    assert top.bids == (
        (Decimal("45283.5"), Decimal("0.10000000")),
        (Decimal("45283.4"), Decimal("1.54582015")),
    )
    assert top.asks[0] == (Decimal("45285.2"), Decimal("0.00100000"))
    assert not book.crossed


def test_crossed_book_is_detected() -> None:
    book = _btc_book()
    book.apply(_data([("100.0", "1")], [("99.9", "1")], None), snapshot=True)
    assert book.crossed


def test_empty_book_has_no_best_levels() -> None:
    book = _btc_book()
    assert (book.best_bid, book.best_ask, book.spread, book.crossed) == (None, None, None, False)
    assert book.checksum() == zlib.crc32(b"")


def test_value_finer_than_precision_is_invalid_and_changes_nothing() -> None:
    book = _btc_book()
    book.apply(_data(BTC_BIDS, BTC_ASKS, None), snapshot=True)
    before = book.checksum()
    assert book.apply(_data([("45283.55", "1")], [], 1), snapshot=False) is BookCheck.INVALID
    exact = ExactBookData(
        symbol="BTC/USD", bids=[ExactBookLevel(price=Decimal("45283.55"), qty=Decimal(1))]
    )
    assert book.apply(exact, snapshot=False) is BookCheck.INVALID
    assert book.checksum() == before


def test_negative_quantity_is_invalid() -> None:
    assert _btc_book().apply(_data([("1.0", "-1")], [], None), snapshot=True) is BookCheck.INVALID


def test_huge_float_quantity_asks_for_exact_levels_and_changes_nothing() -> None:
    book = OrderBook("DOGE/USD", 10, price_precision=7, qty_precision=8)
    frame = (
        '{"channel":"book","type":"snapshot","data":[{"symbol":"DOGE/USD",'
        '"bids":[{"price":0.1234567,"qty":98765432.12345678}],"asks":[],"checksum":null}]}'
    )
    decoder = FrameDecoder()
    fast = decoder.decode(frame)
    assert book.apply(fast.data[0], snapshot=True) is BookCheck.INEXACT  # type: ignore[union-attr]
    assert len(book) == 0 and not book.has_snapshot
    exact = decoder.decode_exact_book(frame)
    assert book.apply(exact.data[0], snapshot=True) is BookCheck.UNCHECKED
    assert book.bids() == [(1234567, 9876543212345678)]


def test_invalid_depth_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        OrderBook("BTC/USD", 20, 1, 8)


# --- properties ----------------------------------------------------------------------------

_PRICE = st.integers(min_value=1, max_value=2_000)
_QTY = st.integers(min_value=0, max_value=10**9)
_CHANGES = st.lists(st.tuples(_PRICE, _QTY), max_size=30)


def _levels(changes: list[tuple[int, int]], pp: int, qp: int) -> list[BookLevel]:
    return [BookLevel(price=p / 10**pp, qty=q / 10**qp) for p, q in changes]


def _check_invariants(book: OrderBook) -> None:
    bids, asks = book.bids(), book.asks()
    assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
    assert [p for p, _ in asks] == sorted({p for p, _ in asks})
    assert all(q > 0 for _, q in bids + asks)
    assert len(bids) <= book.depth and len(asks) <= book.depth


@pytest.mark.slow
@settings(max_examples=200)
@given(
    depth=st.sampled_from([10, 25, 100]),
    pp=st.integers(0, 4),
    qp=st.integers(0, 8),
    messages=st.lists(st.tuples(_CHANGES, _CHANGES), min_size=1, max_size=15),
)
def test_random_update_streams_keep_every_invariant(
    depth: int,
    pp: int,
    qp: int,
    messages: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]],
) -> None:
    book = OrderBook("X/Y", depth, pp, qp)
    for i, (bid_changes, ask_changes) in enumerate(messages):
        data = BookData(
            symbol="X/Y", bids=_levels(bid_changes, pp, qp), asks=_levels(ask_changes, pp, qp)
        )
        assert book.apply(data, snapshot=i == 0) is BookCheck.UNCHECKED
        _check_invariants(book)


@pytest.mark.slow
@settings(max_examples=200)
@given(pp=st.integers(0, 4), qp=st.integers(0, 8), bids=_CHANGES, asks=_CHANGES)
def test_a_book_rebuilt_from_its_own_levels_has_the_same_checksum(
    pp: int, qp: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> None:
    book = OrderBook("X/Y", 25, pp, qp)
    book.apply(
        BookData(symbol="X/Y", bids=_levels(bids, pp, qp), asks=_levels(asks, pp, qp)),
        snapshot=True,
    )
    rebuilt = OrderBook("X/Y", 25, pp, qp)
    data = ExactBookData(
        symbol="X/Y",
        bids=[ExactBookLevel(price=book.price_of(p), qty=book.qty_of(q)) for p, q in book.bids()],
        asks=[ExactBookLevel(price=book.price_of(p), qty=book.qty_of(q)) for p, q in book.asks()],
        checksum=book.checksum(),
    )
    assert rebuilt.apply(data, snapshot=True) is BookCheck.MATCH
    assert rebuilt.bids() == book.bids() and rebuilt.asks() == book.asks()


@given(st.lists(st.tuples(st.integers(1, 10**12), st.integers(1, 10**12)), max_size=10))
def test_checksum_is_the_crc_of_concatenated_integers(levels: list[tuple[int, int]]) -> None:
    text = "".join(f"{p}{q}" for p, q in levels)
    assert book_checksum(levels, []) == zlib.crc32(text.encode())


@given(st.integers(-(10**20), 10**20), st.integers(0, 12))
def test_format_scaled_is_the_exact_decimal(value: int, precision: int) -> None:
    text = format_scaled(value, precision)
    assert Decimal(text) == Decimal(value).scaleb(-precision)
    assert precision == 0 or len(text.split(".")[1]) == precision


def test_format_scaled_keeps_trailing_and_leading_zeros() -> None:
    assert format_scaled(100000, 8) == "0.00100000"
    assert format_scaled(452852, 1) == "45285.2"
    assert format_scaled(5, 0) == "5"


def test_top_levels_are_the_exact_top_and_a_book_side_converts_them_lazily() -> None:
    from galfriday.events import BookSide

    message = FrameDecoder().decode_exact_book(btc_snapshot_frame())
    book = OrderBook("BTC/USD", 10, 1, 8)
    book.apply(message.data[0], snapshot=True)
    bids, asks = book.top_levels(3)
    top = book.top(3)
    side = BookSide(bids, 1, 8)
    assert side._decimal is None  # nothing converted until read
    assert side.levels() == top.bids and BookSide(asks, 1, 8).levels() == top.asks
    assert side.levels()[0][0] == Decimal(str(BTC_BIDS[0][0]))


def test_a_level_too_large_to_scale_is_invalid_not_an_exception() -> None:
    # Found by the fuzzer: 1e308 times the price scale is infinity, and round() raised.
    book = _btc_book()
    assert book.apply(_data([("1e308", "1")], [], None), snapshot=True) is BookCheck.INVALID
    assert book.apply(_data([], [("2", "1e308")], None), snapshot=True) is BookCheck.INVALID
    assert len(book) == 0
