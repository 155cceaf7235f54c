"""Balances per asset and positions per pair, from the private stream (sans-IO).

Balances come from the ``balances`` channel: a snapshot sets every asset; each ledger update
carries the asset's total after that entry, which becomes the balance. Ledger entries are
deduplicated by ``ledger_id`` (a replayed or duplicated entry changes nothing). A position is
the holding of a pair's base asset (spot: what you own is your position).

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
        self.balances: dict[str, Decimal] = {}
        # Per asset, the time (epoch seconds) up to which the balance is known to be complete:
        # a snapshot's receive time, or the exchange time of the latest ledger update. A ledger
        # entry at or before it is already inside the balance (updates carry the total after).
        self.as_of: dict[str, float] = {}
        self._ledger = MessageCache(LEDGER_TTL, LEDGER_MAX)
        self.duplicates = 0
        self.snapshotted = False

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
            previous = self.balances.get(entry.asset, ZERO)
            self.balances[entry.asset] = entry.balance
            self.as_of[entry.asset] = received_at
            changes.append(
                BalanceChange(
                    asset=entry.asset,
                    balance=entry.balance,
                    received_at=received_at,
                    unexplained=_moved(previous, entry.balance) if judged else None,
                )
            )
        for asset in [a for a in self.balances if a not in seen]:
            previous = self.balances[asset]
            self.balances[asset] = ZERO
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
        previous = self.balances.get(entry.asset)
        self.balances[entry.asset] = entry.balance
        stamp = entry.timestamp.timestamp() if entry.timestamp else received_at
        self.as_of[entry.asset] = max(self.as_of.get(entry.asset, 0.0), stamp)
        return BalanceChange(
            asset=entry.asset,
            balance=entry.balance,
            amount=entry.amount,
            fee=entry.fee,
            ledger_id=entry.ledger_id,
            ref_id=entry.ref_id,
            ledger_type=entry.ledger_type,
            timestamp=entry.timestamp,
            received_at=received_at,
            unexplained=_unexplained(previous, entry),
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


def _unexplained(previous: Decimal | None, entry: BalanceEntry) -> Decimal | None:
    """What of a ledger entry's total its amount does not explain (None: it adds up)."""
    if previous is None or entry.balance is None or entry.amount is None:
        return None
    if entry.wallet_type not in (None, "spot"):
        return None  # an earn wallet's total is not the spot balance we hold
    expected = previous + entry.amount
    fee = entry.fee or ZERO
    if entry.balance in (expected, expected - fee):
        return None
    return entry.balance - (expected - fee)
