from __future__ import annotations

from decimal import Decimal

import pytest

from galfriday.kraken.wire import BalanceEntry, ExecutionReport
from galfriday.sim.account import MAKER_FEE, TAKER_FEE
from galfriday.sim.exchange import Exchange, OrderRequest
from galfriday.sim.market import default_pairs

D = Decimal


def _exchange(usd: str = "100000", btc: str = "5") -> Exchange:
    return Exchange(default_pairs(), {"USD": D(usd), "BTC": D(btc)}, 11)


def _best(exchange: Exchange, side: str, symbol: str = "BTC/USD") -> Decimal:
    book = exchange.books[symbol]
    price = book.best(side)
    assert price is not None
    return book.spec.price(price)


def _reports(exchange: Exchange) -> list[ExecutionReport]:
    return [r for c, r in exchange.account.outbox if isinstance(r, ExecutionReport)]


def _ledger(exchange: Exchange) -> list[BalanceEntry]:
    return [r for c, r in exchange.account.outbox if isinstance(r, BalanceEntry)]


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (OrderRequest("NOPE/USD", "buy", "limit", D("1"), D("1")), "EQuery:Unknown asset pair"),
        (
            OrderRequest("BTC/USD", "buy", "limit", D("0.00001"), D("60000")),
            "EOrder:Order minimum not met",
        ),
        (
            OrderRequest("BTC/USD", "buy", "limit", D("0.001"), D("60000.05")),
            "EOrder:Tick size check failed",
        ),
        (
            OrderRequest("BTC/USD", "buy", "limit", D("0.0001"), D("100")),
            "EOrder:Cost minimum not met",
        ),
        (OrderRequest("BTC/USD", "buy", "limit", D("10"), D("60000")), "EOrder:Insufficient funds"),
        (OrderRequest("BTC/USD", "sell", "limit", D("6"), D("70000")), "EOrder:Insufficient funds"),
        (
            OrderRequest("BTC/USD", "buy", "limit", D("0.000000001"), D("60000")),
            "EGeneral:Invalid arguments:order_qty",
        ),
    ],
)
def test_orders_breaking_kraken_rules_are_refused_with_its_strings(
    request_: OrderRequest, error: str
) -> None:
    assert _exchange().check_order(request_) == error


def test_cancel_only_market_refuses_new_orders() -> None:
    exchange = _exchange()
    exchange.system = "cancel_only"
    request = OrderRequest("BTC/USD", "buy", "limit", D("0.01"), D("60000"))
    assert exchange.check_order(request) == "EService:Market in cancel_only mode"


def test_open_orders_hold_funds() -> None:
    exchange = _exchange(usd="1000")
    first = OrderRequest("BTC/USD", "buy", "limit", D("0.015"), D("60000"))
    assert exchange.check_order(first) is None
    exchange.add_order(first, 0.0)
    assert exchange.check_order(first) == "EOrder:Insufficient funds"


def test_resting_limit_order_is_announced_pending_new_then_new() -> None:
    exchange = _exchange()
    price = _best(exchange, "bids") - D("100")
    book = exchange.books["BTC/USD"]
    ticks = book.spec.price_ticks(price)
    assert ticks is not None
    before = book.levels["bids"][ticks].qty if ticks in book.levels["bids"] else 0
    order, update = exchange.add_order(
        OrderRequest("BTC/USD", "buy", "limit", D("0.01"), price), 5.0
    )
    assert order.status == "new"
    assert [(r.exec_type, r.order_status) for r in _reports(exchange)] == [
        ("pending_new", "pending_new"),
        ("new", "new"),
    ]
    assert update.step.changes == [("bids", ticks, before + 1_000_000)]


def test_marketable_order_fills_as_taker_with_partially_filled_then_filled() -> None:
    exchange = _exchange()
    ask = _best(exchange, "asks")
    book = exchange.books["BTC/USD"]
    top_qty = book.spec.qty(book.top("asks", 1)[0][1])
    qty = top_qty + D("0.0001")  # needs two levels
    order, update = exchange.add_order(
        OrderRequest("BTC/USD", "buy", "limit", qty, ask + 1000), 5.0
    )
    trades = [r for r in _reports(exchange) if r.exec_type == "trade"]
    assert len(trades) == 2 and all(r.order_status == "partially_filled" for r in trades)
    assert _reports(exchange)[-1].exec_type == "filled"
    assert order.status == "filled" and order.cum_qty == qty
    assert all(t.liquidity_ind == "t" for t in trades)
    assert len(update.trades) == 2 and update.trades[0].side == "buy"


def test_fill_moves_balances_and_ledger_consistently() -> None:
    exchange = _exchange()
    before = dict(exchange.account.balances)
    ask = _best(exchange, "asks")
    order, _ = exchange.add_order(OrderRequest("BTC/USD", "buy", "market", D("0.001")), 5.0)
    fills = exchange.fills_of(order.order_id)
    cost = sum(f.cost for f in fills)
    fee = sum(f.fee for f in fills)
    assert fee == (cost * TAKER_FEE).quantize(D("1e-8"))
    after = exchange.account.balances
    assert after["BTC"] - before["BTC"] == D("0.001")
    assert after["USD"] - before["USD"] == -cost - fee
    ledger = _ledger(exchange)
    assert {e.asset for e in ledger} == {"BTC", "USD"}
    usd = [e for e in ledger if e.asset == "USD"]
    assert sum(e.amount - e.fee for e in usd) == after["USD"] - before["USD"]
    assert usd[-1].balance == after["USD"]
    assert fills[0].price >= ask


def test_a_fill_is_reported_before_its_ledger_entries() -> None:
    exchange = _exchange()
    exchange.add_order(OrderRequest("BTC/USD", "buy", "market", D("0.001")), 5.0)
    outbox = exchange.account.outbox
    kinds = [r.exec_type if isinstance(r, ExecutionReport) else c for c, r in outbox]
    assert kinds[-4:] == ["trade", "filled", "balances", "balances"]


def test_resting_order_fills_as_maker_when_background_sellers_reach_it() -> None:
    exchange = _exchange()
    bid = _best(exchange, "bids")
    order, _ = exchange.add_order(OrderRequest("BTC/USD", "buy", "limit", D("0.001"), bid), 5.0)
    for i in range(20_000):
        exchange.background_event(10.0 + i, "BTC/USD")
        if order.status == "filled":
            break
    assert order.status == "filled"
    fills = exchange.fills_of(order.order_id)
    assert all(f.liquidity == "m" for f in fills)
    assert sum(f.fee for f in fills) == sum((f.cost * MAKER_FEE).quantize(D("1e-8")) for f in fills)


def test_market_order_rest_is_canceled_when_liquidity_runs_out() -> None:
    exchange = Exchange(default_pairs(), {"USD": D(10**12)}, 3)
    order, _ = exchange.add_order(OrderRequest("BTC/USD", "buy", "market", D("100000")), 5.0)
    assert order.status == "canceled" and 0 < order.cum_qty < D("100000")


def test_cancel_removes_the_order_from_the_book_and_reports_it() -> None:
    exchange = _exchange()
    price = _best(exchange, "bids") - D("50")
    order, _ = exchange.add_order(OrderRequest("BTC/USD", "buy", "limit", D("0.01"), price), 5.0)
    ticks = exchange.specs["BTC/USD"].price_ticks(price)
    assert exchange.cancel_order(order.order_id, 6.0) is not None
    assert ticks not in exchange.books["BTC/USD"].levels["bids"] or all(
        c.owner != order.order_id for c in exchange.books["BTC/USD"].levels["bids"][ticks].chunks
    )
    assert _reports(exchange)[-1].exec_type == "canceled"
    assert exchange.cancel_order(order.order_id, 7.0) is None


def test_post_only_order_that_would_take_is_canceled() -> None:
    exchange = _exchange()
    ask = _best(exchange, "asks")
    request = OrderRequest("BTC/USD", "buy", "limit", D("0.01"), ask, post_only=True)
    order, update = exchange.add_order(request, 5.0)
    assert order.status == "canceled" and not update.step.matches


def test_unannounced_orders_and_funds_leave_no_stream_records() -> None:
    exchange = _exchange()
    exchange.account.move_funds("USD", D("250"), "deposit", 1.0, announce=False)
    price = _best(exchange, "bids") - D("100")
    exchange.add_order(
        OrderRequest("BTC/USD", "buy", "limit", D("0.01"), price), 2.0, announced=False
    )
    assert exchange.account.outbox == []
    assert exchange.account.balances["USD"] == D("100250")
    assert len(exchange.account.open_orders()) == 1
