from __future__ import annotations

from decimal import Decimal as D

from galfriday.core.rails import OrderIntent, Rails, check


def _buy(qty: str, price: str | None = "100", symbol: str = "BTC/USD") -> OrderIntent:
    return OrderIntent(symbol=symbol, side="buy", qty=D(qty), price=D(price) if price else None)


def _check(rails: Rails, intent: OrderIntent, **state: object) -> str | None:
    state.setdefault("open_orders", [])
    state.setdefault("position", D(0))
    state.setdefault("market_price", D(100))
    return check(rails, intent, **state)  # type: ignore[arg-type]


def test_no_rails_refuse_nothing() -> None:
    assert _check(Rails(), _buy("1000000")) is None


def test_an_order_above_the_pairs_quantity_cap_is_refused_naming_the_rule() -> None:
    rails = Rails(max_order_qty={"BTC/USD": D("0.5")})
    assert _check(rails, _buy("0.5")) is None
    assert _check(rails, _buy("0.6")) == "max_order_qty: 0.6 BTC/USD above 0.5"
    assert _check(rails, _buy("9", symbol="ETH/USD")) is None  # no cap for that pair


def test_the_star_limit_applies_to_pairs_without_their_own() -> None:
    rails = Rails(max_order_qty={"*": D("1"), "ETH/USD": D("10")})
    assert _check(rails, _buy("2")) is not None
    assert _check(rails, _buy("2", symbol="ETH/USD")) is None


def test_notional_values_a_market_order_at_the_price_it_would_pay() -> None:
    rails = Rails(max_order_notional={"*": D("1000")})
    assert _check(rails, _buy("10", price="100")) is None
    assert _check(rails, _buy("11", price=None), market_price=D(100)) == (
        "max_order_notional: 1100 above 1000 (BTC/USD)"
    )
    refused = _check(rails, _buy("1", price=None), market_price=None)
    assert refused is not None and "no price" in refused


def test_open_orders_are_capped_but_an_amend_is_not_a_new_order() -> None:
    rails = Rails(max_open_orders=2)
    resting = [_buy("1"), _buy("1")]
    assert _check(rails, _buy("1"), open_orders=resting[:1]) is None
    assert _check(rails, _buy("1"), open_orders=resting) == (
        "max_open_orders: 2 open already (limit 2)"
    )
    assert _check(rails, _buy("2"), open_orders=resting, replacing=resting[0]) is None


def test_the_position_counts_what_is_held_and_every_open_buy_of_the_pair() -> None:
    rails = Rails(max_position={"BTC/USD": D("3")})
    resting = [_buy("1"), _buy("5", symbol="ETH/USD")]
    assert _check(rails, _buy("1"), open_orders=resting, position=D(1)) is None
    assert _check(rails, _buy("1.5"), open_orders=resting, position=D(1)) == (
        "max_position: BTC/USD would reach 3.5 (limit 3)"
    )
    sell = OrderIntent(symbol="BTC/USD", side="sell", qty=D(1), price=D(100))
    assert _check(rails, sell, position=D(10)) is None  # a sell only lowers it


def test_an_amend_is_checked_as_the_order_it_becomes_without_counting_itself() -> None:
    rails = Rails(max_position={"*": D("2")})
    old = _buy("1")
    assert _check(rails, _buy("2"), open_orders=[old], replacing=old) is None
    assert _check(rails, _buy("2.5"), open_orders=[old], replacing=old) is not None
