"""Kraken's REST API over httpx: signed private calls, typed errors, safe retries, rate limits.

The one Kraken module that does I/O. Rules:

- Private calls are signed (:func:`~galfriday.kraken.auth.sign`) one at a time, each after the
  previous one has its answer, so nonces reach Kraken in increasing order even with concurrent
  callers (one key, one queue). The highest nonce is persisted before sending when a
  ``nonce_path`` is given, with the call counter's estimate, which a restart carries over.
- Who goes next is the :class:`~galfriday.kraken.ratelimit.CallQueue`'s decision: orders and
  cancels, then the WebSocket token, then a recovery's backfill, then background work
  (:class:`~galfriday.kraken.ratelimit.Priority`; a method's class by default, or the class a
  caller sets for a block with :func:`rest_priority`).
- Kraken's error strings become typed exceptions (:func:`~galfriday.errors.kraken_error`);
  an HTTP error status becomes :class:`~galfriday.errors.ServiceUnavailable`; a transport error
  or timeout becomes :class:`~galfriday.errors.ConnectionBroken`.
- Only calls that are safe to repeat are retried (``retries`` times, with backoff): reads and
  the token. ``AddOrder`` and ``CancelOrder`` are never retried blindly; the order gateway
  decides, with client order ids.
- A local :class:`~galfriday.kraken.ratelimit.CallCounter` delays calls so normal operation
  never sees ``EAPI:Rate limit exceeded``; the counter keeps headroom for orders and the token.
- Every call is reported to ``on_call`` as a :class:`RestCall` (method, timing, outcome). No
  key, secret, signature, nonce or token is ever part of it, nor of a log line or exception.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import httpx
import msgspec
import trio
from loguru import logger

from galfriday.errors import (
    ConnectionBroken,
    KrakenApiError,
    LocalError,
    RateLimitError,
    ServiceUnavailable,
    kraken_error,
)
from galfriday.kraken.answers import decode_balance, decode_websockets_token
from galfriday.kraken.auth import KeyState, NonceGenerator, load_key_state, save_key_state, sign
from galfriday.kraken.ratelimit import (
    TIERS,
    CallCounter,
    CallQueue,
    Priority,
    Ticket,
    Tier,
    default_priority,
)
from galfriday.kraken.requests import fixed

__all__ = ["KrakenRest", "RestCall", "RestConfig", "rest_priority"]

SAFE_TO_RETRY: Final = frozenset(
    {
        "Time", "SystemStatus", "AssetPairs", "Assets", "Depth", "Ticker", "Balance",
        "BalanceEx", "TradeBalance", "OpenOrders", "ClosedOrders", "QueryOrders",
        "TradesHistory", "QueryTrades", "Ledgers", "QueryLedgers", "GetWebSocketsToken",
    }
)  # fmt: skip
_DECODER: Final = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)
_PRIORITY: ContextVar[Priority | None] = ContextVar("galfriday_rest_priority", default=None)


@contextmanager
def rest_priority(level: Priority) -> Iterator[None]:
    """Private calls made inside the block (by this task and the tasks it starts) wait in
    ``level`` instead of their method's default class."""
    token = _PRIORITY.set(level)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


@dataclass(frozen=True)
class RestConfig:
    base_url: str = "https://api.kraken.com"
    api_key: str | None = None
    secret: bytes | None = None
    tier: str = "intermediate"
    counter: Tier | None = None  # the tier's call counter unless given
    timeout: float = 10.0
    retries: int = 3
    retry_base: float = 0.5
    nonce_path: Path | None = None
    nonce_floor: int = 0
    rate_limited: bool = True  # False only where no exchange is behind (a replay)


@dataclass(frozen=True)
class RestCall:
    """One REST call as the audit trail records it."""

    method: str
    started: float  # wall clock, epoch seconds
    duration: float  # seconds
    outcome: str  # "ok" or the error code / class
    attempt: int
    waited: float = 0.0  # seconds spent waiting for the local rate limiter


class KrakenRest:
    """A Kraken REST client for one API key (or none, for public calls only).

    Use as an async context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        config: RestConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_call: Callable[[RestCall], None] | None = None,
    ) -> None:
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=config.timeout,
            transport=transport,
            headers={"User-Agent": "galfriday"},
        )
        # Every nonce an earlier run used stays below ours, and its call counter carries over
        # (at the first call: the counter runs on the trio clock).
        self._carried = KeyState()
        if config.nonce_path is not None:
            self._carried = load_key_state(config.nonce_path)
        self._nonces = NonceGenerator(max(config.nonce_floor, self._carried.nonce))
        self._counter = CallCounter(config.counter or TIERS[config.tier])
        self._queue = CallQueue(self._counter, limited=config.rate_limited)
        self._turns = trio.lowlevel.ParkingLot()
        self._on_call = on_call
        # Called with every call too, after on_call (the metrics); each must not block or raise.
        self.call_observers: list[Callable[[RestCall], None]] = []
        self.calls = 0

    async def __aenter__(self) -> KrakenRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def counter_level(self) -> float:
        """Our estimate of Kraken's call counter for this key now (see
        :class:`~galfriday.kraken.ratelimit.CallCounter`)."""
        return self._counter.value(trio.current_time())

    @property
    def has_credentials(self) -> bool:
        return bool(self.config.api_key and self.config.secret)

    # --- the two kinds of call ---------------------------------------------------------------

    async def public(self, method: str, **params: object) -> Any:
        """``GET /0/public/<method>``; returns the ``result``."""
        return await self._call(method, params, private=False)

    async def private(self, method: str, **params: object) -> Any:
        """A signed ``POST /0/private/<method>``; returns the ``result``.

        Raises:
            LocalError: no API key or secret configured.
        """
        if not self.has_credentials:
            raise LocalError(f"{method} needs an API key and secret")
        return await self._call(method, params, private=True)

    async def _call(self, method: str, params: Mapping[str, object], private: bool) -> Any:
        attempts = 1 + (self.config.retries if method in SAFE_TO_RETRY else 0)
        for attempt in range(1, attempts):
            try:
                return await self._once(method, params, private, attempt)
            except (ServiceUnavailable, ConnectionBroken, RateLimitError) as exc:
                delay = self.config.retry_base * 2 ** (attempt - 1)
                logger.bind(method=method).info("retrying in {:.1f}s after {}", delay, exc)
                await trio.sleep(delay)
        return await self._once(method, params, private, attempts)

    async def _once(
        self, method: str, params: Mapping[str, object], private: bool, attempt: int
    ) -> Any:
        waited = 0.0
        ticket: Ticket | None = None
        if private:
            ticket, waited = await self._turn(method)
        started, clock = time.time(), trio.current_time()
        outcome = "ok"
        try:
            if private:
                response = await self._send_private(method, params)
            else:
                response = await self._http.get(f"/0/public/{method}", params=_plain(params))
            return self._result(response)
        except KrakenApiError as exc:
            outcome = exc.code
            if isinstance(exc, RateLimitError):
                self._counter.penalise(trio.current_time())
            raise
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
            raise ConnectionBroken(f"{method}: {type(exc).__name__}") from exc
        finally:
            if ticket is not None:
                self._queue.done(ticket)
                self._turns.unpark_all()
            self.calls += 1
            if self._on_call is not None or self.call_observers:
                duration = trio.current_time() - clock
                call = RestCall(method, started, duration, outcome, attempt, waited)
                if self._on_call is not None:
                    self._on_call(call)
                for observe in self.call_observers:
                    observe(call)

    async def _turn(self, method: str) -> tuple[Ticket, float]:
        """Wait until the call queue grants ``method`` its turn; (the ticket, seconds waited)."""
        began = trio.current_time()
        if self._carried.counter:
            seconds_ago = time.time() - self._carried.nonce / 1e6
            self._counter.carry_over(self._carried.counter, seconds_ago, began)
            self._carried = KeyState()
        ticket = self._queue.enqueue(method, _PRIORITY.get() or default_priority(method))
        try:
            while True:
                waiting = self._queue.waiting()
                wake = self._queue.pump(trio.current_time())
                if ticket.granted:
                    return ticket, trio.current_time() - began
                if self._queue.waiting() < waiting:
                    self._turns.unpark_all()  # the turn went to a parked caller: wake it
                with trio.move_on_at(math.inf if wake is None else wake):
                    await self._turns.park()
        except BaseException:
            self._queue.cancel(ticket)
            self._turns.unpark_all()
            raise

    async def _send_private(self, method: str, params: Mapping[str, object]) -> httpx.Response:
        config = self.config
        key, secret = config.api_key, config.secret
        if key is None or secret is None:
            raise LocalError(f"{method} needs an API key and secret")
        nonce = self._nonces.next(time.time_ns())
        if config.nonce_path is not None:
            state = KeyState(nonce, self._counter.value(trio.current_time()))  # this call in
            await trio.to_thread.run_sync(save_key_state, config.nonce_path, state)
        body = urlencode({"nonce": nonce, **_plain(params)})
        path = f"/0/private/{method}"
        headers = {
            "API-Key": key,
            "API-Sign": sign(path, nonce, body, secret),
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        }
        return await self._http.post(path, content=body, headers=headers)

    def _result(self, response: httpx.Response) -> Any:
        if response.status_code != 200:
            raise ServiceUnavailable(f"EService:HTTP {response.status_code}")
        try:
            envelope = _DECODER.decode(response.content)
        except msgspec.DecodeError as exc:
            raise ServiceUnavailable("EService:Unreadable response") from exc
        errors = [e for e in envelope.get("error") or [] if isinstance(e, str)]
        failures = [e for e in errors if not e.startswith("W")]
        if failures:
            raise kraken_error(failures[0])
        return envelope.get("result")

    # --- typed helpers -------------------------------------------------------------------------

    async def websocket_token(self) -> str:
        """A WebSocket token (a secret: never logged)."""
        return decode_websockets_token(await self.private("GetWebSocketsToken")).token

    async def balance(self) -> dict[str, Decimal]:
        """``Balance``: REST asset code -> amount."""
        return decode_balance(await self.private("Balance"))


def _plain(params: Mapping[str, object]) -> dict[str, str]:
    """Parameters as Kraken reads them: booleans ``true``/``false``, lists comma-separated,
    Decimals in fixed point (``str(Decimal)`` writes ``1.234E-7``)."""
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            out[key] = ",".join(_text(v) for v in value)
        else:
            out[key] = _text(value)
    return out


def _text(value: object) -> str:
    return fixed(value) if isinstance(value, Decimal) else str(value)
