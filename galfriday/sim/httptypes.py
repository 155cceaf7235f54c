"""HTTP requests and responses as plain data (sans-IO): what :mod:`galfriday.sim.http` parses
and writes, and what :mod:`galfriday.sim.rest` answers."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HttpRequest", "HttpResponse"]


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class HttpResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(
        default_factory=lambda: [("content-type", "application/json")]
    )
