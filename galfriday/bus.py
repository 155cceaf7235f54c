"""The in-process event bus: typed publish/subscribe that never blocks a feed.

:meth:`Bus.publish` is synchronous and never waits. Each subscriber has its own bounded buffer
and a slow-consumer policy chosen when it subscribes:

- ``"drop_oldest"`` (default): a full buffer drops its oldest event to make room; the
  subscriber's :attr:`Subscription.overruns` counts what it lost. Right for views of state
  (books, tickers) where the newest event supersedes the old ones.
- ``"disconnect"``: a full buffer closes the subscription; the consumer's next receive raises
  :class:`SubscriberTooSlow` after draining what was buffered. Right for consumers that must see
  every event or none (an order journal), so a gap is never silent.

A subscription is an async iterator and an async context manager; leaving the ``async with``
unsubscribes. Subscribers filter by event type (``Bus.subscribe(BookUpdate, TradePrint)``; no
types means every event) and optionally by pair (``symbols=``: an event that names a pair, its
own ``symbol`` or its order's, passes only for those; an event without one always passes).
"""

from __future__ import annotations

from collections import deque
from types import TracebackType
from typing import Final, Literal

import trio

from galfriday.errors import LocalError
from galfriday.events import Event

__all__ = ["Bus", "Policy", "SubscriberTooSlow", "Subscription", "symbol_of"]

Policy = Literal["drop_oldest", "disconnect"]
DEFAULT_CAPACITY: Final = 1024


class SubscriberTooSlow(LocalError):
    """A ``"disconnect"`` subscription fell a whole buffer behind and was closed."""


class Subscription:
    """One subscriber's buffer; created by :meth:`Bus.subscribe`."""

    def __init__(
        self,
        bus: Bus,
        types: tuple[type[Event], ...],
        capacity: int,
        policy: Policy,
        symbols: frozenset[str] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._bus = bus
        self.types = types
        self.symbols = symbols
        self.capacity = capacity
        self.policy = policy
        self._buffer: deque[Event] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self.overruns = 0
        self.delivered = 0
        self.closed = False
        self.too_slow = False

    def wants(self, event: Event) -> bool:
        if self.types and not isinstance(event, self.types):
            return False
        if self.symbols is None:
            return True
        symbol = symbol_of(event)
        return symbol is None or symbol in self.symbols

    def offer(self, event: Event) -> None:
        """Buffer ``event`` without blocking, applying the slow-consumer policy."""
        if self.closed:
            return
        if len(self._buffer) >= self.capacity:
            if self.policy == "disconnect":
                self.too_slow = True
                self._close()
                return
            self._buffer.popleft()
            self.overruns += 1
        self._buffer.append(event)
        self._lot.unpark_all()

    async def receive(self) -> Event:
        """The next event; waits while the buffer is empty.

        Raises:
            SubscriberTooSlow: a ``"disconnect"`` subscription overflowed (after its buffer).
            trio.EndOfChannel: the subscription was closed.
        """
        while not self._buffer:
            if self.closed:
                if self.too_slow:
                    raise SubscriberTooSlow(f"subscriber fell {self.capacity} events behind")
                raise trio.EndOfChannel
            await self._lot.park()
        self.delivered += 1
        return self._buffer.popleft()

    def receive_nowait(self) -> Event:
        """The next buffered event. Raises ``trio.WouldBlock`` when there is none."""
        if not self._buffer:
            raise trio.WouldBlock
        self.delivered += 1
        return self._buffer.popleft()

    def __len__(self) -> int:
        return len(self._buffer)

    def _close(self) -> None:
        self.closed = True
        self._bus._subscriptions.discard(self)
        self._bus._wanted.clear()
        self._lot.unpark_all()

    def close(self) -> None:
        """Unsubscribe; buffered events can still be received."""
        self._close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def symbol_of(event: Event) -> str | None:
    """The pair an event is about (its ``symbol``, or its order's), or ``None``."""
    symbol = getattr(event, "symbol", None)
    if symbol is None:
        order = getattr(event, "order", None)
        symbol = getattr(order, "symbol", None)
    return symbol if isinstance(symbol, str) else None


class Bus:
    """Typed publish/subscribe within one process (one trio run)."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._wanted: dict[type[Event], bool] = {}  # wanted()'s answers until the next change
        self.published = 0

    def subscribe(
        self,
        *types: type[Event],
        capacity: int = DEFAULT_CAPACITY,
        policy: Policy = "drop_oldest",
        symbols: frozenset[str] | None = None,
    ) -> Subscription:
        """A new subscription to events of ``types`` (all events if none given), of
        ``symbols`` only if given."""
        subscription = Subscription(self, types, capacity, policy, symbols)
        self._subscriptions.add(subscription)
        self._wanted.clear()
        return subscription

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every interested subscriber. Never blocks, never raises."""
        self.published += 1
        for subscription in list(self._subscriptions):
            if subscription.wants(event):
                subscription.offer(event)

    def wanted(self, kind: type[Event]) -> bool:
        """True if some subscriber would receive an event of ``kind`` (publishers use it to
        skip building events nobody reads)."""
        known = self._wanted.get(kind)
        if known is None:
            known = any(not s.types or issubclass(kind, s.types) for s in self._subscriptions)
            self._wanted[kind] = known
        return known

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)
