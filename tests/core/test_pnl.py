"""P&L per symbol from fills, by average cost (galfriday.core.pnl)."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galfriday.core.pnl import PnlTracker, SymbolPnl, pnl_update
from galfriday.events import FillEvent, PnlUpdate

D = Decimal
_ids = iter(range(10**9))


def _fill(
    side: str,
    qty: str,
    price: str,
    *fees: tuple[str, str],
    symbol: str | None = "BTC/USD",
    exec_id: str | None = None,
    at: float = 100.0,
) -> FillEvent:
    return FillEvent(
        order_id="O1",
        exec_id=exec_id if exec_id is not None else f"T{next(_ids)}",
        symbol=symbol,
        side=side,
        qty=D(qty),
        price=D(price),
        cost=None,
        fees=tuple((asset, D(amount)) for asset, amount in fees),
        liquidity="m",
        received_at=at,
    )


def _fed(*fills: FillEvent) -> PnlTracker:
    tracker = PnlTracker()
    for fill in fills:
        tracker.apply(fill)
    return tracker


def _figures(tracker: PnlTracker, symbol: str = "BTC/USD") -> SymbolPnl:
    figures = tracker.snapshot(symbol)
    assert figures is not None
    return figures


# --- average cost --------------------------------------------------------------------------


def test_buys_average_their_prices_weighted_by_quantity() -> None:
    figures = _figures(_fed(_fill("buy", "1", "100"), _fill("buy", "3", "200")))
    assert (figures.position, figures.average_cost) == (D(4), D(175))
    assert figures.realised == 0


def test_a_sale_realises_against_the_average_cost() -> None:
    tracker = _fed(_fill("buy", "1", "100"), _fill("buy", "1", "200"))
    after = tracker.apply(_fill("sell", "0.5", "180"))
    assert after is not None
    assert (after.position, after.average_cost, after.realised) == (D("1.5"), D(150), D(15))


def test_a_sale_leaves_the_average_cost_of_what_is_still_held_unchanged() -> None:
    tracker = _fed(_fill("buy", "3", "10"), _fill("sell", "1", "99"))
    assert _figures(tracker).average_cost == D(10)


def test_selling_everything_leaves_a_flat_position_without_average_cost() -> None:
    tracker = _fed(_fill("buy", "3", "100"), _fill("sell", "1", "110"), _fill("sell", "2", "90"))
    figures = _figures(tracker)
    assert (figures.position, figures.average_cost, figures.realised) == (D(0), None, D(-10))


def test_a_position_bought_after_going_flat_starts_a_fresh_average() -> None:
    tracker = _fed(_fill("buy", "1", "100"), _fill("sell", "1", "150"), _fill("buy", "2", "40"))
    figures = _figures(tracker)
    assert (figures.position, figures.average_cost, figures.realised) == (D(2), D(40), D(50))


def test_the_cost_a_partial_sale_releases_is_rounded_to_18_places_and_the_rest_stays_held() -> None:
    tracker = _fed(_fill("buy", "1", "1"), _fill("buy", "2", "2"), _fill("sell", "1", "2"))
    figures = _figures(tracker)  # cost 5 over 3: releases 1.666666666666666667
    assert figures.realised == D("0.333333333333333333")
    assert tracker.unrealised("BTC/USD", D(2)) == D("0.666666666666666667")


def test_figures_are_written_without_exponents_or_trailing_zeros() -> None:
    tracker = _fed(_fill("buy", "0.99000000", "100.00"))
    figures = _figures(tracker)
    assert (str(figures.position), str(figures.average_cost)) == ("0.99", "100")


# --- through zero: a sale beyond the position ------------------------------------------------


def test_a_sale_beyond_the_position_closes_it_and_holds_the_rest_short_at_the_fill_price() -> None:
    tracker = _fed(_fill("buy", "1", "100"), _fill("sell", "1.5", "120"))
    figures = _figures(tracker)
    assert (figures.position, figures.average_cost, figures.realised) == (D("-0.5"), D(120), D(20))


def test_a_sale_without_any_position_goes_short_and_realises_nothing() -> None:
    figures = _figures(_fed(_fill("sell", "2", "120")))
    assert (figures.position, figures.average_cost, figures.realised) == (D(-2), D(120), D(0))


def test_short_sales_average_their_prices() -> None:
    figures = _figures(_fed(_fill("sell", "1", "100"), _fill("sell", "3", "120")))
    assert (figures.position, figures.average_cost) == (D(-4), D(115))


def test_a_buy_against_a_short_realises_the_average_minus_the_price() -> None:
    tracker = _fed(_fill("sell", "2", "120"), _fill("buy", "1", "100"))
    figures = _figures(tracker)
    assert (figures.position, figures.average_cost, figures.realised) == (D(-1), D(120), D(20))


def test_a_buy_beyond_a_short_flips_it_long_at_the_fill_price() -> None:
    tracker = _fed(_fill("sell", "1", "120"), _fill("buy", "3", "130"))
    figures = _figures(tracker)
    assert (figures.position, figures.average_cost, figures.realised) == (D(2), D(130), D(-10))


def test_unrealised_of_a_short_is_its_average_minus_the_mark() -> None:
    tracker = _fed(_fill("sell", "2", "120"))
    assert tracker.unrealised("BTC/USD", D(100)) == D(40)


# --- fees ----------------------------------------------------------------------------------


def test_a_fee_in_the_quote_currency_is_added_to_fees_and_leaves_realised_alone() -> None:
    tracker = _fed(
        _fill("buy", "1", "100", ("USD", "0.26")), _fill("sell", "1", "110", ("USD", "0.29"))
    )
    figures = _figures(tracker)
    assert (figures.realised, figures.fees) == (D(10), D("0.55"))


def test_a_fee_in_the_base_asset_is_valued_at_the_fill_price_and_leaves_the_position() -> None:
    tracker = _fed(_fill("buy", "1", "100", ("BTC", "0.01")))
    figures = _figures(tracker)
    assert (figures.position, figures.average_cost, figures.fees) == (D("0.99"), D(100), D(1))
    assert figures.realised == 0


def test_a_base_fee_on_a_sale_is_a_disposal_at_the_fill_price_too() -> None:
    tracker = _fed(_fill("buy", "2", "100"), _fill("sell", "1", "150", ("BTC", "0.02")))
    figures = _figures(tracker)
    assert (figures.position, figures.realised, figures.fees) == (D("0.98"), D(51), D(3))


def test_a_base_fee_beyond_the_position_goes_short_like_a_sale() -> None:
    figures = _figures(_fed(_fill("sell", "1", "150", ("BTC", "0.01"))))
    assert (figures.position, figures.average_cost, figures.fees) == (D("-1.01"), D(150), D("1.50"))


def test_a_negative_base_fee_a_rebate_adds_to_the_position_at_the_fill_price() -> None:
    tracker = _fed(_fill("buy", "1", "100"), _fill("buy", "1", "200", ("BTC", "-0.5")))
    figures = _figures(tracker)
    assert (figures.position, figures.average_cost, figures.fees) == (D("2.5"), D(160), D(-100))


def test_a_fee_in_another_asset_is_kept_apart_unconverted() -> None:
    tracker = _fed(
        _fill("buy", "1", "100", ("KFEE", "12.5")),
        _fill("buy", "1", "100", ("KFEE", "7.5"), ("EUR", "0.1")),
    )
    figures = _figures(tracker)
    assert figures.fees == 0
    assert figures.other_fees == (("EUR", D("0.1")), ("KFEE", D(20)))


# --- what is counted -----------------------------------------------------------------------


def test_a_fill_seen_twice_counts_once() -> None:
    tracker = PnlTracker()
    assert tracker.apply(_fill("buy", "1", "100", exec_id="T-1")) is not None
    assert tracker.apply(_fill("buy", "1", "100", exec_id="T-1")) is None
    assert _figures(tracker).position == D(1)


def test_fills_without_a_symbol_or_side_are_not_counted() -> None:
    tracker = PnlTracker()
    assert tracker.apply(_fill("buy", "1", "100", symbol=None)) is None
    assert tracker.apply(_fill("buy", "1", "100", symbol="BTCUSD")) is None
    assert tracker.apply(_fill("short", "1", "100")) is None
    assert tracker.symbols() == ()


def test_a_fill_not_counted_can_count_when_it_comes_again_complete() -> None:
    tracker = PnlTracker()
    assert tracker.apply(_fill("buy", "1", "100", symbol=None, exec_id="T-2")) is None
    assert tracker.apply(_fill("buy", "1", "100", exec_id="T-2")) is not None


def test_symbols_are_kept_apart() -> None:
    tracker = _fed(_fill("buy", "1", "100"), _fill("buy", "2", "3", symbol="ETH/EUR"))
    assert tracker.symbols() == ("BTC/USD", "ETH/EUR")
    assert _figures(tracker, "ETH/EUR").position == D(2)
    assert _figures(tracker).position == D(1)


def test_an_unknown_symbol_has_no_figures() -> None:
    tracker = PnlTracker()
    assert tracker.snapshot("BTC/USD") is None
    assert tracker.unrealised("BTC/USD", D(1)) is None


# --- unrealised ----------------------------------------------------------------------------


def test_unrealised_is_the_position_at_the_mark_minus_its_cost() -> None:
    tracker = _fed(_fill("buy", "2", "100"), _fill("sell", "0.5", "90"))
    assert tracker.unrealised("BTC/USD", D("110.5")) == D("15.75")


def test_a_flat_position_has_no_unrealised_p_and_l() -> None:
    tracker = _fed(_fill("buy", "1", "100"), _fill("sell", "1", "120"))
    assert tracker.unrealised("BTC/USD", D(500)) == 0


def test_a_snapshot_with_a_mark_carries_it_and_its_unrealised() -> None:
    tracker = _fed(_fill("buy", "1", "100"))
    marked = tracker.snapshot("BTC/USD", mark=D(130))
    assert marked is not None and (marked.mark, marked.unrealised) == (D(130), D(30))
    assert (_figures(tracker).mark, _figures(tracker).unrealised) == (None, None)


def test_snapshots_mark_the_symbols_they_have_a_mark_for() -> None:
    tracker = _fed(_fill("buy", "1", "100"), _fill("buy", "1", "3", symbol="ETH/EUR"))
    marked = tracker.snapshots({"ETH/EUR": D(4)})
    assert [(s.symbol, s.unrealised) for s in marked] == [("BTC/USD", None), ("ETH/EUR", D(1))]


# --- the struct and the event ----------------------------------------------------------------


def test_a_snapshot_is_frozen() -> None:
    figures = _figures(_fed(_fill("buy", "1", "100")))
    with pytest.raises(AttributeError):
        figures.realised = D(1)  # type: ignore[misc]


def test_the_update_carries_the_realised_figures_and_the_fill() -> None:
    fill = _fill("buy", "1", "100", ("USD", "0.2"), ("KFEE", "3"), at=1234.5)
    figures = PnlTracker().apply(fill)
    assert figures is not None
    update = pnl_update(figures, fill)
    assert update == PnlUpdate(
        symbol="BTC/USD",
        exec_id=fill.exec_id,
        position=D(1),
        average_cost=D(100),
        realised=D(0),
        fees=D("0.2"),
        other_fees=(("KFEE", D(3)),),
        received_at=1234.5,
    )
    assert msgspec.json.decode(msgspec.json.encode(update), type=PnlUpdate) == update


# --- invariants ------------------------------------------------------------------------------

_qty = st.decimals(min_value=D("0.00000001"), max_value=D(1000), places=8)
_price = st.decimals(min_value=D("0.00001"), max_value=D(100000), places=5)
_trades = st.lists(st.tuples(st.booleans(), _qty, _price, _price), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(_trades, _price)
def test_realised_plus_unrealised_minus_fees_is_exactly_cash_plus_holding(
    trades: list[tuple[bool, Decimal, Decimal, Decimal]], mark: Decimal
) -> None:
    tracker, cash, held, fees = PnlTracker(), D(0), D(0), D(0)
    for buy, qty, price, fee_rate in trades:
        fee = (fee_rate / 100000).quantize(D("0.00000001"))
        tracker.apply(_fill("buy" if buy else "sell", str(qty), str(price), ("USD", str(fee))))
        cash += -qty * price if buy else qty * price
        held += qty if buy else -qty
        fees += fee
    figures = tracker.snapshot("BTC/USD", mark=mark)
    if figures is None:
        return
    assert figures.position == held and figures.fees == fees
    assert figures.unrealised is not None
    assert figures.realised + figures.unrealised == cash + held * mark


@settings(max_examples=200, deadline=None)
@given(_trades)
def test_a_position_has_an_average_cost_exactly_when_it_is_not_flat(
    trades: list[tuple[bool, Decimal, Decimal, Decimal]],
) -> None:
    tracker = PnlTracker()
    for buy, qty, price, _ in trades:
        figures = tracker.apply(_fill("buy" if buy else "sell", str(qty), str(price)))
        assert figures is not None
        assert (figures.average_cost is None) == (figures.position == 0)
        assert figures.average_cost is None or figures.average_cost > 0


def test_a_fill_counted_with_a_mark_gives_the_unrealised_at_it() -> None:
    tracker = _fed(_fill("buy", "2", "100"))
    figures = tracker.apply(_fill("buy", "2", "110"), mark=D(120))
    assert figures is not None and (figures.mark, figures.unrealised) == (D(120), D(60))


def test_the_update_carries_the_mark_and_unrealised_of_its_figures() -> None:
    fill = _fill("sell", "1", "100")
    figures = PnlTracker().apply(fill, mark=D(90))
    assert figures is not None
    update = pnl_update(figures, fill)
    assert (update.position, update.mark, update.unrealised) == (D(-1), D(90), D(10))


def test_net_is_realised_plus_unrealised_minus_fees() -> None:
    tracker = _fed(_fill("buy", "2", "100", ("USD", "1")), _fill("sell", "1", "110"))
    figures = tracker.snapshot("BTC/USD", mark=D(105))
    assert figures is not None and figures.net == D(10) + D(5) - D(1)


def test_net_is_unknown_without_a_mark() -> None:
    assert _figures(_fed(_fill("buy", "2", "100"))).net is None
