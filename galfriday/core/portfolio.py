"""Balances per asset and positions per pair, from the private stream (sans-IO).

Balances come from the ``balances`` channel: a snapshot sets every asset; each ledger update
carries the asset's total after that entry. Ledger entries are deduplicated by ``ledger_id``
(a replayed or duplicated entry changes nothing). A position is the tradable (spot) holding of
a pair's base asset.

Wallets: Kraken holds an asset in a spot wallet and in earn wallets (staking, auto-earn). A
snapshot's ``balance`` is the total over all wallets and its ``wallets`` split it;
:attr:`Portfolio.balances` keeps the spot part (what can be traded, what REST ``Balance``
lists under the plain asset code) and :attr:`Portfolio.earn` the rest (REST lists it under
suffixed codes such as ``XBT.F``). An update's ``balance`` is documented as the asset's total
in the account; an update to the spot wallet then sets spot to that total less the earn part.
The other reading (the spot wallet's own balance) is taken when it is the one that adds up.

Each change says how much of it the stream cannot explain (``unexplained``): a ledger entry
whose total is not the previous balance plus its amount (with or without its fee: Kraken's
docs do not say which, so both readings count as explained), or a later snapshot that differs
from the balance it replaces. The exchange's figure is still taken; the difference is for the
caller to report (a deposit, a withdrawal or a trade the stream never announced).

Pure: no I/O, no clock; time comes in as ``received_at``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final

from galfriday.core.sequencing import MessageCache
from galfriday.events import BalanceChange
from galfriday.kraken.wire import BalanceEntry

__all__ = ["Portfolio"]

LEDGER_TTL: Final = 7 * 24 * 3600.0
LEDGER_MAX: Final = 200_000
ZERO: Final = Decimal(0)


class Portfolio:
    """What the account holds, as far as the private stream has told us."""

    def __init__(self) -> None:
        self.balances: dict[str, Decimal] = {}  # spot (tradable), per asset
        self.earn: dict[str, Decimal] = {}  # in earn wallets, per asset
        # Per asset, the time (epoch seconds) up to which the balance is known to be complete:
        # a snapshot's receive time, or the exchange time of the latest ledger update. A ledger
        # entry at or before it is already inside the balance (updates carry the total after).
        self.as_of: dict[str, float] = {}
        self._ledger = MessageCache(LEDGER_TTL, LEDGER_MAX)
        self.duplicates = 0
        self.snapshotted = False

    def total(self, asset: str) -> Decimal:
        """``asset`` over all wallets (spot and earn)."""
        return self.balances.get(asset, ZERO) + self.earn.get(asset, ZERO)

    def position(self, symbol: str) -> Decimal:
        """The base-asset holding of ``symbol`` (``BTC/USD`` -> BTC)."""
        return self.balances.get(symbol.split("/", 1)[0], ZERO)

    def positions(self, symbols: Iterable[str]) -> dict[str, Decimal]:
        return {symbol: self.position(symbol) for symbol in symbols}

    def apply_snapshot(
        self, entries: Iterable[BalanceEntry], received_at: float
    ) -> list[BalanceChange]:
        """Replace every balance with the snapshot's."""
        changes = []
        seen = set()
        judged = self.snapshotted
        for entry in entries:
            if entry.balance is None:
                continue
            seen.add(entry.asset)
            spot, earn = _split(entry, entry.balance)
            previous = self.balances.get(entry.asset, ZERO)
            self.balances[entry.asset] = spot
            self.earn[entry.asset] = earn
            self.as_of[entry.asset] = received_at
            changes.append(
                BalanceChange(
                    asset=entry.asset,
                    balance=spot,
                    earn=earn,
                    received_at=received_at,
                    unexplained=_moved(previous, spot) if judged else None,
                )
            )
        for asset in [a for a in self.balances if a not in seen]:
            previous = self.balances[asset]
            self.balances[asset] = ZERO
            self.earn.pop(asset, None)
            changes.append(
                BalanceChange(
                    asset=asset,
                    balance=ZERO,
                    received_at=received_at,
                    unexplained=_moved(previous, ZERO) if judged else None,
                )
            )
        self.snapshotted = True
        return changes

    def apply_ledger(self, entry: BalanceEntry, received_at: float) -> BalanceChange | None:
        """Apply one ledger entry; None if it was seen before or carries no balance."""
        if entry.ledger_id is not None and self._ledger.seen(entry.ledger_id, received_at):
            self.duplicates += 1
            return None
        if entry.balance is None:
            return None
        asset = entry.asset
        previous, earn = self.balances.get(asset), self.earn.get(asset, ZERO)
        if entry.wallet_type in (None, "spot"):
            spot, unexplained = _spot_after(previous, earn, entry, entry.balance)
        else:  # an earn wallet: the spot part stays, the earn part is the rest of the total
            spot = previous if previous is not None else ZERO
            earn = entry.balance - spot
            unexplained = None
        self.balances[asset] = spot
        self.earn[asset] = earn
        stamp = entry.timestamp.timestamp() if entry.timestamp else received_at
        self.as_of[asset] = max(self.as_of.get(asset, 0.0), stamp)
        return BalanceChange(
            asset=asset,
            balance=spot,
            earn=earn,
            amount=entry.amount,
            fee=entry.fee,
            ledger_id=entry.ledger_id,
            ref_id=entry.ref_id,
            ledger_type=entry.ledger_type,
            timestamp=entry.timestamp,
            received_at=received_at,
            unexplained=unexplained,
        )

    def reflects(self, asset: str, at: float) -> bool:
        """True if a ledger entry on ``asset`` at ``at`` is already inside its balance."""
        return at <= self.as_of.get(asset, float("-inf"))

    def knows_ledger(self, ledger_id: str) -> bool:
        return ledger_id in self._ledger

    def mark_ledger_seen(self, ledger_id: str, received_at: float) -> None:
        """Remember a ledger entry learnt elsewhere (REST), so the stream cannot repeat it."""
        self._ledger.seen(ledger_id, received_at)


def _moved(previous: Decimal, balance: Decimal) -> Decimal | None:
    return None if balance == previous else balance - previous


def _split(entry: BalanceEntry, total: Decimal) -> tuple[Decimal, Decimal]:
    """(spot, earn) of a snapshot entry: its spot wallets, and the rest of its total."""
    if not entry.wallets:
        return total, ZERO
    spot = sum((w.balance for w in entry.wallets if w.type == "spot"), ZERO)
    return spot, total - spot


def _spot_after(
    previous: Decimal | None, earn: Decimal, entry: BalanceEntry, balance: Decimal
) -> tuple[Decimal, Decimal | None]:
    """The spot balance after a spot-wallet ledger entry, and what of it the entry does not
    explain (None: it adds up, or cannot be judged)."""
    as_total = balance - earn  # the documented reading: the asset's total in the account
    if previous is None or entry.amount is None:
        return as_total, None
    fee = entry.fee or ZERO
    expected = (previous + entry.amount, previous + entry.amount - fee)
    if as_total in expected:
        return as_total, None
    if earn and balance in expected:  # the other reading: the spot wallet's own balance
        return balance, None
    return as_total, as_total - expected[1]
