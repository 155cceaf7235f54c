"""The portfolio notices a balance that moved without a ledger entry to explain it."""

from __future__ import annotations

from decimal import Decimal

from galfriday.core.portfolio import Portfolio
from galfriday.kraken.wire import BalanceEntry

D = Decimal


def _snapshot(portfolio: Portfolio, at: float, **balances: str) -> list[Decimal | None]:
    entries = [BalanceEntry(asset=a, balance=D(b)) for a, b in balances.items()]
    return [c.unexplained for c in portfolio.apply_snapshot(entries, at)]


def _ledger(
    portfolio: Portfolio, ledger_id: str, asset: str, amount: str, fee: str, balance: str
) -> Decimal | None:
    entry = BalanceEntry(
        asset=asset, ledger_id=ledger_id, amount=D(amount), fee=D(fee), balance=D(balance)
    )
    change = portfolio.apply_ledger(entry, 1.0)
    assert change is not None
    return change.unexplained


def test_a_ledger_entry_that_adds_up_explains_its_balance() -> None:
    portfolio = Portfolio()
    assert _snapshot(portfolio, 0.0, USD="1000") == [None]  # the first snapshot is the start
    assert _ledger(portfolio, "L1", "USD", "-100", "0.26", "899.74") is None
    # the other reading of Kraken's ledger: the fee already inside the amount
    assert _ledger(portfolio, "L2", "USD", "50", "0.13", "949.74") is None


def test_a_ledger_entry_after_a_silent_deposit_is_flagged() -> None:
    portfolio = Portfolio()
    _snapshot(portfolio, 0.0, USD="1000")
    assert _ledger(portfolio, "L1", "USD", "-100", "0", "1150") == D("250")
    assert portfolio.balances["USD"] == D("1150")  # the exchange's total is still taken


def test_a_ledger_entry_without_an_amount_or_a_previous_balance_is_not_judged() -> None:
    portfolio = Portfolio()
    change = portfolio.apply_ledger(BalanceEntry(asset="ETH", ledger_id="L1", balance=D(3)), 1.0)
    assert change is not None and change.unexplained is None
    assert _ledger(portfolio, "L2", "BTC", "1", "0", "5") is None  # BTC never seen before


def test_a_later_snapshot_that_differs_is_flagged_per_asset() -> None:
    portfolio = Portfolio()
    _snapshot(portfolio, 0.0, USD="1000", BTC="1")
    assert _snapshot(portfolio, 5.0, USD="1000", BTC="1.5") == [None, D("0.5")]
    assert portfolio.balances == {"USD": D("1000"), "BTC": D("1.5")}
