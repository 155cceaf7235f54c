"""The bearer-token guard: an ASGI middleware in front of every route.

Rules:
- Without a token configured, everything passes (the server is on loopback: see
  :class:`~galfriday.web.config.HttpConfig`).
- With a token, a request to any path but the open ones (the probes) needs
  ``Authorization: Bearer <token>``; the comparison takes the same time whatever the
  candidate (:func:`hmac.compare_digest`). Otherwise: HTTP 401 with ``WWW-Authenticate:
  Bearer``, or a WebSocket closed with 1008 (policy violation) before it is accepted.
- Routes added later are guarded too: the guard knows the open paths, not the closed ones.
- Lifespan messages pass untouched.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BearerGuard", "bearer_matches"]


def bearer_matches(header: bytes | None, token: bytes) -> bool:
    """Whether an ``Authorization`` header value carries ``token`` as a bearer token."""
    if header is None:
        return False
    scheme, _, candidate = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(candidate.strip(), token)


class BearerGuard:
    """Refuses requests without the bearer token (see the module docstring).

    Args:
        app: the application behind the guard.
        token: the token (``None``: no guard).
        open_paths: paths anyone may ask for.
    """

    def __init__(self, app: ASGIApp, token: str | None, open_paths: Iterable[str]) -> None:
        self.app = app
        self.token = token.encode() if token is not None else None
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = self.token
        if token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization")
        if bearer_matches(header, token):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = JSONResponse(
            {"error": "unauthorized", "detail": "send Authorization: Bearer <http.token>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)
