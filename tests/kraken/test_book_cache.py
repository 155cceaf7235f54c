"""The book's cached checksum halves always equal a checksum computed from scratch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from galfriday.kraken.book import CHECKSUM_LEVELS, OrderBook, book_checksum
from galfriday.kraken.wire import BookData, BookLevel

_CHANGES = st.lists(st.tuples(st.integers(1, 60), st.integers(0, 5)), max_size=6)


def _levels(changes: list[tuple[int, int]]) -> list[BookLevel]:
    return [BookLevel(price=p / 10, qty=q / 100) for p, q in changes]


@settings(max_examples=150)
@given(messages=st.lists(st.tuples(_CHANGES, _CHANGES), min_size=1, max_size=20))
def test_cached_checksum_equals_the_checksum_of_the_current_top(
    messages: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]],
) -> None:
    book = OrderBook("X/Y", 10, 1, 2)
    for i, (bids, asks) in enumerate(messages):
        data = BookData(symbol="X/Y", bids=_levels(bids), asks=_levels(asks))
        book.apply(data, snapshot=i == 0)
        top_bids, top_asks = book.top_levels(CHECKSUM_LEVELS)
        assert book.checksum() == book_checksum(top_asks, top_bids)
