"""A run's decisions, pure: the exchange's view from answers, the retry schedule, settling."""

from __future__ import annotations

from decimal import Decimal

from galfriday.events import Alert, BalanceAdjusted, ReviewItem, Severity
from galfriday.kraken.answers import RestOrder, RestTrade
from galfriday.kraken.symbols import SymbolMap
from galfriday.reconcile.compare import (
    ExchangeView,
    InternalView,
    reconcile,
)
from galfriday.reconcile.run import (
    Answers,
    ReconcileConfig,
    exchange_view,
    retry_delay,
    settle,
)

D = Decimal


def _order(opened: float | None, closed: float | None = None) -> RestOrder:
    return RestOrder(status="open", vol=D(1), opentm=opened, closetm=closed)


def _trade(at: float, order_id: str) -> RestTrade:
    return RestTrade(
        ordertxid=order_id, pair="XXBTZUSD", time=at, type="buy", price=D(1), cost=D(1), vol=D(1)
    )


def test_recent_means_opened_closed_or_traded_within_the_settle_window() -> None:
    answers = Answers(
        balance={},
        orders={"A": _order(10, 100.5), "B": _order(90), "C": _order(None), "E": _order(100.0)},
        unknown=set(),
        trades={"T": _trade(101, "D"), "U": _trade(5, "F")},
    )
    view = exchange_view(answers, SymbolMap(), now=105.0, settle=5.0, fills_since=0.0)
    assert view.recent == {"A", "E", "T", "D"}


def test_only_fills_since_the_first_run_are_compared_and_only_spot_balances() -> None:
    answers = Answers(
        balance={"XXBT": D("1"), "XBT.F": D("2"), "KFEE": D("500"), "ZUSD": D("10")},
        orders={},
        unknown=set(),
        trades={"OLD": _trade(50, "O1"), "NEW": _trade(150, "O2")},
    )
    view = exchange_view(answers, SymbolMap(), now=200.0, settle=5.0, fills_since=100.0)
    assert view.balances == {"BTC": D("1"), "USD": D("10")}
    assert view.fills == {"NEW"}


def test_the_retry_schedule_doubles_from_thirty_seconds_up_to_ten_minutes() -> None:
    config = ReconcileConfig(retry_base=30.0, retry_max=600.0)
    delays = [retry_delay(failures, config) for failures in range(1, 9)]
    assert delays == [30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0, 600.0]
    assert retry_delay(10_000, config) == 600.0


def test_settling_a_run_corrects_small_queues_large_and_alerts_once() -> None:
    internal = InternalView(balances={"USD": D("100"), "ETH": D("10")})
    exchange = ExchangeView(balances={"USD": D("100.0005"), "ETH": D("12")})
    result = reconcile(internal, exchange)
    settled = settle("run1", result, internal.balances, set(), 1_700_000_000.0)
    [adjusted] = [e for e in settled.events if isinstance(e, BalanceAdjusted)]
    assert (adjusted.subject, adjusted.old, adjusted.new) == ("USD", D("100"), D("100.0005"))
    assert settled.balances == [("USD", D("100.0005"))]
    [item] = [e for e in settled.events if isinstance(e, ReviewItem)]
    assert (item.kind, item.subject, item.severity) == (
        "balance_mismatch",
        "ETH",
        Severity.CRITICAL,
    )
    assert [type(e) for e in settled.events].count(Alert) == 1
    again = settle("run2", result, internal.balances, {("balance_mismatch", "ETH")}, 1.0)
    assert not [e for e in again.events if isinstance(e, ReviewItem | Alert)]  # waiting already
