"""The paper venue: orders filled against the market as it is observed, with no exchange.

:class:`PaperVenue` holds a simulated account (balances, orders) and matches its orders against
the real book and the real trades the public feed delivers. It answers as Kraken's private
stream would: every change is an ``executions`` or ``balances`` message (numbered per channel,
starting with a snapshot) waiting in :attr:`PaperVenue.outbox`, which the shell feeds to the
engine's account machine exactly like the frames of a live private connection. So orders,
fills, balances, positions and P&L come from the same code as live.

Matching rules (documented in docs/paper.md):

- A market order walks the displayed book (its best ``depth`` levels) and fills at each
  level's price up to its displayed quantity; what the book cannot fill is cancelled.
- A limit order that crosses takes the displayed levels within its limit at their prices
  (taker); the rest rests at its limit. ``post_only`` that would cross is refused
  (``EOrder:Post only order``) and nothing is reported.
- A resting order fills (maker, at its own limit price) when a public trade prints at or
  through its price, up to the trade's quantity (orders of one pair in price, then time
  priority; queue position is not modelled: an optimistic fill), and when the opposite side
  of the book crosses its price, up to the displayed quantity that crosses, once per
  crossing (the book does not know about the order, so the same liquidity stays on show).
- Fees in the quote currency, ``maker_fee`` or ``taker_fee`` times the cost, rounded to 8
  decimals half up. Funds are checked as Kraken does (buy: cost plus taker fee available in
  quote, held while the order rests; sell: the quantity available in base).
- Ids look like Kraken's: a kind letter, the run tag (fixed for a backtest, so two runs give
  the same ids; fresh in live paper trading, so runs never repeat one), a counter.

Pure: no I/O, no clock, no trio; time arrives as ``wall`` (epoch seconds).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, TypeAlias

import msgspec

from galfriday.kraken import wire

__all__ = ["MarketView", "PaperConfig", "PaperOrder", "PaperVenue", "Refused", "Ticket"]

ZERO: Final = Decimal(0)
FEE_QUANTUM: Final = Decimal("1e-8")
TAG_CHARS: Final = string.ascii_uppercase + string.digits

Message: TypeAlias = wire.ExecutionsMessage | wire.BalancesMessage
Levels: TypeAlias = Sequence[tuple[Decimal, Decimal]]


class PaperConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The ``[paper]`` section: the account's starting balances (WS v2 asset codes) and fees
    (fractions of the cost: ``0.0025`` is 0.25 %).

    Attributes:
        run_tag: five characters every id carries; ``None``: fresh ones per run.
        depth: book levels a taking order may walk.
    """

    balances: dict[str, Decimal] = msgspec.field(default_factory=lambda: {"USD": Decimal(10000)})
    maker_fee: Decimal = Decimal("0.0025")
    taker_fee: Decimal = Decimal("0.0040")
    run_tag: str | None = None
    depth: int = 100


class Refused(Exception):
    """An order the paper venue refuses, with Kraken's error string (``EOrder:...``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class MarketView:
    """One pair's market as the engine sees it now: names, rules and the book (best first)."""

    symbol: str
    base: str
    quote: str
    bids: Levels = ()
    asks: Levels = ()
    qty_min: Decimal | None = None
    price_increment: Decimal | None = None
    cost_min: Decimal | None = None


@dataclass(frozen=True)
class Ticket:
    """An order as the strategy asked for it."""

    symbol: str
    side: str
    qty: Decimal
    limit_price: Decimal | None = None
    order_type: str = "limit"
    cl_ord_id: str | None = None
    post_only: bool = False


@dataclass
class PaperOrder:
    order_id: str
    ticket: Ticket
    base: str
    quote: str
    opened: float
    cum_qty: Decimal = ZERO
    cum_cost: Decimal = ZERO
    status: str = "new"
    crossed: bool = False  # filled by the current book crossing already

    @property
    def remaining(self) -> Decimal:
        return self.ticket.qty - self.cum_qty

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "partially_filled")

    @property
    def buy(self) -> bool:
        return self.ticket.side == "buy"


@dataclass
class PaperVenue:
    """The simulated account and its matching; see the module docstring."""

    config: PaperConfig
    balances: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, PaperOrder] = field(default_factory=dict)
    resting: dict[str, PaperOrder] = field(default_factory=dict)  # the open ones
    outbox: list[Message] = field(default_factory=list)
    fees: Decimal = ZERO  # every fee charged, in quote
    fills: int = 0
    _ids: int = 0
    _sequences: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.balances = dict(self.config.balances)
        tag = self.config.run_tag
        self.tag = tag if tag is not None else "".join(secrets.choice(TAG_CHARS) for _ in "12345")

    # --- reading ---------------------------------------------------------------------------

    def open_orders(self, symbol: str | None = None) -> list[PaperOrder]:
        return [o for o in self.resting.values() if symbol in (None, o.ticket.symbol)]

    def available(self, asset: str) -> Decimal:
        """The balance of ``asset`` less what resting orders hold of it."""
        held = ZERO
        for order in self.open_orders():
            price = order.ticket.limit_price or ZERO
            if order.buy and order.quote == asset:
                held += order.remaining * price * (1 + self.config.taker_fee)
            elif not order.buy and order.base == asset:
                held += order.remaining
        return self.balances.get(asset, ZERO) - held

    # --- the stream ------------------------------------------------------------------------

    def snapshot(self) -> None:
        """Queue both channels' snapshots (open orders, balances): the stream's first frames."""
        reports = [self._report(o, o.status, o.opened, full=True) for o in self.open_orders()]
        self._send(wire.ExecutionsMessage(type="snapshot", data=reports, sequence=0))
        entries = [
            wire.BalanceEntry(
                asset=asset,
                asset_class="currency",
                balance=balance,
                wallets=[wire.Wallet(type="spot", id="main", balance=balance)],
            )
            for asset, balance in sorted(self.balances.items())
        ]
        self._send(wire.BalancesMessage(type="snapshot", data=entries, sequence=0))

    def take(self) -> list[Message]:
        """The messages queued since the last call, oldest first."""
        pending, self.outbox = self.outbox, []
        return pending

    def _send(self, message: Message) -> None:
        channel = "executions" if isinstance(message, wire.ExecutionsMessage) else "balances"
        number = self._sequences[channel] = self._sequences.get(channel, 0) + 1
        self.outbox.append(msgspec.structs.replace(message, sequence=number))

    def _new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self.tag}-{self._ids // 1_000_000:05d}-{self._ids % 1_000_000:06d}"

    # --- orders ----------------------------------------------------------------------------

    def place(self, ticket: Ticket, market: MarketView, wall: float) -> str:
        """Place an order: take what it crosses, rest what a limit order leaves.

        Raises:
            Refused: Kraken would refuse it (nothing is reported).
        """
        self._check(ticket, market)
        order = PaperOrder(self._new_id("O"), ticket, market.base, market.quote, wall)
        self.orders[order.order_id] = self.resting[order.order_id] = order
        self._send(self._executions(self._report(order, "pending_new", wall, full=True)))
        self._send(self._executions(self._report(order, "new", wall)))
        limit = ticket.limit_price
        for price, qty in self._crossing(order, market.asks if order.buy else market.bids, limit):
            self._fill(order, qty, price, False, wall)
        if order.is_open and (ticket.order_type == "market" or limit is None):
            self._close(order, "canceled", wall, "no more liquidity")
        return order.order_id

    def _check(self, ticket: Ticket, market: MarketView) -> None:
        if ticket.side not in ("buy", "sell") or ticket.qty <= 0:
            raise Refused("EGeneral:Invalid arguments")
        if market.qty_min is not None and ticket.qty < market.qty_min:
            raise Refused("EOrder:Order minimum not met")
        limit, increment = ticket.limit_price, market.price_increment
        if ticket.order_type == "limit":
            if limit is None or limit <= 0:
                raise Refused("EGeneral:Invalid arguments:limit_price")
            if increment is not None and limit % increment != 0:
                raise Refused("EOrder:Tick size check failed")
        opposite = market.asks if ticket.side == "buy" else market.bids
        reference = limit if limit is not None else (opposite[0][0] if opposite else None)
        if reference is None:
            raise Refused("EOrder:Insufficient liquidity")
        if market.cost_min is not None and ticket.qty * reference < market.cost_min:
            raise Refused("EOrder:Cost minimum not met")
        if ticket.post_only and limit is not None and _crosses(ticket.side, limit, opposite):
            raise Refused("EOrder:Post only order")
        if ticket.side == "buy":
            need = _walk_cost(ticket.qty, opposite, limit) * (1 + self.config.taker_fee)
            enough = self.available(market.quote) >= need
        else:
            enough = self.available(market.base) >= ticket.qty
        if not enough:
            raise Refused("EOrder:Insufficient funds")

    def cancel(self, order_id: str, wall: float) -> bool:
        """Cancel an open order; False if it is unknown or closed already."""
        order = self.orders.get(order_id)
        if order is None or not order.is_open:
            return False
        self._close(order, "canceled", wall, "user")
        return True

    def amend(
        self,
        order_id: str,
        qty: Decimal | None,
        price: Decimal | None,
        market: MarketView,
        wall: float,
        *,
        post_only: bool = False,
    ) -> None:
        """Change a resting order's quantity and/or limit price in place (same id, fills kept);
        a new price that crosses takes what it crosses, as a new order would.

        Raises:
            Refused: the order is not open, the quantity is below what has filled, or the new
                price would cross with ``post_only``.
        """
        order = self.orders.get(order_id)
        if order is None or not order.is_open:
            raise Refused("EOrder:Unknown order")
        if qty is not None and qty <= order.cum_qty:
            raise Refused("EOrder:Invalid order quantity")
        old = order.ticket
        new = Ticket(old.symbol, old.side, qty or old.qty, price or old.limit_price,
                     old.order_type, old.cl_ord_id, post_only)  # fmt: skip
        opposite = market.asks if order.buy else market.bids
        if (
            post_only
            and new.limit_price is not None
            and _crosses(old.side, new.limit_price, opposite)
        ):
            raise Refused("EOrder:Post only order")
        order.ticket, order.crossed = new, False
        self._send(self._executions(self._report(order, "amended", wall, full=True)))
        for level_price, level_qty in self._crossing(order, opposite, new.limit_price):
            self._fill(order, level_qty, level_price, False, wall)

    # --- the market ------------------------------------------------------------------------

    def on_trade(self, symbol: str, price: Decimal, qty: Decimal, wall: float) -> None:
        """A public trade of ``qty`` at ``price``: resting orders at or through it fill."""
        left = qty
        for order in self._queue(symbol):
            limit = order.ticket.limit_price or ZERO
            if left <= 0 or (price > limit if order.buy else price < limit):
                continue
            take = min(left, order.remaining)
            self._fill(order, take, limit, True, wall)
            left -= take

    def on_book(self, market: MarketView, wall: float) -> None:
        """The book changed: a resting order whose price the opposite side now crosses fills
        (once per crossing) up to the quantity displayed at or through its price."""
        for order in self._queue(market.symbol):
            limit = order.ticket.limit_price or ZERO
            opposite = market.asks if order.buy else market.bids
            if not _crosses(order.ticket.side, limit, opposite):
                order.crossed = False
                continue
            if order.crossed:
                continue
            order.crossed = True
            shown = sum((q for p, q in opposite if _within(order.buy, p, limit)), ZERO)
            self._fill(order, min(shown, order.remaining), limit, True, wall)

    def _queue(self, symbol: str) -> list[PaperOrder]:
        """``symbol``'s resting orders, best price first, then oldest first."""
        resting = [o for o in self.open_orders(symbol) if o.ticket.limit_price is not None]
        return sorted(resting, key=lambda o: -_limit(o) if o.buy else _limit(o))

    def _crossing(
        self, order: PaperOrder, opposite: Levels, limit: Decimal | None
    ) -> list[tuple[Decimal, Decimal]]:
        """The (price, qty) a taking order gets from the displayed levels within ``limit``."""
        taken, left = [], order.remaining
        for price, qty in opposite[: self.config.depth]:
            if left <= 0 or (limit is not None and not _within(order.buy, price, limit)):
                break
            take = min(left, qty)
            taken.append((price, take))
            left -= take
        return taken

    # --- the account -----------------------------------------------------------------------

    def _fill(
        self, order: PaperOrder, qty: Decimal, price: Decimal, maker: bool, wall: float
    ) -> None:
        if qty <= 0:
            return
        cost = qty * price
        rate = self.config.maker_fee if maker else self.config.taker_fee
        fee = (cost * rate).quantize(FEE_QUANTUM, ROUND_HALF_UP)
        self.fees += fee
        self.fills += 1
        exec_id = self._new_id("T")
        order.cum_qty += qty
        order.cum_cost += cost
        order.status = "filled" if order.remaining <= 0 else "partially_filled"
        report = self._report(order, "trade", wall, full=True)
        self._send(
            self._executions(
                msgspec.structs.replace(
                    report,
                    order_status="partially_filled",
                    exec_id=exec_id,
                    trade_id=self._ids,
                    last_qty=qty,
                    last_price=price,
                    cost=cost,
                    liquidity_ind="m" if maker else "t",
                    fees=[wire.Fee(asset=order.quote, qty=fee)],
                    fee_usd_equiv=fee,
                )
            )
        )
        sign = 1 if order.buy else -1
        self._post(order.base, sign * qty, ZERO, exec_id, wall)
        self._post(order.quote, -sign * cost, fee, exec_id, wall)
        if not order.is_open:
            del self.resting[order.order_id]
            self._send(self._executions(self._report(order, "filled", wall)))

    def _close(self, order: PaperOrder, status: str, wall: float, reason: str) -> None:
        order.status = status
        del self.resting[order.order_id]
        self._send(self._executions(msgspec.structs.replace(
            self._report(order, status, wall), reason=reason)))  # fmt: skip

    def _post(self, asset: str, amount: Decimal, fee: Decimal, ref: str, wall: float) -> None:
        balance = self.balances[asset] = self.balances.get(asset, ZERO) + amount - fee
        entry = wire.BalanceEntry(
            asset=asset,
            asset_class="currency",
            balance=balance,
            ledger_id=self._new_id("L"),
            ref_id=ref,
            timestamp=utc_datetime(wall),
            ledger_type="trade",
            category="trade",
            wallet_type="spot",
            wallet_id="main",
            amount=amount,
            fee=fee,
        )
        self._send(wire.BalancesMessage(type="update", data=[entry]))

    def _report(
        self, order: PaperOrder, exec_type: str, wall: float, *, full: bool = False
    ) -> wire.ExecutionReport:
        ticket = order.ticket
        report = wire.ExecutionReport(
            exec_type=exec_type,
            order_id=order.order_id,
            order_status="pending_new" if exec_type == "pending_new" else order.status,
            cum_qty=order.cum_qty,
            cum_cost=order.cum_cost,
            avg_price=order.cum_cost / order.cum_qty if order.cum_qty else None,
            timestamp=utc_datetime(wall),
        )
        if not full:
            return report
        return msgspec.structs.replace(
            report,
            cl_ord_id=ticket.cl_ord_id,
            symbol=ticket.symbol,
            side=ticket.side,
            order_type=ticket.order_type,
            order_qty=ticket.qty,
            limit_price=ticket.limit_price,
            time_in_force="GTC" if ticket.order_type == "limit" else "IOC",
        )

    @staticmethod
    def _executions(report: wire.ExecutionReport) -> wire.ExecutionsMessage:
        return wire.ExecutionsMessage(type="update", data=[report])


def utc_datetime(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


def _limit(order: PaperOrder) -> Decimal:
    return order.ticket.limit_price or ZERO


def _within(buy: bool, price: Decimal, limit: Decimal) -> bool:
    """True if a level at ``price`` is at or better than ``limit`` for the taking side."""
    return price <= limit if buy else price >= limit


def _crosses(side: str, limit: Decimal, opposite: Levels) -> bool:
    return bool(opposite) and _within(side == "buy", opposite[0][0], limit)


def _walk_cost(qty: Decimal, opposite: Levels, limit: Decimal | None) -> Decimal:
    """What buying ``qty`` costs: the displayed levels it takes, the rest at its limit (or,
    for a market order, at the last level shown)."""
    cost, left, last = ZERO, qty, limit
    for price, shown in opposite:
        if left <= 0 or (limit is not None and price > limit):
            break
        take = min(left, shown)
        cost, left, last = cost + take * price, left - take, price
    return cost + left * (last or ZERO)
