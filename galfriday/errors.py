"""The one exception tree of galfriday.

Every error galfriday raises on purpose is a :class:`GalfridayError`. The tree separates whose
fault it was ("the exchange sent something wrong" vs "we did something wrong") and, for
connections, "closed" (an orderly end) from "broken" (a fault to recover from)::

    GalfridayError
    ├── ConfigError                 bad configuration or CLI input (exit code 2, one line)
    │   └── CaptureError            a capture file that cannot be read (names file and byte)
    ├── LocalError                  we did something wrong
    │   ├── InvalidRequest          a request we were about to send is not valid
    │   ├── RailRefused             an order breaks a rail of ``[rails]`` (or the kill switch)
    │   └── TradingHalted           the engine refuses new orders (its audit trail is failing)
    ├── StorageFailure              the audit trail cannot be written (disk full, I/O error):
    │                               the engine stops rather than run unrecorded
    ├── StrategyFailed              the strategy raised, and ``[strategy] on_error = "exit"``
    ├── ExchangeError               the exchange (or the wire) sent something wrong
    │   ├── MalformedFrame          a WebSocket frame that does not decode; carries the path
    │   ├── RemoteProtocolError     a well-formed frame that breaks the protocol's rules
    │   ├── OrderOutcomeUnknown     an order went out and neither its answer nor the order
    │   │                           can be found: it may or may not be on the book
    │   └── KrakenApiError          an error string from Kraken (REST list or WS ``error``)
    │       ├── AuthenticationError EAPI:Invalid key/signature/nonce, EAPI:Invalid token, ...
    │       ├── RateLimitError      EAPI:Rate limit exceeded, EOrder:Rate limit exceeded, ...
    │       ├── ServiceUnavailable  EService:Unavailable, EService:Throttled, ...
    │       └── OrderRejected       EOrder:Insufficient funds, EOrder:Invalid order, ...
    └── ConnectionProblem           about a connection's life
        ├── ConnectionClosed        closed in order (by us, or a normal close frame)
        └── ConnectionBroken        lost: reset, timeout, silence, bad close code
            └── RequestUnanswered   a request went out and got no answer: its effect is unknown

Rules: translate foreign exceptions once, at the boundary (``raise MalformedFrame(...) from
exc``; a REST answer that does not decode is an ``UnreadableAnswer``, raised by
:mod:`galfriday.kraken.answers` around the decoding alone, so a bug of ours in what follows
stays our own exception); never put a secret into an exception message.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CaptureError",
    "ConfigError",
    "ConnectionBroken",
    "ConnectionClosed",
    "ConnectionProblem",
    "ExchangeError",
    "GalfridayError",
    "InvalidRequest",
    "KrakenApiError",
    "LocalError",
    "MalformedFrame",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "RailRefused",
    "RateLimitError",
    "RemoteProtocolError",
    "RequestUnanswered",
    "ServiceUnavailable",
    "StorageFailure",
    "StrategyFailed",
    "TradingHalted",
    "first_error",
    "kraken_error",
    "sole_error",
]

_RAW_PREVIEW = 200


class GalfridayError(Exception):
    """Base of every error galfriday raises on purpose."""


class ConfigError(GalfridayError):
    """Bad configuration or command-line input.

    Args:
        field: the setting or argument at fault, as the user spells it.
        problem: what is wrong and how to fix it, in one line.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class CaptureError(ConfigError):
    """A capture file that is not one, is of another format version, or is damaged.

    Attributes:
        path: the file.
        offset: the byte where reading stopped.
    """

    def __init__(self, path: str, offset: int, problem: str) -> None:
        super().__init__(path, f"{problem} (at byte {offset:,})")
        self.path = path
        self.offset = offset


class LocalError(GalfridayError):
    """We did something wrong (a bug or a misuse of an API), not the exchange."""


class InvalidRequest(LocalError):
    """A request we were about to send breaks Kraken's rules; nothing was sent."""


class RailRefused(LocalError):
    """An order breaks a rail (``[rails]``: size, notional, open orders, position) or the kill
    switch is on; nothing was sent, and the refusal is in the audit trail."""


class TradingHalted(LocalError):
    """The engine refuses new orders for now (e.g. its audit trail cannot be written); nothing
    was sent."""


class StorageFailure(GalfridayError):
    """The audit trail could not be written for too long (disk full, I/O error); the engine
    stops rather than trade unrecorded."""


class StrategyFailed(GalfridayError):
    """The strategy raised (its orders were cancelled and trading stopped) and the
    configuration asks the engine to exit rather than keep the account view running."""


class ExchangeError(GalfridayError):
    """The exchange, or the wire between us, sent something wrong."""


class MalformedFrame(ExchangeError):
    """A WebSocket frame that cannot be decoded.

    Attributes:
        reason: msgspec's message, e.g. ``Expected `int`, got `str```.
        path: where in the frame it failed, e.g. ``$.data[0].price`` (``$`` if unknown).
        raw: the first 200 characters of the frame, for the audit trail.
    """

    def __init__(self, reason: str, path: str, raw: bytes | str) -> None:
        super().__init__(f"malformed frame at {path}: {reason}")
        self.reason = reason
        self.path = path
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
        self.raw = text[:_RAW_PREVIEW]


class RemoteProtocolError(ExchangeError):
    """A frame that decodes but breaks the protocol (e.g. a price finer than its precision)."""


class OrderOutcomeUnknown(ExchangeError):
    """An order was sent, got no answer, and could not be found on the exchange within the
    settle window: it may be on the book or not. It was not sent again.

    Attributes:
        cl_ord_id: the client order id it was sent with (look for it later).
    """

    def __init__(self, cl_ord_id: str, reason: str) -> None:
        super().__init__(f"order {cl_ord_id}: outcome unknown ({reason}); not placed again")
        self.cl_ord_id = cl_ord_id


class KrakenApiError(ExchangeError):
    """Kraken answered with an error string such as ``EOrder:Insufficient funds``.

    Attributes:
        code: the full string as Kraken sent it.
        category: the part before the first colon without the severity letter (``Order``).
    """

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
        head = code.split(":", 1)[0]
        self.category = head[1:] if head[:1] in ("E", "W") else head


class AuthenticationError(KrakenApiError):
    """Key, signature, nonce, token or permission refused; retrying as-is will not help."""


class RateLimitError(KrakenApiError):
    """A rate limit was hit; back off before the next call."""


class ServiceUnavailable(KrakenApiError):
    """Kraken is down, in maintenance, throttling or out of time; retry later."""


class OrderRejected(KrakenApiError):
    """The trading engine refused an order or cancel (funds, minimums, tick size, unknown id)."""


class ConnectionProblem(GalfridayError):
    """About a connection's life; ``code`` is the WebSocket close code when there was one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ConnectionClosed(ConnectionProblem):
    """The connection ended in order: we closed it, or the peer sent a normal close."""


class ConnectionBroken(ConnectionProblem):
    """The connection was lost: reset, timeout, silence, or an abnormal close code."""


class RequestUnanswered(ConnectionBroken):
    """A request went out (or may have) and no answer came: whether it took effect is unknown."""


_RATE_LIMIT = frozenset(
    {
        "EAPI:Rate limit exceeded",
        "EOrder:Rate limit exceeded",
        "EOrder:Domain rate limit exceeded",
        "EAuth:Rate limit exceeded",
        "EAuth:Too many requests",
        "EGeneral:Too many requests",
        "Exceeded msg rate",
    }
)
_AUTH_PREFIXES = (
    "EAPI:Invalid key",
    "EAPI:Invalid signature",
    "EAPI:Invalid nonce",
    "EAPI:Invalid token",
    "EAPI:Feature disabled",
    "EGeneral:Permission denied",
    "EGeneral:Temporary lockout",
    "ESession:Invalid session",
)
_SERVICE_PREFIXES = ("EService:", "EGeneral:Internal error")


def kraken_error(code: str) -> KrakenApiError:
    """Map one Kraken error string to the most specific exception class.

    Unknown strings become a plain :class:`KrakenApiError`, never an exception of their own.
    """
    if code in _RATE_LIMIT:
        return RateLimitError(code)
    if code.startswith(_AUTH_PREFIXES):
        return AuthenticationError(code)
    if code.startswith(_SERVICE_PREFIXES):
        return ServiceUnavailable(code)
    if code.startswith("EOrder:"):
        return OrderRejected(code)
    return KrakenApiError(code)


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception a (nested) exception group holds."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one :class:`GalfridayError` a trio exception group is made of (nurseries wrap
    what fails inside them), so a start-up refusal reads as itself; else the group."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseExceptionGroup):
            pending.extend(item.exceptions)
        else:
            leaves.append(item)
    return leaves[0] if len(leaves) == 1 and isinstance(leaves[0], GalfridayError) else group
