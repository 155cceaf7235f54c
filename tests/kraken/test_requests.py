from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from galfriday.errors import InvalidRequest
from galfriday.kraken import requests as rq
from galfriday.kraken.requests import AddOrder, AmendOrder, SubscriptionParams


def _json(raw: bytes) -> object:
    return msgspec.json.decode(raw)


def test_subscribe_book_writes_only_the_given_params() -> None:
    raw = rq.subscribe(
        SubscriptionParams(channel="book", symbol=["BTC/USD", "ETH/USD"], depth=25), 7
    )
    assert _json(raw) == {
        "method": "subscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": 25},
        "req_id": 7,
    }


def test_unsubscribe_echoes_depth_and_drops_subscribe_only_flags() -> None:
    params = SubscriptionParams(channel="book", symbol=["BTC/USD"], depth=100, snapshot=True)
    assert _json(rq.unsubscribe(params, 8)) == {
        "method": "unsubscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 100},
        "req_id": 8,
    }


def test_ohlc_needs_a_valid_interval() -> None:
    with pytest.raises(InvalidRequest, match="interval"):
        rq.subscribe(SubscriptionParams(channel="ohlc", symbol=["BTC/USD"]), 1)
    with pytest.raises(InvalidRequest, match="interval 7"):
        rq.subscribe(SubscriptionParams(channel="ohlc", symbol=["BTC/USD"], interval=7), 1)


def test_bad_depth_is_refused_before_sending() -> None:
    with pytest.raises(InvalidRequest, match="depth 20"):
        rq.subscribe(SubscriptionParams(channel="book", symbol=["BTC/USD"], depth=20), 1)


def test_private_channel_needs_a_token() -> None:
    with pytest.raises(InvalidRequest, match="token"):
        rq.subscribe(SubscriptionParams(channel="executions"), 1)
    raw = rq.subscribe(SubscriptionParams(channel="executions", token="T", snap_orders=True), 2)
    assert _json(raw) == {
        "method": "subscribe",
        "params": {"channel": "executions", "token": "T", "snap_orders": True},
        "req_id": 2,
    }


def test_ping() -> None:
    assert _json(rq.ping(101)) == {"method": "ping", "req_id": 101}


def test_add_order_writes_decimals_as_exact_numbers() -> None:
    order = AddOrder(
        order_type="limit",
        side="buy",
        order_qty=Decimal("1.20"),
        symbol="BTC/USD",
        limit_price=Decimal("26500.40"),
        order_userref=100054,
    )
    raw = rq.add_order(order, "TOKEN", 123456789)
    assert b'"limit_price":26500.40' in raw and b'"order_qty":1.20' in raw
    assert _json(raw) == {
        "method": "add_order",
        "params": {
            "order_type": "limit",
            "side": "buy",
            "order_qty": 1.2,
            "symbol": "BTC/USD",
            "limit_price": 26500.4,
            "order_userref": 100054,
            "token": "TOKEN",
        },
        "req_id": 123456789,
    }


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"order_type": "bogus"}, "order_type"),
        ({"side": "long"}, "side"),
        ({"order_qty": Decimal(0)}, "order_qty"),
        ({"limit_price": None}, "limit_price"),
        ({"limit_price": Decimal("-1")}, "limit_price"),
        ({"cl_ord_id": "abc", "order_userref": 5}, "mutually exclusive"),
    ],
)
def test_invalid_orders_are_refused(changes: dict[str, object], error: str) -> None:
    base = AddOrder(
        order_type="limit",
        side="buy",
        order_qty=Decimal(1),
        symbol="BTC/USD",
        limit_price=Decimal(100),
    )
    with pytest.raises(InvalidRequest, match=error):
        rq.add_order(msgspec.structs.replace(base, **changes), "T", 1)


def test_amend_order_writes_the_new_terms_as_exact_numbers() -> None:
    amend = AmendOrder(
        order_id="OFGKYQ-FHPCQ-HUQFEK",
        order_qty=Decimal("1.250"),
        limit_price=Decimal("690795.0"),
        post_only=True,
    )
    raw = rq.amend_order(amend, "TOKEN", 7)
    assert b'"order_qty":1.250' in raw and b'"limit_price":690795.0' in raw
    assert _json(raw) == {
        "method": "amend_order",
        "params": {
            "order_id": "OFGKYQ-FHPCQ-HUQFEK",
            "order_qty": 1.25,
            "limit_price": 690795,
            "post_only": True,
            "token": "TOKEN",
        },
        "req_id": 7,
    }


def test_amend_order_by_client_id_leaves_out_what_does_not_change() -> None:
    amend = AmendOrder(cl_ord_id="c1", order_qty=Decimal("1E-7"))
    assert _json(rq.amend_order(amend, "T", 1)) == {
        "method": "amend_order",
        "params": {"cl_ord_id": "c1", "order_qty": 1e-7, "token": "T"},
        "req_id": 1,
    }
    assert b'"order_qty":0.0000001' in rq.amend_order(amend, "T", 1)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"order_id": None}, "exactly one"),
        ({"cl_ord_id": "c1"}, "exactly one"),
        ({"order_qty": Decimal(0)}, "order_qty"),
        ({"order_qty": Decimal("-0.1")}, "order_qty"),
        ({"limit_price": Decimal(0)}, "limit_price"),
        ({"order_qty": Decimal("NaN")}, "not a finite number"),
        ({"limit_price": Decimal("Infinity")}, "not a finite number"),
    ],
)
def test_invalid_amends_are_refused(changes: dict[str, object], error: str) -> None:
    base = AmendOrder(order_id="O1", order_qty=Decimal(1), limit_price=Decimal(100))
    with pytest.raises(InvalidRequest, match=error):
        rq.amend_order(msgspec.structs.replace(base, **changes), "T", 1)


def test_cancel_order_by_several_keys() -> None:
    raw = rq.cancel_order("T", 5, order_ids=["O1", "O2"], order_userrefs=[3])
    assert _json(raw) == {
        "method": "cancel_order",
        "params": {"token": "T", "order_id": ["O1", "O2"], "order_userref": [3]},
        "req_id": 5,
    }
    with pytest.raises(InvalidRequest):
        rq.cancel_order("T", 6)


def test_cancel_all_and_dead_man_switch() -> None:
    assert _json(rq.cancel_all("T", 1)) == {
        "method": "cancel_all",
        "params": {"token": "T"},
        "req_id": 1,
    }
    assert _json(rq.cancel_all_orders_after(60, "T", 2)) == {
        "method": "cancel_all_orders_after",
        "params": {"timeout": 60, "token": "T"},
        "req_id": 2,
    }
    assert _json(rq.cancel_all_orders_after(0, "T", 3))["params"]["timeout"] == 0  # type: ignore[index]
    with pytest.raises(InvalidRequest):
        rq.cancel_all_orders_after(86400, "T", 4)


# --- numbers out: fixed-point, finite -------------------------------------------------------


def _limit_order(qty: str, price: str) -> AddOrder:
    return AddOrder(
        order_type="limit",
        side="buy",
        order_qty=Decimal(qty),
        symbol="BTC/USD",
        limit_price=Decimal(price),
    )


def test_a_quantity_below_one_millionth_is_written_in_fixed_point() -> None:
    raw = rq.add_order(_limit_order("1.234E-7", "26500.4"), "T", 1)
    assert b'"order_qty":0.0000001234' in raw
    assert b"E" not in raw.replace(b"BTC/USD", b"")


def test_a_price_with_a_positive_exponent_is_written_in_fixed_point() -> None:
    raw = rq.add_order(_limit_order("1", "2.65E+4"), "T", 1)
    assert b'"limit_price":26500' in raw


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1.234E-7", "0.0000001234"),
        ("1E+3", "1000"),
        ("26500.40", "26500.40"),
        ("0E-8", "0.00000000"),
        ("-0.5", "-0.5"),
    ],
)
def test_fixed_writes_the_exact_digits_without_exponent(value: str, text: str) -> None:
    assert rq.fixed(Decimal(value)) == text


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_fixed_refuses_non_finite_numbers(value: str) -> None:
    with pytest.raises(InvalidRequest, match="not a finite number"):
        rq.fixed(Decimal(value))


@pytest.mark.parametrize("value", ["1E+100", "1E-101", "1E+999999999"])
def test_fixed_refuses_numbers_of_absurd_length(value: str) -> None:
    with pytest.raises(InvalidRequest, match="digits"):
        rq.fixed(Decimal(value))


@pytest.mark.parametrize(("qty", "price"), [("NaN", "100"), ("1", "sNaN"), ("Infinity", "100")])
def test_an_order_with_a_non_finite_number_is_an_invalid_request(qty: str, price: str) -> None:
    with pytest.raises(InvalidRequest, match="not a finite number"):
        rq.add_order(_limit_order(qty, price), "T", 1)


def _writable(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent >= -rq.MAX_DIGITS and (value == 0 or value.adjusted() < rq.MAX_DIGITS)


@given(st.decimals(allow_nan=False, allow_infinity=False).filter(_writable))
def test_fixed_round_trips_every_finite_decimal(value: Decimal) -> None:
    text = rq.fixed(value)
    assert "E" not in text and "e" not in text
    assert Decimal(text) == value
    assert msgspec.json.decode(text.encode(), type=Decimal) == value
