"""The paper venue: orders matched against an observed book and trades (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from galfriday.kraken import wire
from galfriday.paper.venue import MarketView, PaperConfig, PaperVenue, Refused, Ticket

D = Decimal
WALL = 1_700_000_000.0


def market(bids: list[tuple[str, str]] = (), asks: list[tuple[str, str]] = ()) -> MarketView:  # type: ignore[assignment]
    return MarketView(
        symbol="BTC/USD",
        base="BTC",
        quote="USD",
        bids=[(D(p), D(q)) for p, q in bids],
        asks=[(D(p), D(q)) for p, q in asks],
        qty_min=D("0.0001"),
        price_increment=D("0.1"),
    )


BOOK = market(bids=[("100", "1"), ("99", "2")], asks=[("101", "1"), ("102", "2")])


def venue(**balances: str) -> PaperVenue:
    funds = {k: D(v) for k, v in balances.items()} or {"USD": D(10_000)}
    return PaperVenue(PaperConfig(balances=funds, run_tag="PAPER"))


def trades(v: PaperVenue) -> list[wire.ExecutionReport]:
    return [
        r
        for m in v.take()
        if isinstance(m, wire.ExecutionsMessage)
        for r in m.data
        if r.exec_type == "trade"
    ]


def test_market_buy_walks_the_book_at_each_levels_price() -> None:
    v = venue()
    v.place(Ticket("BTC/USD", "buy", D("2"), order_type="market"), BOOK, WALL)
    assert [(t.last_price, t.last_qty) for t in trades(v)] == [(D(101), D(1)), (D(102), D(1))]


def test_market_order_cancels_what_the_book_cannot_fill() -> None:
    v = venue()
    order_id = v.place(Ticket("BTC/USD", "buy", D("5"), order_type="market"), BOOK, WALL)
    order = v.orders[order_id]
    assert (order.status, order.cum_qty) == ("canceled", D(3))


def test_taker_fee_is_charged_in_quote_on_the_cost() -> None:
    v = venue()
    v.place(Ticket("BTC/USD", "buy", D("1"), order_type="market"), BOOK, WALL)
    assert v.balances == {"USD": D(10_000) - D(101) - D("0.404"), "BTC": D(1)}


def test_crossing_limit_takes_within_its_limit_and_rests_the_rest() -> None:
    v = venue()
    order_id = v.place(Ticket("BTC/USD", "buy", D("3"), D("101")), BOOK, WALL)
    order = v.orders[order_id]
    assert (order.status, order.cum_qty, order.remaining) == ("partially_filled", D(1), D(2))


def test_post_only_that_would_cross_is_refused_and_reports_nothing() -> None:
    v = venue()
    with pytest.raises(Refused, match="Post only"):
        v.place(Ticket("BTC/USD", "buy", D("1"), D("101"), post_only=True), BOOK, WALL)
    assert (v.orders, v.take()) == ({}, [])


def test_order_beyond_available_funds_is_refused() -> None:
    v = venue(USD="50")
    with pytest.raises(Refused, match="Insufficient funds"):
        v.place(Ticket("BTC/USD", "buy", D("1"), D("90")), BOOK, WALL)


def test_funds_held_by_a_resting_order_are_not_available() -> None:
    v = venue(USD="100")
    v.place(Ticket("BTC/USD", "buy", D("0.9"), D("100")), BOOK, WALL)
    with pytest.raises(Refused, match="Insufficient funds"):
        v.place(Ticket("BTC/USD", "buy", D("0.1"), D("99")), BOOK, WALL)


def test_price_off_the_tick_is_refused() -> None:
    with pytest.raises(Refused, match="Tick size"):
        venue().place(Ticket("BTC/USD", "buy", D("1"), D("99.95")), BOOK, WALL)


def test_trade_through_a_resting_buy_fills_it_as_maker_at_its_price() -> None:
    v = venue()
    v.place(Ticket("BTC/USD", "buy", D("1"), D("100")), BOOK, WALL)
    v.take()
    v.on_trade("BTC/USD", D("99.5"), D("0.4"), WALL + 1)
    (fill,) = trades(v)
    assert (fill.last_price, fill.last_qty, fill.liquidity_ind) == (D(100), D("0.4"), "m")


def test_trade_above_a_resting_buy_does_not_fill_it() -> None:
    v = venue()
    v.place(Ticket("BTC/USD", "buy", D("1"), D("100")), BOOK, WALL)
    v.take()
    v.on_trade("BTC/USD", D("100.1"), D("5"), WALL + 1)
    assert trades(v) == []


def test_one_trade_fills_resting_orders_best_price_first_up_to_its_quantity() -> None:
    v = venue()
    low = v.place(Ticket("BTC/USD", "buy", D("1"), D("99")), BOOK, WALL)
    high = v.place(Ticket("BTC/USD", "buy", D("1"), D("100")), BOOK, WALL)
    v.on_trade("BTC/USD", D("98"), D("1.5"), WALL + 1)
    assert (v.orders[high].cum_qty, v.orders[low].cum_qty) == (D(1), D("0.5"))


def test_book_crossing_a_resting_sell_fills_the_displayed_quantity_once() -> None:
    v = venue(BTC="5")
    order_id = v.place(Ticket("BTC/USD", "sell", D("3"), D("101")), BOOK, WALL)
    crossed = market(bids=[("101.5", "1"), ("101", "0.5"), ("100", "9")], asks=[("102", "1")])
    v.on_book(crossed, WALL + 1)
    v.on_book(crossed, WALL + 2)
    assert v.orders[order_id].cum_qty == D("1.5")


def test_sell_fill_credits_quote_less_the_maker_fee() -> None:
    v = venue(BTC="1")
    v.place(Ticket("BTC/USD", "sell", D("1"), D("200")), BOOK, WALL)
    v.on_trade("BTC/USD", D("200"), D("1"), WALL + 1)
    assert v.balances == {"BTC": D(0), "USD": D(200) - D("0.5")}


def test_fees_come_from_the_configuration() -> None:
    v = PaperVenue(PaperConfig(taker_fee=D("0.01"), run_tag="PAPER"))
    v.place(Ticket("BTC/USD", "buy", D("1"), order_type="market"), BOOK, WALL)
    assert v.fees == D("1.01")


def test_cancel_closes_an_open_order_and_refuses_an_unknown_one() -> None:
    v = venue()
    order_id = v.place(Ticket("BTC/USD", "buy", D("1"), D("90")), BOOK, WALL)
    assert (v.cancel(order_id, WALL), v.cancel(order_id, WALL)) == (True, False)


def test_amend_to_a_crossing_price_takes_the_book() -> None:
    v = venue()
    order_id = v.place(Ticket("BTC/USD", "buy", D("1"), D("90")), BOOK, WALL)
    v.amend(order_id, None, D("101"), BOOK, WALL + 1)
    assert v.orders[order_id].status == "filled"


def test_stream_starts_with_snapshots_then_numbers_each_channel() -> None:
    v = venue()
    v.snapshot()
    v.place(Ticket("BTC/USD", "buy", D("1"), order_type="market"), BOOK, WALL)
    seen = [(type(m).__name__, m.type, m.sequence) for m in v.take()]
    assert seen[:2] == [("ExecutionsMessage", "snapshot", 1), ("BalancesMessage", "snapshot", 1)]
    executions = [s for _, kind, s in seen if _ == "ExecutionsMessage"]
    assert executions == list(range(1, len(executions) + 1))


def test_ids_carry_the_run_tag_so_backtests_repeat_them() -> None:
    a, b = venue(), venue()
    ticket = Ticket("BTC/USD", "buy", D("1"), D("90"))
    assert a.place(ticket, BOOK, WALL) == b.place(ticket, BOOK, WALL) == "OPAPER-00000-000001"
