"""The simulated venue as one pure object: the exchange and everything Kraken keeps around it.

:class:`Venue` owns the :class:`~galfriday.sim.exchange.Exchange`, the WebSocket tokens, the
dead-man switch, the GTD expiries, the REST key's nonces and call counter, account drift, the
fault book and the ground truth. The trio shell (:mod:`galfriday.sim.server`) and the
protocol faces (:mod:`~galfriday.sim.ws`, :mod:`~galfriday.sim.rest`) call it; it never calls
them.

Rules:

- Nothing here imports trio, sleeps or reads a clock. A method that depends on time takes
  ``now`` (monotonic seconds: timers, token lifetimes, the call counter) and/or ``wall`` (epoch
  seconds: what records carry); the caller takes both from the same instant.
- What a call changed in public comes back as :class:`PublicUpdate`\\ s for the shell to
  publish. What it changed on the private stream waits in the account's outbox until the shell
  drains it (:meth:`Venue.take_private`) and numbers the messages per session.
- Timers: the dead-man switch's deadline and the GTD expiries are monotonic times held here.
  :meth:`Venue.next_due` says when the next one falls; the shell waits until then (or until a
  call adds an earlier one: after :meth:`~Venue.place_order` or
  :meth:`~Venue.arm_dead_man_switch`) and calls :meth:`Venue.due`, which fires what has fallen.
- Tokens: usable within ``token_ttl`` of their issue, and for as long as a private subscription
  uses them; once the last subscription that used one ends, it is retired for good (Kraken
  guarantees a token only "once a private subscription has been made and is maintained").
- The REST key: each private call needs the key, a valid ``API-Sign`` and a nonce above the
  key's last, checked in that order; then the call counter (``max``, decaying ``decay`` a
  second; ledger and trade history queries and ``ClosedOrders`` cost 2, ``AddOrder`` and
  ``CancelOrder`` are outside it). A refused call costs nothing.
- Faults: the venue records the faults that change its own state (drift, invalidated tokens,
  system status) in :attr:`Venue.faults`; the shell records those on sockets and timing there.
"""

from __future__ import annotations

import heapq
import hmac
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import msgspec

from galfriday.kraken.auth import decode_secret, sign
from galfriday.kraken.wire import BalanceEntry, ExecutionReport
from galfriday.sim.account import SimOrder
from galfriday.sim.config import SimConfig
from galfriday.sim.exchange import Exchange, OrderRequest, PublicUpdate
from galfriday.sim.faults import Fault, Faults

__all__ = [
    "DRIFT_ORDER_USERREF",
    "CallCounter",
    "Due",
    "GroundTruth",
    "Venue",
]

DRIFT_ORDER_USERREF: Final = 777  # the userref of an order "another device" placed
EXPENSIVE: Final = frozenset({"Ledgers", "TradesHistory", "ClosedOrders", "QueryTrades"})
UNCOUNTED: Final = frozenset({"AddOrder", "CancelOrder"})
INVALID_TOKEN: Final = "EAPI:Invalid token"


class GroundTruth(msgspec.Struct, frozen=True):
    """The account exactly as the exchange holds it."""

    balances: dict[str, Decimal]
    open_orders: list[str]
    closed_orders: list[str]
    order_status: dict[str, str]
    filled_qty: dict[str, Decimal]
    fills: list[str]
    ledger: list[str]


@dataclass(frozen=True)
class Due:
    """What fell due at one instant (see :meth:`Venue.due`)."""

    updates: list[PublicUpdate] = field(default_factory=list)  # for the shell to publish
    dead_man: int | None = None  # orders the dead-man switch cancelled; None: it did not fire
    expired: list[str] = field(default_factory=list)  # GTD orders that expired


@dataclass
class _Token:
    issued: float  # monotonic
    users: int = 0  # private subscriptions that use it now
    retired: bool = False  # it was used, and no subscription uses it any more


class CallCounter:
    """One API key's REST call counter: a call adds its cost, the count decays ``decay`` a
    second, and a call that would take it above ``maximum`` is refused."""

    def __init__(self, maximum: float, decay: float) -> None:
        self.maximum = maximum
        self.decay = decay
        self._count = 0.0
        self._at = 0.0

    def value(self, now: float) -> float:
        """The count at ``now`` (monotonic)."""
        return max(0.0, self._count - (now - self._at) * self.decay)

    def set(self, value: float, now: float) -> None:
        """The count is ``value`` at ``now`` (as an earlier client left it)."""
        self._count, self._at = value, now

    def charge(self, cost: float, now: float) -> bool:
        """Add ``cost`` at ``now``; False (and nothing added) if it would exceed the maximum."""
        self._count, self._at = self.value(now), now
        if self._count + cost > self.maximum:
            return False
        self._count += cost
        return True


class Venue:
    """The exchange and its tokens, timers, key and faults; see the module docstring."""

    def __init__(self, config: SimConfig) -> None:
        config.check()
        self.config = config
        self.secret = decode_secret(config.api_secret)
        self.exchange = Exchange(
            list(config.pairs), dict(config.balances), config.seed, dict(config.earn)
        )
        self.faults = Faults()
        self.counter = CallCounter(*config.rest_counter)
        self._nonces: dict[str, int] = {}
        self._tokens: dict[str, _Token] = {}
        self._dead_man_at: float | None = None
        self._expiries: list[tuple[float, str]] = []  # a heap of (monotonic time, order id)

    # --- orders ----------------------------------------------------------------------------

    def place_order(
        self, request: OrderRequest, now: float, wall: float, *, announced: bool = True
    ) -> tuple[SimOrder, PublicUpdate]:
        """Place a checked order; a GTD order that rests is queued to expire at its time."""
        order, update = self.exchange.add_order(request, wall, announced=announced)
        if order.is_open and request.expire_at is not None:
            at = now + max(0.0, request.expire_at - wall)
            heapq.heappush(self._expiries, (at, order.order_id))
        return order, update

    def cancel_order(self, order_id: str, wall: float, reason: str = "user") -> PublicUpdate | None:
        """Cancel an open order; None if it is unknown or closed already."""
        return self.exchange.cancel_order(order_id, wall, reason)

    def cancel_all(self, wall: float, reason: str) -> list[PublicUpdate]:
        return self.exchange.cancel_all(wall, reason)

    def take_private(self) -> list[tuple[str, ExecutionReport | BalanceEntry]]:
        """The private-stream records waiting since the last call, oldest first."""
        outbox = self.exchange.account.outbox
        pending, outbox[:] = list(outbox), []
        return pending

    # --- timers ----------------------------------------------------------------------------

    def arm_dead_man_switch(self, timeout: int, now: float, wall: float) -> float:
        """(Re)arm ``cancel_all_orders_after`` for ``timeout`` seconds; 0 disarms.

        Returns the trigger's wall time (``wall`` itself when disarmed).
        """
        if timeout == 0:
            self._dead_man_at = None
            return wall
        self._dead_man_at = now + timeout
        return wall + timeout

    @property
    def dead_man_at(self) -> float | None:
        """When the armed dead-man switch fires (monotonic); None when disarmed."""
        return self._dead_man_at

    def next_due(self) -> float | None:
        """The monotonic time of the next timer (dead-man switch or GTD expiry), if any."""
        times = [t for t in (self._dead_man_at,) if t is not None]
        if self._expiries:
            times.append(self._expiries[0][0])
        return min(times, default=None)

    def due(self, now: float, wall: float) -> Due:
        """Fire every timer that has fallen by ``now``: expire GTD orders still open, and
        cancel every open order if the dead-man switch ran out (which disarms it)."""
        updates: list[PublicUpdate] = []
        expired = []
        while self._expiries and self._expiries[0][0] <= now:
            _, order_id = heapq.heappop(self._expiries)
            update = self.exchange.cancel_order(order_id, wall, "expired", status="expired")
            if update is not None:
                updates.append(update)
                expired.append(order_id)
        dead_man = None
        if self._dead_man_at is not None and self._dead_man_at <= now:
            self._dead_man_at = None
            cancelled = self.exchange.cancel_all(wall, "cancel_all_orders_after")
            updates.extend(cancelled)
            dead_man = len(cancelled)
        return Due(updates, dead_man, expired)

    # --- tokens ----------------------------------------------------------------------------

    def issue_token(self, now: float) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = _Token(issued=now)
        return token

    def check_token(self, token: str | None, now: float) -> str | None:
        """Kraken's error for an unusable token, else None."""
        state = self._tokens.get(token or "")
        if state is None or state.retired:
            return INVALID_TOKEN
        if not state.users and now - state.issued > self.config.token_ttl:
            return INVALID_TOKEN
        return None

    def use_token(self, token: str) -> None:
        """A private subscription now uses ``token``."""
        state = self._tokens.get(token)
        if state is not None:
            state.users += 1

    def release_token(self, token: str) -> None:
        """A private subscription that used ``token`` ended (unsubscribed, or its socket)."""
        state = self._tokens.get(token)
        if state is not None and state.users > 0:
            state.users -= 1
            state.retired = state.users == 0

    def invalidate_tokens(self, wall: float) -> None:
        """Every token stops working (as after a Kraken upgrade); new ones can be issued."""
        self._tokens.clear()
        self.faults.record(Fault.INVALIDATE_TOKEN, "private", wall)

    # --- the REST key ----------------------------------------------------------------------

    def authenticate(
        self,
        *,
        key: str,
        signature: str,
        path: str,
        nonce: str,
        body: bytes,
        method: str,
        now: float,
    ) -> str | None:
        """Kraken's error for a private REST call that must be refused, else None (and the
        call is counted)."""
        if not hmac.compare_digest(key.encode(), self.config.api_key.encode()):
            return "EAPI:Invalid key"
        try:
            value = int(nonce)
        except ValueError:
            return "EAPI:Invalid nonce"
        expected = sign(path, nonce, body, self.secret)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return "EAPI:Invalid signature"
        if value <= self._nonces.get(key, 0):
            return "EAPI:Invalid nonce"
        self._nonces[key] = value
        if method in UNCOUNTED:
            return None
        if not self.counter.charge(2.0 if method in EXPENSIVE else 1.0, now):
            return "EAPI:Rate limit exceeded"
        return None

    # --- drift and status ------------------------------------------------------------------

    def drift_funds(self, asset: str, amount: Decimal, wall: float, *, ledger: bool = True) -> None:
        """A deposit (positive) or withdrawal (negative) the private stream never announces.

        With ``ledger=False`` not even the REST ledger shows it (an unexplained change).
        """
        kind = "deposit" if amount > 0 else "withdrawal"
        account = self.exchange.account
        if ledger:
            account.move_funds(asset, amount, kind, wall, announce=False)
        else:
            account.balances[asset] = account.balances.get(asset, Decimal(0)) + amount
        fault = Fault.DRIFT_DEPOSIT if amount > 0 else Fault.DRIFT_WITHDRAWAL
        self.faults.record(fault, "account", wall, f"{asset} {amount}")

    def drift_order(
        self, symbol: str, side: str, qty: Decimal, price: Decimal, now: float, wall: float
    ) -> tuple[SimOrder, PublicUpdate]:
        """A limit order placed from another device, not announced on the private stream."""
        request = OrderRequest(symbol, side, "limit", qty, price, order_userref=DRIFT_ORDER_USERREF)
        order, update = self.place_order(request, now, wall, announced=False)
        self.faults.record(Fault.DRIFT_ORDER, "account", wall, order.order_id)
        return order, update

    def drift_request(self) -> OrderRequest | None:
        """A plausible order from another device: the minimum buy 50 ticks under the best bid
        of BTC/USD (else of the first pair); None if there is no bid or it would be refused."""
        exchange = self.exchange
        spec = exchange.specs.get("BTC/USD") or self.config.pairs[0]
        best = exchange.books[spec.symbol].best("bids")
        if best is None:
            return None
        request = OrderRequest(spec.symbol, "buy", "limit", spec.qty_min, spec.price(best - 50))
        return request if exchange.check_order(request) is None else None

    def set_system_status(self, status: str, wall: float) -> None:
        """``online``, ``maintenance``, ``cancel_only`` or ``post_only`` from now on."""
        self.exchange.system = status
        self.faults.record(Fault.SYSTEM_STATUS, "exchange", wall, status)

    # --- ground truth ----------------------------------------------------------------------

    def ground_truth(self) -> GroundTruth:
        account = self.exchange.account
        orders = account.orders.values()
        return GroundTruth(
            balances=dict(account.balances),
            open_orders=[o.order_id for o in orders if o.is_open],
            closed_orders=[o.order_id for o in orders if not o.is_open],
            order_status={o.order_id: o.status for o in orders},
            filled_qty={o.order_id: o.cum_qty for o in orders},
            fills=[f.exec_id for f in account.fills],
            ledger=[e.ledger_id for e in account.ledger],
        )
