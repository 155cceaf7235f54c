"""What a recovery's REST ledger read does to the balances the stream keeps."""

from __future__ import annotations

from decimal import Decimal

from galfriday.core.account import AccountConfig, AccountMachine
from galfriday.core.frames import ListSink
from galfriday.core.health import ConnectionMetrics
from galfriday.events import LedgerEntryLearnt
from galfriday.kraken.answers import RestLedgerEntry
from galfriday.kraken.wire import BalanceEntry

D = Decimal
SNAPSHOT_AT = 1_000.0  # the resubscription's balances snapshot is received here


def _entry(time: float, amount: str, balance: str) -> RestLedgerEntry:
    return RestLedgerEntry(
        time=time, type="trade", asset="ZUSD", amount=D(amount), balance=D(balance)
    )


def test_an_entry_newer_than_the_snapshot_is_left_for_the_stream_to_apply() -> None:
    # Kraken does not order its executions and balances channels: a fill's ledger entry can
    # still be on its way when the recovery reads Ledgers. Marked as learnt, the stream's
    # copy would be dropped as a repeat and the balance would miss it.
    sink = ListSink()
    machine = AccountMachine(AccountConfig(), ConnectionMetrics("private", 0.0), sink)
    machine.portfolio.apply_snapshot([BalanceEntry(asset="USD", balance=D("1000"))], SNAPSHOT_AT)
    machine.learn_ledger(
        {
            "L-OLD": _entry(SNAPSHOT_AT - 5, "-100", "1000"),  # inside the snapshot's total
            "L-NEW": _entry(SNAPSHOT_AT + 5, "65", "1065"),  # after it: on its way
        },
        SNAPSHOT_AT + 6,
    )
    assert [e.ledger_id for e in sink.of(LedgerEntryLearnt)] == ["L-OLD"]
    streamed = BalanceEntry(asset="USD", ledger_id="L-NEW", amount=D("65"), balance=D("1065"))
    assert machine.portfolio.apply_ledger(streamed, SNAPSHOT_AT + 7) is not None
    assert machine.portfolio.balances["USD"] == D("1065")
