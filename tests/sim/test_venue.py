"""The venue as a pure object: plain times in, no trio, no clock."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from galfriday.kraken.auth import decode_secret, sign
from galfriday.sim.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimConfig
from galfriday.sim.exchange import OrderRequest
from galfriday.sim.faults import Fault
from galfriday.sim.venue import CallCounter, Venue

D = Decimal
NOW, WALL = 100.0, 1_700_000_000.0  # one instant on each clock


def _venue(**config: object) -> Venue:
    return Venue(SimConfig(**config))  # type: ignore[arg-type]


def _resting_buy(venue: Venue, expire_at: float | None = None) -> OrderRequest:
    """A minimum BTC/USD buy 300 ticks under the best bid (it rests)."""
    spec = venue.exchange.specs["BTC/USD"]
    best = venue.exchange.books["BTC/USD"].best("bids")
    assert best is not None
    tif = "GTD" if expire_at is not None else "GTC"
    return OrderRequest(
        "BTC/USD", "buy", "limit", spec.qty_min, spec.price(best - 300), time_in_force=tif,
        expire_at=expire_at,
    )  # fmt: skip


def _place(venue: Venue, now: float = NOW, wall: float = WALL, **kwargs: float) -> str:
    order, _ = venue.place_order(_resting_buy(venue, **kwargs), now, wall)
    assert order.is_open
    return order.order_id


# --- tokens -------------------------------------------------------------------------------


def test_an_unused_token_works_until_its_ttl_and_not_after() -> None:
    venue = _venue(token_ttl=900.0)
    token = venue.issue_token(NOW)
    assert venue.check_token(token, NOW + 900.0) is None
    assert venue.check_token(token, NOW + 900.001) == "EAPI:Invalid token"


def test_a_token_in_use_outlives_its_ttl() -> None:
    venue = _venue(token_ttl=900.0)
    token = venue.issue_token(NOW)
    venue.use_token(token)
    assert venue.check_token(token, NOW + 10_000) is None


def test_a_token_retires_when_no_subscription_uses_it_any_more() -> None:
    venue = _venue()
    token = venue.issue_token(NOW)
    venue.use_token(token)
    venue.release_token(token)
    assert venue.check_token(token, NOW + 1) == "EAPI:Invalid token"


def test_a_token_stays_while_another_subscription_uses_it() -> None:
    venue = _venue()
    token = venue.issue_token(NOW)
    venue.use_token(token)
    venue.use_token(token)
    venue.release_token(token)
    assert venue.check_token(token, NOW + 1) is None


def test_an_unknown_or_missing_token_is_refused() -> None:
    venue = _venue()
    assert venue.check_token("nope", NOW) == "EAPI:Invalid token"
    assert venue.check_token(None, NOW) == "EAPI:Invalid token"


def test_invalidated_tokens_are_refused_and_the_fault_recorded() -> None:
    venue = _venue()
    token = venue.issue_token(NOW)
    venue.invalidate_tokens(WALL)
    assert venue.check_token(token, NOW) == "EAPI:Invalid token"
    assert venue.check_token(venue.issue_token(NOW), NOW) is None
    [record] = venue.faults.injected(Fault.INVALIDATE_TOKEN)
    assert record.at == WALL


# --- the dead-man switch --------------------------------------------------------------------


def test_arming_the_dead_man_switch_sets_its_due_time_and_trigger() -> None:
    venue = _venue()
    assert venue.arm_dead_man_switch(60, NOW, WALL) == WALL + 60
    assert venue.dead_man_at == NOW + 60
    assert venue.next_due() == NOW + 60


def test_the_dead_man_switch_fires_at_its_time_and_not_before() -> None:
    venue = _venue()
    orders = [_place(venue) for _ in range(2)]
    venue.arm_dead_man_switch(60, NOW, WALL)
    early = venue.due(NOW + 59.999, WALL + 59.999)
    assert early.dead_man is None and early.updates == []
    fired = venue.due(NOW + 60, WALL + 60)
    assert fired.dead_man == 2 and len(fired.updates) == 2
    account = venue.exchange.account
    assert {account.orders[o].reason for o in orders} == {"cancel_all_orders_after"}
    assert venue.dead_man_at is None and venue.next_due() is None


def test_rearming_postpones_the_switch_and_zero_disarms_it() -> None:
    venue = _venue()
    _place(venue)
    venue.arm_dead_man_switch(30, NOW, WALL)
    venue.arm_dead_man_switch(30, NOW + 20, WALL + 20)
    assert venue.due(NOW + 30, WALL + 30).dead_man is None
    assert venue.arm_dead_man_switch(0, NOW + 40, WALL + 40) == WALL + 40
    assert venue.next_due() is None
    assert venue.due(NOW + 1000, WALL + 1000).dead_man is None
    assert len(venue.exchange.account.open_orders()) == 1


# --- GTD expiry ---------------------------------------------------------------------------


def test_a_gtd_order_is_due_at_its_expire_time_on_the_monotonic_clock() -> None:
    venue = _venue()
    order_id = _place(venue, expire_at=WALL + 30)
    assert venue.next_due() == NOW + 30
    assert venue.due(NOW + 29.999, WALL + 29.999).expired == []
    due = venue.due(NOW + 30, WALL + 30)
    assert due.expired == [order_id] and len(due.updates) == 1
    order = venue.exchange.account.orders[order_id]
    assert order.status == "expired" and order.closed == WALL + 30
    assert venue.next_due() is None


def test_a_gtd_order_already_past_its_time_is_due_at_once() -> None:
    venue = _venue()
    _place(venue, expire_at=WALL - 5)
    assert venue.next_due() == NOW


def test_a_gtd_order_cancelled_first_expires_nothing() -> None:
    venue = _venue()
    order_id = _place(venue, expire_at=WALL + 30)
    assert venue.cancel_order(order_id, WALL + 1) is not None
    due = venue.due(NOW + 30, WALL + 30)
    assert due.expired == [] and due.updates == []
    assert venue.exchange.account.orders[order_id].status == "canceled"


def test_expiries_fall_in_time_order_whatever_the_order_placed() -> None:
    venue = _venue()
    late = _place(venue, expire_at=WALL + 50)
    soon = _place(venue, expire_at=WALL + 10)
    assert venue.next_due() == NOW + 10
    assert venue.due(NOW + 10, WALL + 10).expired == [soon]
    assert venue.next_due() == NOW + 50
    assert venue.due(NOW + 60, WALL + 60).expired == [late]


# --- the REST key -------------------------------------------------------------------------


def _call(venue: Venue, nonce: int, method: str = "Balance", now: float = NOW, **kw: str) -> str:
    """Authenticate one signed private call; Kraken's error, or "" when accepted."""
    path, body = f"/0/private/{method}", f"nonce={nonce}".encode()
    secret = decode_secret(kw.get("secret", DEFAULT_API_SECRET))
    error = venue.authenticate(
        key=kw.get("key", DEFAULT_API_KEY),
        signature=sign(path, nonce, body, secret),
        path=path,
        nonce=str(nonce),
        body=body,
        method=method,
        now=now,
    )
    return error or ""


def test_the_counter_refuses_a_call_above_its_maximum() -> None:
    venue = _venue(rest_counter=(3.0, 0.5))
    assert [_call(venue, n) for n in (1, 2, 3, 4)] == ["", "", "", "EAPI:Rate limit exceeded"]


def test_the_counter_decays_at_its_rate() -> None:
    venue = _venue(rest_counter=(3.0, 0.5))
    for nonce in (1, 2, 3):
        _call(venue, nonce)
    assert _call(venue, 4, now=NOW + 1.999) == "EAPI:Rate limit exceeded"
    assert _call(venue, 5, now=NOW + 2.0) == ""  # 3 - 2 s x 0.5 = 2, plus 1
    assert venue.counter.value(NOW + 2.0) == 3.0


def test_history_queries_cost_two_and_orders_nothing() -> None:
    venue = _venue(rest_counter=(3.0, 0.5))
    assert _call(venue, 1, "Ledgers") == ""
    assert venue.counter.value(NOW) == 2.0
    assert _call(venue, 2, "AddOrder") == "" and _call(venue, 3, "CancelOrder") == ""
    assert venue.counter.value(NOW) == 2.0
    assert _call(venue, 4, "TradesHistory") == "EAPI:Rate limit exceeded"


def test_a_refused_call_costs_nothing() -> None:
    counter = CallCounter(2.0, 1.0)
    assert counter.charge(2.0, 0.0)
    assert not counter.charge(1.0, 0.5)
    assert counter.value(0.5) == 1.5


def test_key_signature_and_nonce_are_checked_in_krakens_order() -> None:
    venue = _venue()
    other = "b3RoZXIgc2VjcmV0IG9mIHRoZSByaWdodCBsZW5ndGg="
    assert _call(venue, 5, key="nope", secret=other) == "EAPI:Invalid key"
    assert _call(venue, 5, secret=other) == "EAPI:Invalid signature"
    assert _call(venue, 5) == ""
    assert _call(venue, 5) == "EAPI:Invalid nonce"
    assert _call(venue, 4) == "EAPI:Invalid nonce"
    assert _call(venue, 6) == ""


def test_a_call_refused_for_its_nonce_is_not_counted() -> None:
    venue = _venue(rest_counter=(3.0, 0.5))
    _call(venue, 5)
    _call(venue, 5)
    assert venue.counter.value(NOW) == 1.0


# --- drift and ground truth ---------------------------------------------------------------


def test_drifted_funds_change_the_balance_silently_and_are_recorded() -> None:
    venue = _venue()
    before = venue.exchange.account.balances["USD"]
    venue.drift_funds("USD", D("250"), WALL)
    assert venue.exchange.account.balances["USD"] == before + 250
    assert venue.take_private() == []
    [record] = venue.faults.injected(Fault.DRIFT_DEPOSIT)
    assert (record.at, record.detail) == (WALL, "USD 250")


def test_a_drift_order_rests_unannounced_under_its_userref() -> None:
    venue = _venue()
    request = venue.drift_request()
    assert request is not None and request.limit_price is not None
    order, _ = venue.drift_order("BTC/USD", "buy", request.qty, request.limit_price, NOW, WALL)
    assert order.is_open and order.order_userref == 777
    assert venue.take_private() == []
    assert venue.ground_truth().open_orders == [order.order_id]


def test_ground_truth_lists_orders_by_state() -> None:
    venue = _venue()
    open_id, closed_id = _place(venue), _place(venue)
    venue.cancel_order(closed_id, WALL)
    truth = venue.ground_truth()
    assert truth.open_orders == [open_id] and truth.closed_orders == [closed_id]
    assert truth.order_status == {open_id: "new", closed_id: "canceled"}


def test_private_records_are_taken_once() -> None:
    venue = _venue()
    _place(venue)
    assert [channel for channel, _ in venue.take_private()] == ["executions", "executions"]
    assert venue.take_private() == []


# --- layering -----------------------------------------------------------------------------

PURE = [
    "galfriday.sim.account",
    "galfriday.sim.config",
    "galfriday.sim.exchange",
    "galfriday.sim.faults",
    "galfriday.sim.frames",
    "galfriday.sim.httptypes",
    "galfriday.sim.market",
    "galfriday.sim.requests",
    "galfriday.sim.rest",
    "galfriday.sim.rows",
    "galfriday.sim.venue",
]


@pytest.mark.parametrize("module", PURE)
def test_the_venue_and_its_protocol_faces_load_no_io_at_all(module: str) -> None:
    """Not even through what they import: the event loop, sockets and HTTP are the shell's.
    (``socket`` itself is not checked here: loguru imports it. tests/test_package.py checks
    each module's own imports.)"""
    check = (
        f"import sys, {module}\n"
        "io = {'trio', 'trio_websocket', 'httpx', 'h11', 'sqlite_utils'}\n"
        "print(sorted(io & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", module
