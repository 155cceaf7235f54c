from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galfriday.events import Severity
from galfriday.reconcile.compare import (
    ExchangeOrder,
    ExchangeView,
    InternalOrder,
    InternalView,
    LedgerEntry,
    Thresholds,
    reconcile,
    severity,
)

D = Decimal
T = Thresholds()


@pytest.mark.parametrize(
    ("internal", "exchange", "expected"),
    [
        ("100", "100", None),
        ("110", "100", Severity.HIGH),  # exactly 10 %
        ("110.0001", "100", Severity.CRITICAL),
        ("105", "100", Severity.HIGH),  # exactly 5 %
        ("104.9999", "100", Severity.MEDIUM),
        ("101", "100", Severity.MEDIUM),  # exactly 1 %
        ("100.9999", "100", Severity.LOW),
        ("0", "100", Severity.CRITICAL),
        ("100", "0", Severity.CRITICAL),
        ("90", "100", Severity.HIGH),
        ("89.9999", "100", Severity.CRITICAL),
    ],
)
def test_severity_boundaries(internal: str, exchange: str, expected: Severity | None) -> None:
    assert severity(D(internal), D(exchange), T) is expected


_AMOUNT = st.decimals(min_value=D("0.00000001"), max_value=D("1000000"), places=8)


@given(_AMOUNT, _AMOUNT)
def test_severity_is_symmetric_around_the_exchange_value(exchange: Decimal, delta: Decimal) -> None:
    assert severity(exchange + delta, exchange, T) is severity(exchange - delta, exchange, T) or (
        exchange - delta == 0
    )


@given(_AMOUNT)
def test_a_difference_of_one_satoshi_on_a_huge_balance_is_still_seen(amount: Decimal) -> None:
    assert severity(amount + D("0.00000001"), amount, T) is not None


def _view(**balances: str) -> dict[str, Decimal]:
    return {k: D(v) for k, v in balances.items()}


def test_equal_views_have_nothing_to_say() -> None:
    result = reconcile(
        InternalView(balances=_view(USD="10", BTC="1"), symbols=("BTC/USD",)),
        ExchangeView(balances=_view(USD="10", BTC="1")),
    )
    assert result.discrepancies == () and result.corrections == () and result.review == ()


def test_small_balance_difference_is_corrected_and_large_one_reviewed() -> None:
    result = reconcile(
        InternalView(balances=_view(USD="1000.0000", EUR="500")),
        ExchangeView(balances=_view(USD="1000.0009", EUR="470")),
    )
    assert [(c.subject, c.old, c.new) for c in result.corrections] == [
        ("USD", D("1000.0000"), D("1000.0009"))
    ]
    assert [(d.kind, d.subject, d.severity) for d in result.review] == [
        ("balance_mismatch", "EUR", Severity.HIGH)
    ]


def test_position_rules_small_corrected_large_reviewed_never_deleted() -> None:
    internal = InternalView(
        balances=_view(BTC="1.000", ETH="2", XRP="0", DOGE="5"),
        symbols=("BTC/USD", "ETH/USD", "XRP/USD", "DOGE/USD"),
    )
    exchange = ExchangeView(balances=_view(BTC="1.005", ETH="3", XRP="0.005", DOGE="0"))
    result = reconcile(internal, exchange)
    kinds = {d.subject: (d.kind, d.severity) for d in result.discrepancies}
    assert kinds == {
        "BTC/USD": ("quantity_mismatch", Severity.LOW),
        "ETH/USD": ("quantity_mismatch", Severity.CRITICAL),
        "XRP/USD": ("position_missing_internally", Severity.CRITICAL),
        "DOGE/USD": ("position_missing_exchange", Severity.CRITICAL),
    }
    assert {c.subject for c in result.corrections} == {"BTC/USD", "XRP/USD"}
    assert {d.subject for d in result.review} == {"ETH/USD", "DOGE/USD"}


def test_missed_ledger_entries_explain_instead_of_blaming() -> None:
    missed = [
        LedgerEntry(ledger_id="L1", asset="USD", amount=D("250"), kind="deposit"),
        LedgerEntry(ledger_id="L2", asset="USD", amount=D("-10"), fee=D("0.5"), kind="withdrawal"),
    ]
    result = reconcile(
        InternalView(balances=_view(USD="1000")), ExchangeView(balances=_view(USD="1239.5")), missed
    )
    assert result.discrepancies == ()
    assert [(e.asset, e.delta, e.ledger_ids) for e in result.explained] == [
        ("USD", D("239.5"), ("L1", "L2"))
    ]


def test_orders_untracked_state_mismatch_and_missing_fills() -> None:
    internal = InternalView(
        balances={},
        orders={
            "A": InternalOrder(order_id="A", status="new"),
            "B": InternalOrder(order_id="B", status="partially_filled", filled=D("1")),
            "C": InternalOrder(order_id="C", status="filled", filled=D("2")),
        },
        fills=frozenset({"T1"}),
    )
    exchange = ExchangeView(
        balances={},
        orders={
            "A": ExchangeOrder(order_id="A", status="open"),
            "B": ExchangeOrder(order_id="B", status="closed", filled=D("2")),
            "C": ExchangeOrder(order_id="C", status="closed", filled=D("2")),
            "X": ExchangeOrder(order_id="X", status="open", symbol="BTC/USD"),
            "Y": ExchangeOrder(order_id="Y", status="canceled"),
        },
        fills=frozenset({"T1", "T2"}),
    )
    result = reconcile(internal, exchange)
    assert [(d.kind, d.subject) for d in result.discrepancies] == [
        ("untracked_order", "X"),
        ("order_state_mismatch", "B"),
        ("fill_missing_internally", "T2"),
    ]
    assert all(d.severity is Severity.HIGH for d in result.discrepancies)
    assert result.corrections == () and len(result.review) == 3


def test_an_open_order_the_exchange_does_not_know_goes_to_review() -> None:
    internal = InternalView(balances={}, orders={"A": InternalOrder(order_id="A", status="new")})
    exchange = ExchangeView(balances={}, unknown=frozenset({"A"}))
    result = reconcile(internal, exchange)
    [item] = result.review
    assert (item.kind, item.subject, item.severity) == (
        "order_unknown_to_exchange",
        "A",
        Severity.HIGH,
    )
    assert (item.internal, item.exchange) == ("new", None)


_ASSETS = st.sampled_from(["BTC", "ETH", "USD", "EUR", "DOGE"])


@given(
    st.dictionaries(_ASSETS, _AMOUNT | st.just(D(0))),
    st.dictionaries(_ASSETS, _AMOUNT | st.just(D(0))),
)
def test_every_discrepancy_is_corrected_or_reviewed_and_never_deleted(
    ours: dict[str, Decimal], theirs: dict[str, Decimal]
) -> None:
    internal = InternalView(balances=ours, symbols=("BTC/USD", "DOGE/USD"))
    result = reconcile(internal, ExchangeView(balances=theirs))
    corrected = {c.subject for c in result.corrections}
    reviewed = {d.subject for d in result.review}
    assert corrected.isdisjoint(reviewed)
    assert corrected | reviewed == {d.subject for d in result.discrepancies}
    for correction in result.corrections:
        asset = correction.subject.split("/")[0]
        assert correction.new == theirs.get(asset, D(0))
        assert not (correction.kind == "position" and correction.new == 0)  # never a deletion


def test_what_the_stream_changed_during_the_fetch_is_deferred_not_corrected() -> None:
    # The soak's finding: fills arrived on the stream while slow REST calls ran, and the
    # run "corrected" the new BTC position back to the exchange's older answer.
    internal = InternalView(
        balances=_view(BTC="1.0010", USD="900", ETH="2.0"),
        symbols=("BTC/USD", "ETH/USD"),
        orders={"A": InternalOrder(order_id="A", status="filled", filled=D("0.0008"))},
        unsettled=frozenset({"BTC", "USD", "A"}),
    )
    exchange = ExchangeView(
        balances=_view(BTC="1.0002", USD="952", ETH="2.5"),
        orders={"A": ExchangeOrder(order_id="A", status="open")},
    )
    result = reconcile(
        internal,
        exchange,
        [LedgerEntry(ledger_id="L1", asset="USD", amount=D("52"))],
    )
    assert result.deferred == ("A", "BTC", "USD")
    assert [d.subject for d in result.discrepancies] == ["ETH/USD"]  # the settled one only
    assert result.explained == ()


def test_a_fill_the_stream_may_still_be_bringing_is_deferred_not_reported() -> None:
    # The exchange can be ahead of the stream: an order that filled a moment before the run
    # has its report still in flight. Its order and its trade wait for the next run; a
    # recent order the stream already has is simply compared.
    internal = InternalView(
        balances=_view(USD="100"),
        orders={
            "A": InternalOrder(order_id="A", status="new"),
            "B": InternalOrder(order_id="B", status="filled", filled=D("0.2")),
        },
        fills=frozenset({"T1", "T4"}),
    )
    exchange = ExchangeView(
        balances=_view(USD="100"),
        orders={
            "A": ExchangeOrder(order_id="A", status="closed", filled=D("0.1")),
            "B": ExchangeOrder(order_id="B", status="closed", filled=D("0.2")),
            "N": ExchangeOrder(order_id="N", status="open"),
        },
        fills=frozenset({"T1", "T2", "T3", "T4"}),
        recent=frozenset({"A", "B", "N", "T2", "T4"}),
    )
    result = reconcile(internal, exchange)
    assert result.deferred == ("A", "N", "T2")
    assert [(d.kind, d.subject) for d in result.discrepancies] == [
        ("fill_missing_internally", "T3")  # an older trade the stream never brought
    ]
