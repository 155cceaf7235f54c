"""The simulator's ``amend_order``: in place, ids and fills kept, Kraken's refusals."""

from __future__ import annotations

from decimal import Decimal

from galfriday.kraken.wire import ExecutionReport
from galfriday.sim.account import SimOrder
from galfriday.sim.exchange import Amended, AmendRequest, Exchange, OrderRequest
from galfriday.sim.market import default_pairs

D = Decimal
SYMBOL = "BTC/USD"


def _exchange(usd: str = "100000", btc: str = "5") -> Exchange:
    return Exchange(default_pairs(), {"USD": D(usd), "BTC": D(btc)}, 11)


def _best(exchange: Exchange, side: str) -> Decimal:
    price = exchange.books[SYMBOL].best(side)
    assert price is not None
    return exchange.specs[SYMBOL].price(price)


def _buy(exchange: Exchange, qty: str, price: Decimal) -> SimOrder:
    order, _ = exchange.add_order(OrderRequest(SYMBOL, "buy", "limit", D(qty), price), 5.0)
    return order


def _queue(exchange: Exchange, price: Decimal) -> list[tuple[str | None, Decimal]]:
    """The account orders resting at ``price`` (bids), front first, with what they show."""
    spec = exchange.specs[SYMBOL]
    level = exchange.books[SYMBOL].levels["bids"].get(spec.price_ticks(price) or 0)
    return [(c.owner, spec.qty(c.qty)) for c in level.chunks if c.owner] if level else []


def _amend(
    exchange: Exchange, order: SimOrder, qty: str, price: Decimal | None = None, **kw: bool
) -> Amended | str:
    request = AmendRequest(order.order_id, None, D(qty), price, **kw)
    return exchange.amend_order(request, 6.0)


def _last_report(exchange: Exchange) -> ExecutionReport:
    reports = [r for _, r in exchange.account.outbox if isinstance(r, ExecutionReport)]
    return reports[-1]


def test_amend_keeps_the_order_ids_and_reports_amended_with_the_new_terms() -> None:
    exchange = _exchange()
    price = _best(exchange, "bids") - D("50")
    order = _buy(exchange, "0.02", price)
    result = _amend(exchange, order, "0.03", price - D("10"))
    assert isinstance(result, Amended) and result.order is order
    assert (order.qty, order.limit_price, order.status) == (D("0.03"), price - D("10"), "new")
    report = _last_report(exchange)
    assert (report.exec_type, report.order_id) == ("amended", order.order_id)
    assert (report.order_qty, report.limit_price, report.amended) == (
        D("0.03"),
        price - D("10"),
        True,
    )


def test_amend_moves_the_order_to_its_new_price_level() -> None:
    exchange = _exchange()
    price = _best(exchange, "bids") - D("50")
    order = _buy(exchange, "0.02", price)
    _amend(exchange, order, "0.02", price - D("10"))
    assert _queue(exchange, price) == []
    assert _queue(exchange, price - D("10")) == [(order.order_id, D("0.02"))]


def test_quantity_decrease_keeps_the_queue_place() -> None:
    exchange = _exchange()
    price = _best(exchange, "bids") - D("50")
    first, second = _buy(exchange, "0.02", price), _buy(exchange, "0.02", price)
    _amend(exchange, first, "0.01")
    assert _queue(exchange, price) == [(first.order_id, D("0.01")), (second.order_id, D("0.02"))]


def test_quantity_increase_loses_the_queue_place() -> None:
    exchange = _exchange()
    price = _best(exchange, "bids") - D("50")
    first, second = _buy(exchange, "0.02", price), _buy(exchange, "0.02", price)
    _amend(exchange, first, "0.03")
    assert _queue(exchange, price) == [(second.order_id, D("0.02")), (first.order_id, D("0.03"))]


def test_price_change_and_back_loses_the_queue_place() -> None:
    exchange = _exchange()
    price = _best(exchange, "bids") - D("50")
    first, second = _buy(exchange, "0.02", price), _buy(exchange, "0.02", price)
    _amend(exchange, first, "0.02", price - D("10"))
    _amend(exchange, first, "0.02", price)
    assert _queue(exchange, price) == [(second.order_id, D("0.02")), (first.order_id, D("0.02"))]


def test_amend_of_a_partly_filled_order_keeps_its_fills() -> None:
    exchange = _exchange()
    ask = _best(exchange, "asks")
    level = exchange.books[SYMBOL].levels["asks"][exchange.specs[SYMBOL].price_ticks(ask) or 0]
    on_offer = exchange.specs[SYMBOL].qty(level.qty)
    order = _buy(exchange, str(on_offer + D("0.02")), ask)
    assert order.cum_qty == on_offer and order.status == "partially_filled"
    _amend(exchange, order, str(on_offer + D("0.01")))
    assert order.cum_qty == on_offer and order.remaining == D("0.01")
    assert _queue(exchange, ask) == [(order.order_id, D("0.01"))]


def test_amend_below_the_filled_quantity_cancels_the_rest() -> None:
    exchange = _exchange()
    ask = _best(exchange, "asks")
    level = exchange.books[SYMBOL].levels["asks"][exchange.specs[SYMBOL].price_ticks(ask) or 0]
    on_offer = exchange.specs[SYMBOL].qty(level.qty)
    order = _buy(exchange, str(on_offer + D("0.02")), ask)
    _amend(exchange, order, str(on_offer))
    assert order.status == "canceled" and order.cum_qty == on_offer
    assert _queue(exchange, ask) == []
    assert _last_report(exchange).exec_type == "canceled"


def test_amend_to_a_crossing_price_takes_liquidity() -> None:
    exchange = _exchange()
    ask = _best(exchange, "asks")
    order = _buy(exchange, "0.01", _best(exchange, "bids") - D("50"))
    _amend(exchange, order, "0.01", ask)
    assert order.status == "filled"


def test_post_only_amend_that_would_cross_is_refused_and_changes_nothing() -> None:
    exchange = _exchange()
    price = _best(exchange, "bids") - D("50")
    order = _buy(exchange, "0.01", price)
    reports = len(exchange.account.outbox)
    result = _amend(exchange, order, "0.01", _best(exchange, "asks"), post_only=True)
    assert result == "EOrder:Post only order"
    assert (order.limit_price, order.status, len(exchange.account.outbox)) == (
        price,
        "new",
        reports,
    )


def test_amend_of_an_unknown_order_is_refused() -> None:
    request = AmendRequest("ONOPE-NOPE-NOPE", None, D("0.01"))
    assert _exchange().amend_order(request, 6.0) == "EOrder:Unknown order"


def test_amend_of_a_closed_order_is_refused() -> None:
    exchange = _exchange()
    order = _buy(exchange, "0.01", _best(exchange, "bids") - D("50"))
    exchange.cancel_order(order.order_id, 5.5)
    assert _amend(exchange, order, "0.02") == "EOrder:Invalid order"


def test_amend_finds_the_order_by_its_client_id() -> None:
    exchange = _exchange()
    price = _best(exchange, "bids") - D("50")
    request = OrderRequest(SYMBOL, "buy", "limit", D("0.01"), price, cl_ord_id="mine")
    order, _ = exchange.add_order(request, 5.0)
    assert isinstance(exchange.amend_order(AmendRequest(None, "mine", D("0.02")), 6.0), Amended)
    assert order.qty == D("0.02")


def test_amend_that_needs_more_funds_than_are_free_is_refused() -> None:
    exchange = _exchange(usd="1000")
    order = _buy(exchange, "0.01", _best(exchange, "bids") - D("50"))
    assert _amend(exchange, order, "1") == "EOrder:Insufficient funds"
    assert order.qty == D("0.01")
