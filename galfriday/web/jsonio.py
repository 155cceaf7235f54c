"""JSON in and out of the HTTP API, through msgspec.

Rules:
- Money and quantities are ``Decimal`` and go out as strings (``"65000.1"``), never floats:
  a dashboard or bot parses them exactly. Times go out as the engine keeps them: wall-clock
  epoch seconds (floats) or ISO 8601 strings.
- A book side (:class:`~galfriday.events.BookSide`) goes out as ``[[price, qty], ...]``, best
  first; enums as their values; every event as its fields (:func:`event_json`).
- Request bodies are decoded into Structs that refuse unknown fields; a body that does not
  decode is a 400 naming what was wrong (:class:`BadRequest`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from starlette.responses import Response

from galfriday.events import BookSide, Event

if TYPE_CHECKING:
    from galfriday.audit.store import AuditStore

__all__ = [
    "JSON",
    "BadRequest",
    "bad_request",
    "decode_body",
    "encode",
    "error",
    "event_json",
    "reading",
]

T = TypeVar("T")


class BadRequest(Exception):
    """A request the API refuses: its HTTP status and a one-line reason. A route raises it;
    the app's one handler (:func:`bad_request`) answers it with :func:`error`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _enc_hook(value: Any) -> Any:
    if isinstance(value, BookSide):
        return value.levels()
    raise NotImplementedError(f"cannot encode {type(value).__name__} as JSON")


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="string")


def encode(content: Any) -> bytes:
    """``content`` as JSON bytes (Decimals as strings, book sides as level lists)."""
    return _ENCODER.encode(content)


def event_json(event: Event) -> bytes:
    """One bus event as a JSON object of its fields."""
    return _ENCODER.encode(event)


class JSON(Response):
    """A JSON response encoded by :func:`encode`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode(content)


def error(status: int, detail: str) -> JSON:
    """The API's error body: ``{"error": <HTTP reason>, "detail": <one line>}``."""
    reasons = {400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found",
               409: "conflict", 422: "refused by the exchange", 502: "outcome unknown",
               503: "unavailable"}  # fmt: skip
    return JSON({"error": reasons.get(status, "error"), "detail": detail}, status_code=status)


def decode_body(body: bytes, kind: type[T]) -> T:
    """A request body decoded as ``kind``.

    Raises:
        BadRequest: not JSON, or not the fields ``kind`` takes (400, msgspec's reason).
    """
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(400, f"body: {exc}") from exc


def reading(query: Callable[[sqlite3.Connection], T]) -> Callable[[AuditStore], T]:
    """``query`` (one of :mod:`galfriday.audit.queries`, which want rows as
    :class:`sqlite3.Row`) made to run on the audit writer's connection through
    :meth:`~galfriday.audit.writer.AuditWriter.read`: the row factory is set for the call and
    put back after it (the writer's own batches never run meanwhile)."""

    def run(store: AuditStore) -> T:
        conn = store.db.conn
        before = conn.row_factory
        conn.row_factory = sqlite3.Row
        try:
            return query(conn)
        finally:
            conn.row_factory = before

    return run


async def bad_request(request: Any, exc: Exception) -> JSON:
    """The app's handler for :class:`BadRequest`: its status and reason as :func:`error`."""
    if isinstance(exc, BadRequest):  # starlette calls it for BadRequest only
        return error(exc.status, exc.detail)
    return error(400, str(exc))
