"""The portfolio notices a balance that moved without a ledger entry to explain it."""

from __future__ import annotations

from decimal import Decimal

from galfriday.core.portfolio import Portfolio
from galfriday.kraken.wire import BalanceEntry, Wallet

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


def _wallets(asset: str, spot: str, earn: str) -> BalanceEntry:
    """A snapshot entry as Kraken documents it: ``balance`` is the total over all wallets."""
    total = D(spot) + D(earn)
    return BalanceEntry(
        asset=asset,
        balance=total,
        wallets=[
            Wallet(type="spot", id="main", balance=D(spot)),
            Wallet(type="earn", id="flex", balance=D(earn)),
        ],
    )


def test_a_snapshot_splits_spot_from_earn_wallets() -> None:
    # Kraken's documented example: MATIC 500 = spot 300 + earn (flex) 200.
    portfolio = Portfolio()
    [change] = portfolio.apply_snapshot([_wallets("MATIC", "300", "200")], 0.0)
    assert portfolio.balances["MATIC"] == D("300")  # what can be traded: the position
    assert portfolio.earn["MATIC"] == D("200")
    assert portfolio.total("MATIC") == D("500")
    assert (change.balance, change.earn) == (D("300"), D("200"))


def test_a_spot_ledger_update_carrying_the_all_wallet_total_moves_spot_only() -> None:
    # Kraken documents an update's balance as the asset's total in the account.
    portfolio = Portfolio()
    portfolio.apply_snapshot([_wallets("MATIC", "300", "200")], 0.0)
    entry = BalanceEntry(
        asset="MATIC",
        ledger_id="L1",
        wallet_type="spot",
        amount=D("-100"),
        fee=D("0"),
        balance=D("400"),
    )
    change = portfolio.apply_ledger(entry, 1.0)
    assert change is not None and change.unexplained is None
    assert portfolio.balances["MATIC"] == D("200") and portfolio.earn["MATIC"] == D("200")


def test_a_spot_ledger_update_carrying_the_wallet_balance_is_read_so_too() -> None:
    # The other reading (unverified): the spot wallet's own balance.
    portfolio = Portfolio()
    portfolio.apply_snapshot([_wallets("MATIC", "300", "200")], 0.0)
    entry = BalanceEntry(
        asset="MATIC",
        ledger_id="L1",
        wallet_type="spot",
        amount=D("-100"),
        fee=D("0"),
        balance=D("200"),
    )
    change = portfolio.apply_ledger(entry, 1.0)
    assert change is not None and change.unexplained is None
    assert portfolio.balances["MATIC"] == D("200") and portfolio.earn["MATIC"] == D("200")


def test_an_earn_wallet_update_moves_earn_not_spot() -> None:
    portfolio = Portfolio()
    portfolio.apply_snapshot([_wallets("ETH", "10", "2")], 0.0)
    entry = BalanceEntry(
        asset="ETH",
        ledger_id="L1",
        wallet_type="earn",
        amount=D("0.01"),
        fee=D("0"),
        balance=D("12.01"),
    )
    change = portfolio.apply_ledger(entry, 1.0)
    assert change is not None and change.unexplained is None
    assert portfolio.balances["ETH"] == D("10") and portfolio.earn["ETH"] == D("2.01")
