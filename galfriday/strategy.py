"""Strategies: a bot's own code, run by the engine (``galfriday run --strategy``, ``--paper``,
``galfriday backtest``), the same code in all three.

A strategy is either an **async function** ``async def main(engine, params)``, which runs until
it returns or the engine stops; or a **class**, built as ``Cls(engine, params)`` (subclass
:class:`Strategy` for that constructor), with any of these callbacks, each sync or async::

    on_start()                      once, before any event
    on_book(BookUpdate)             a book changed (a pair of ``symbols``)
    on_trade(TradePrint)            a public trade
    on_order(OrderUpdate)           one of the account's orders changed
    on_fill(FillEvent)              the account traded
    on_balance(BalanceChange)       a balance changed
    on_health(HealthChanged)        a connection's health changed
    on_reconciliation(ReconciliationReport)
    on_stop()                       once, when the engine stops (or the strategy is stopped)

``engine`` is a :class:`galfriday.Engine`; ``params`` the ``[strategy.params]`` table, as written.

Rules:
- Callbacks run one at a time (never two at once), in the engine's nursery.
- Market events (books, trades) reach a strategy that falls behind newest first: older ones
  are dropped (a stale book is worth nothing). Account events (orders, fills, balances,
  health, reconciliation) are never dropped: a strategy too slow for them has failed.
- A strategy that raises has failed: trading stops (audited, a critical alert), its open
  orders are cancelled, and either the account view goes on (``on_error = "halt"``) or
  :class:`~galfriday.errors.StrategyFailed` is raised so the engine exits (``"exit"``).
- The kill switch (``[rails] kill_file``; ``galfriday stop`` creates it) is looked at every
  second: trading stops, the strategy's orders are cancelled and the strategy is stopped.
- When the strategy stops, ``on_stop`` runs and, unless ``[rails] cancel_on_stop = false``,
  its open orders are cancelled, before the engine goes down.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

import trio
from loguru import logger

from galfriday.errors import ConfigError, StrategyFailed
from galfriday.events import (
    BalanceChange,
    BookUpdate,
    Event,
    FillEvent,
    HealthChanged,
    OrderUpdate,
    ReconciliationReport,
    TradePrint,
)

if TYPE_CHECKING:
    from galfriday.api import Engine

__all__ = ["ACCOUNT", "MARKET", "OnError", "Strategy", "StrategyRunner", "load_strategy"]

OnError = Literal["halt", "exit"]

MARKET: Final[dict[str, type[Event]]] = {"on_book": BookUpdate, "on_trade": TradePrint}
ACCOUNT: Final[dict[str, type[Event]]] = {
    "on_order": OrderUpdate,
    "on_fill": FillEvent,
    "on_balance": BalanceChange,
    "on_health": HealthChanged,
    "on_reconciliation": ReconciliationReport,
}
KILL_CHECK_EVERY: Final = 1.0  # seconds between looks at the kill switch's file
STOP_GRACE: Final = 10.0  # seconds on_stop and the cancels may take once the strategy stops
MARKET_QUEUE: Final = 256
ACCOUNT_QUEUE: Final = 10_000


class Strategy:
    """A base for class strategies: keeps ``engine`` and ``params``; define the callbacks
    you need (see the module docstring). ``symbols``: the pairs whose market events reach
    ``on_book``/``on_trade`` (``None``: every pair the engine follows)."""

    symbols: tuple[str, ...] | None = None

    def __init__(self, engine: Engine, params: Mapping[str, Any]) -> None:
        self.engine = engine
        self.params = params


def load_strategy(entry: str, field: str = "strategy.entry") -> object:
    """The class or async function ``entry`` (``package.module:Name``) names. The current
    directory is importable, as it is for ``python -m``.

    Raises:
        ConfigError: a malformed entry, a module that does not import, a missing name, or
            something that is neither a class nor an async function.
    """
    module_name, _, name = entry.partition(":")
    if not module_name or not name:
        raise ConfigError(field, f"{entry!r} must read package.module:Name")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(field, f"cannot import {module_name} ({exc})") from exc
    target = getattr(module, name, None)
    if target is None:
        raise ConfigError(field, f"{module_name} has no {name}")
    if not (inspect.isclass(target) or inspect.iscoroutinefunction(target)):
        raise ConfigError(field, f"{entry} is neither a class nor an async function")
    return target


class StrategyRunner:
    """Runs one strategy over one engine: :meth:`run` in a nursery, :meth:`stop` to end it
    cleanly (``on_stop``, then its orders cancelled) while the engine still runs."""

    def __init__(
        self,
        engine: Engine,
        target: object,
        params: Mapping[str, Any] | None = None,
        *,
        on_error: OnError = "halt",
    ) -> None:
        self.engine = engine
        self.target = target
        self.params = dict(params or {})
        self.on_error = on_error
        self.name = getattr(target, "__qualname__", repr(target))
        self.failure: BaseException | None = None
        self.instance: object = None  # a class strategy's object, once built
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self._log = logger.bind(strategy=self.name)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until the strategy returns, fails, is stopped or is cancelled.

        Raises:
            StrategyFailed: it failed and ``on_error`` is ``"exit"``.
        """
        try:
            with self._scope:
                task_status.started()
                try:
                    self.instance = self._start()
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._kill_switch)
                        await self._drive(self.instance)
                        nursery.cancel_scope.cancel()
                except Exception as exc:  # the strategy's own failure, whatever it is
                    self.failure = exc
            if self.failure is not None:
                await self._fail(self.failure)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(STOP_GRACE):
                await self._wind_down(self.instance)
            self._done.set()
        if self.failure is not None and self.on_error == "exit":
            raise StrategyFailed(f"strategy {self.name} failed: {_describe(self.failure)}")

    async def stop(self) -> None:
        """Stop the strategy and wait until its ``on_stop`` and cancels are done."""
        self._scope.cancel()
        await self._done.wait()

    def _start(self) -> object:
        """A class strategy's object (``None`` for a function)."""
        self._log.info("strategy {} starts", self.name)
        if inspect.isclass(self.target):
            factory: Callable[..., object] = self.target
            return factory(self.engine, self.params)
        return None

    async def _drive(self, instance: object) -> None:
        """The strategy's life: the function's run, or the class's callbacks fed events."""
        if instance is None:
            function: Callable[..., Awaitable[None]] = self.target  # type: ignore[assignment]
            await function(self.engine, self.params)
            self._log.info("strategy {} returned", self.name)
            return
        market = _handlers(instance, MARKET)
        account = _handlers(instance, ACCOUNT)
        symbols = getattr(instance, "symbols", None)
        lock = trio.Lock()
        engine = self.engine
        async with (
            engine.subscribe(*account.values(), capacity=ACCOUNT_QUEUE, policy="disconnect")
            if account
            else _Nothing() as account_events,
            engine.subscribe(*market.values(), symbols=symbols, capacity=MARKET_QUEUE)
            if market
            else _Nothing() as market_events,
        ):
            await _call(instance, "on_start")
            async with trio.open_nursery() as nursery:
                if account_events is not None:
                    nursery.start_soon(_pump, account_events, instance, account, lock)
                if market_events is not None:
                    nursery.start_soon(_pump, market_events, instance, market, lock)

    async def _kill_switch(self) -> None:
        while True:  # a file on disk: nothing to wait on but time
            if self.engine.killed():
                break
            await trio.sleep(KILL_CHECK_EVERY)
        file = self.engine.rails.kill_file
        self._log.warning("kill switch: {} exists; trading stops", file)
        self.engine.stop_trading(f"kill switch: {file} exists", source="kill switch")
        await self._cancel_orders()
        self._scope.cancel()

    async def _fail(self, exc: BaseException) -> None:
        self._log.opt(exception=exc).error("strategy {} failed: {}", self.name, _describe(exc))
        self.engine.stop_trading(f"strategy {self.name} failed: {_describe(exc)}")
        with trio.CancelScope(shield=True), trio.move_on_after(STOP_GRACE):
            await self._cancel_orders()

    async def _wind_down(self, instance: object) -> None:
        if instance is not None:
            try:
                await _call(instance, "on_stop")
            except Exception as exc:
                self._log.opt(exception=exc).error("on_stop failed: {}", _describe(exc))
        if self.engine.rails.cancel_on_stop:
            await self._cancel_orders()
        self._log.info("strategy {} stopped", self.name)

    async def _cancel_orders(self) -> None:
        try:
            count = await self.engine.cancel_placed()
        except Exception as exc:
            self._log.error("cancelling the strategy's orders failed: {}", _describe(exc))
            return
        if count:
            self._log.info("cancelled {} open orders of the strategy", count)


def _handlers(instance: object, table: Mapping[str, type[Event]]) -> dict[str, type[Event]]:
    return {name: kind for name, kind in table.items() if callable(getattr(instance, name, None))}


async def _pump(
    events: Any, instance: object, handlers: Mapping[str, type[Event]], lock: trio.Lock
) -> None:
    """Hand each event to its callback, one callback at a time across pumps."""
    by_type = [(kind, name) for name, kind in handlers.items()]
    async for event in events:
        for kind, name in by_type:
            if isinstance(event, kind):
                async with lock:
                    await _call(instance, name, event)
                break


async def _call(instance: object, name: str, *args: object) -> None:
    method = getattr(instance, name, None)
    if method is None:
        return
    result = method(*args)
    if inspect.isawaitable(result):
        await result


class _Nothing:
    """An async context manager that yields ``None``: a subscription not needed."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
