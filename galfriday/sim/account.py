"""The simulated account: balances, orders, fills and the ledger (sans-IO).

Every change produces the private-stream records Kraken would send, appended to
:attr:`Account.outbox` as ``("executions", ExecutionReport)`` or ``("balances", BalanceEntry)``;
the private server drains it and numbers the messages. Drift (a deposit, a withdrawal or an
order from another device that the stream does not announce) changes the state without
touching the outbox. A fill's execution reports (``trade``, and ``filled`` when it completes
the order) come before the ledger entries it causes.

Money is Decimal. Fees are charged in the quote currency: maker 0.25 %, taker 0.40 %.

Ids look like Kraken's (``OQ7TSM-LR2ZK-JC4YUE``): the kind's letter, the account's run tag
(drawn from :mod:`secrets` unless given, so a restarted simulator never repeats an id even with
the same seed), then characters from the seeded generator.
"""

from __future__ import annotations

import random
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from galfriday.kraken.wire import BalanceEntry, ExecutionReport, Fee, Wallet
from galfriday.sim.market import PairSpec

__all__ = ["Account", "LedgerEntry", "SimFill", "SimOrder", "utc_datetime"]

MAKER_FEE: Final = Decimal("0.0025")
TAKER_FEE: Final = Decimal("0.0040")
ZERO: Final = Decimal(0)
FEE_PRECISION: Final = 8
ID_CHARS: Final = string.ascii_uppercase + string.digits
RUN_TAG_LENGTH: Final = 5  # 36**5: two runs share a tag once in 60 million


@dataclass
class SimOrder:
    order_id: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    limit_price: Decimal | None
    opened: float
    cl_ord_id: str | None = None
    order_userref: int | None = None
    time_in_force: str = "GTC"
    status: str = "pending_new"
    cum_qty: Decimal = ZERO
    cum_cost: Decimal = ZERO
    fee: Decimal = ZERO
    closed: float | None = None
    reason: str | None = None
    announced: bool = True
    trades: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.cum_qty

    @property
    def is_open(self) -> bool:
        return self.status in ("pending_new", "new", "partially_filled")

    @property
    def avg_price(self) -> Decimal:
        return self.cum_cost / self.cum_qty if self.cum_qty else ZERO


@dataclass(frozen=True)
class SimFill:
    exec_id: str
    trade_id: int
    order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    cost: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: str  # "m" or "t"
    time: float


@dataclass(frozen=True)
class LedgerEntry:
    ledger_id: str
    ref_id: str
    time: float
    type: str
    asset: str
    amount: Decimal
    fee: Decimal
    balance: Decimal


def utc_datetime(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


class Account:
    """One Kraken account.

    Args:
        balances: starting spot balances by WS v2 asset code.
        rng: the source of the ids' last eleven characters (seeded for reproducible runs).
        earn: what it holds in earn wallets, by WS v2 asset code.
        run_tag: five characters every id of this account carries (default: fresh ones from
            :mod:`secrets`, different in every run).
    """

    def __init__(
        self,
        balances: dict[str, Decimal],
        rng: random.Random,
        earn: dict[str, Decimal] | None = None,
        run_tag: str | None = None,
    ) -> None:
        self.balances = dict(balances)  # spot wallets: what can be traded
        self.earn = dict(earn or {})  # earn wallets (auto-earn "flex"): held, not tradable
        self.orders: dict[str, SimOrder] = {}
        self.fills: list[SimFill] = []
        self.ledger: list[LedgerEntry] = []
        self.outbox: list[tuple[str, ExecutionReport | BalanceEntry]] = []
        self._rng = rng
        if run_tag is None:
            run_tag = "".join(secrets.choice(ID_CHARS) for _ in range(RUN_TAG_LENGTH))
        if len(run_tag) != RUN_TAG_LENGTH:
            raise ValueError(f"run_tag must be {RUN_TAG_LENGTH} characters")
        self.run_tag = run_tag

    # --- ids -------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """``prefix`` (O order, T trade, L ledger, R funding) + run tag, Kraken's 6-5-6 shape."""
        middle, last = ("".join(self._rng.choices(ID_CHARS, k=n)) for n in (5, 6))
        return f"{prefix}{self.run_tag}-{middle}-{last}"

    # --- reading ---------------------------------------------------------------------------

    def open_orders(self) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.is_open]

    def hold(self, asset: str, specs: dict[str, PairSpec]) -> Decimal:
        """What open orders reserve of ``asset`` (buy: cost plus taker fee; sell: quantity)."""
        total = ZERO
        for order in self.open_orders():
            spec = specs[order.symbol]
            if order.side == "buy" and spec.quote == asset and order.limit_price is not None:
                total += order.remaining * order.limit_price * (1 + TAKER_FEE)
            elif order.side == "sell" and spec.base == asset:
                total += order.remaining
        return total

    def available(self, asset: str, specs: dict[str, PairSpec]) -> Decimal:
        return self.balances.get(asset, ZERO) - self.hold(asset, specs)

    def balance_snapshot(self) -> list[BalanceEntry]:
        """As Kraken sends it: ``balance`` is the total over all wallets, ``wallets`` split it."""
        entries = []
        for asset in sorted(set(self.balances) | set(self.earn)):
            spot, earn = self.balances.get(asset, ZERO), self.earn.get(asset, ZERO)
            wallets = [Wallet(type="spot", id="main", balance=spot)]
            if earn:
                wallets.append(Wallet(type="earn", id="flex", balance=earn))
            entries.append(
                BalanceEntry(
                    asset=asset, asset_class="currency", balance=spot + earn, wallets=wallets
                )
            )
        return entries

    # --- order life ------------------------------------------------------------------------

    def open_order(self, order: SimOrder) -> None:
        """Record a validated order and announce ``pending_new`` then ``new``."""
        self.orders[order.order_id] = order
        if not order.announced:
            order.status = "new"
            return
        self._report(
            order,
            "pending_new",
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            order_qty=order.qty,
            limit_price=order.limit_price,
            time_in_force=order.time_in_force,
            cl_ord_id=order.cl_ord_id,
            cum_qty=ZERO,
            cum_cost=ZERO,
            wall=order.opened,
        )
        order.status = "new"
        self._report(order, "new", wall=order.opened)

    def fill(
        self,
        order: SimOrder,
        spec: PairSpec,
        qty: Decimal,
        price: Decimal,
        maker: bool,
        trade_id: int,
        wall: float,
    ) -> SimFill:
        """Execute ``qty`` of ``order`` at ``price``: balances, ledger, and the reports."""
        cost = qty * price
        rate = MAKER_FEE if maker else TAKER_FEE
        fee = (cost * rate).quantize(Decimal(1).scaleb(-FEE_PRECISION), ROUND_HALF_UP)
        exec_id = self.new_id("T")
        fill = SimFill(
            exec_id,
            trade_id,
            order.order_id,
            order.symbol,
            order.side,
            qty,
            price,
            cost,
            fee,
            spec.quote,
            "m" if maker else "t",
            wall,
        )
        self.fills.append(fill)
        order.cum_qty += qty
        order.cum_cost += cost
        order.fee += fee
        order.trades.append(exec_id)
        if order.announced:
            self._report_fill(order, fill)
        order.status = "partially_filled"
        if order.remaining == 0:
            self.close(order, "filled", wall)
        # The ledger entries follow the fill's reports: a fill is reported the moment it
        # happens, not behind the balance updates it causes (Kraken does not order its two
        # channels; a client must take either order).
        sign = 1 if order.side == "buy" else -1
        self._post(spec.base, sign * qty, ZERO, "trade", exec_id, wall, order.announced)
        self._post(spec.quote, -sign * cost, fee, "trade", exec_id, wall, order.announced)
        return fill

    def amend(self, order: SimOrder, qty: Decimal, price: Decimal | None, wall: float) -> None:
        """Give an open order new terms in place (same ids, fills kept) and report
        ``amended`` with the order's new total quantity and limit price."""
        order.qty, order.limit_price = qty, price
        if order.announced:
            self._report(
                order,
                "amended",
                order_qty=qty,
                limit_price=price,
                cum_qty=order.cum_qty,
                cum_cost=order.cum_cost,
                amended=True,
                wall=wall,
            )

    def _report_fill(self, order: SimOrder, fill: SimFill) -> None:
        """The ``trade`` execution report of ``fill`` (the order's totals already include it)."""
        self._report(
            order,
            "trade",
            exec_id=fill.exec_id,
            trade_id=fill.trade_id,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            last_qty=fill.qty,
            last_price=fill.price,
            cost=fill.cost,
            liquidity_ind=fill.liquidity,
            order_status="partially_filled",
            cum_qty=order.cum_qty,
            cum_cost=order.cum_cost,
            avg_price=order.avg_price,
            fees=[Fee(asset=fill.fee_asset, qty=fill.fee)],
            fee_usd_equiv=fill.fee,
            wall=fill.time,
        )

    def close(self, order: SimOrder, status: str, wall: float, reason: str | None = None) -> None:
        """Move an open order to ``filled``, ``canceled`` or ``expired``."""
        order.status = status
        order.closed = wall
        order.reason = reason
        if order.announced:
            self._report(
                order,
                status,
                cum_qty=order.cum_qty,
                cum_cost=order.cum_cost,
                avg_price=order.avg_price if order.cum_qty else None,
                reason=reason,
                wall=wall,
            )

    # --- funds -----------------------------------------------------------------------------

    def move_funds(
        self, asset: str, amount: Decimal, kind: str, wall: float, announce: bool
    ) -> None:
        """A deposit (positive) or withdrawal (negative), announced on the stream or not."""
        self._post(asset, amount, ZERO, kind, self.new_id("R"), wall, announce)

    def _post(
        self,
        asset: str,
        amount: Decimal,
        fee: Decimal,
        kind: str,
        ref: str,
        wall: float,
        announce: bool,
    ) -> None:
        balance = self.balances.get(asset, ZERO) + amount - fee
        self.balances[asset] = balance
        entry = LedgerEntry(self.new_id("L"), ref, wall, kind, asset, amount, fee, balance)
        total = balance + self.earn.get(asset, ZERO)  # an update carries the asset's total
        self.ledger.append(entry)
        if announce:
            self.outbox.append(
                (
                    "balances",
                    BalanceEntry(
                        asset=asset,
                        asset_class="currency",
                        balance=total,
                        ledger_id=entry.ledger_id,
                        ref_id=ref,
                        timestamp=utc_datetime(wall),
                        ledger_type=kind,
                        category=kind,
                        wallet_type="spot",
                        wallet_id="main",
                        amount=amount,
                        fee=fee,
                    ),
                )
            )

    def _report(self, order: SimOrder, exec_type: str, *, wall: float, **fields: object) -> None:
        status = fields.pop("order_status", None) or order.status
        report = ExecutionReport(
            exec_type=exec_type,
            order_id=order.order_id,
            order_userref=order.order_userref,
            order_status=status,  # type: ignore[arg-type]
            timestamp=utc_datetime(wall),
            **fields,  # type: ignore[arg-type]
        )
        self.outbox.append(("executions", report))

    def order_report(self, order: SimOrder) -> ExecutionReport:
        """A full report of an open order, as in the ``executions`` snapshot."""
        return ExecutionReport(
            exec_type=order.status if order.status != "partially_filled" else "new",
            order_id=order.order_id,
            order_userref=order.order_userref,
            cl_ord_id=order.cl_ord_id,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            order_qty=order.qty,
            limit_price=order.limit_price,
            time_in_force=order.time_in_force,
            order_status=order.status,
            cum_qty=order.cum_qty,
            cum_cost=order.cum_cost,
            avg_price=order.avg_price if order.cum_qty else None,
            timestamp=utc_datetime(order.opened),
        )

    def fill_report(self, fill: SimFill, order: SimOrder) -> ExecutionReport:
        """A past fill, as in the ``executions`` snapshot with ``snap_trades``."""
        return ExecutionReport(
            exec_type="trade",
            order_id=fill.order_id,
            exec_id=fill.exec_id,
            trade_id=fill.trade_id,
            symbol=fill.symbol,
            side=fill.side,
            order_type=order.order_type,
            last_qty=fill.qty,
            last_price=fill.price,
            cost=fill.cost,
            liquidity_ind=fill.liquidity,
            fees=[Fee(asset=fill.fee_asset, qty=fill.fee)],
            timestamp=utc_datetime(fill.time),
        )
