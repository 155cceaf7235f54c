"""The guard in front of every route: the bearer token, and loopback kept loopback.

Rules, in order:
- Lifespan messages pass untouched; the open paths (the probes) always pass.
- On a loopback bind, a request whose ``Host`` is not a loopback name (``localhost``,
  127.0.0.0/8, ``::1``) is refused with 403: a web page cannot reach the API by pointing a
  DNS name of its own at 127.0.0.1 (DNS rebinding).
- A read (``GET``, ``HEAD``) needs ``Authorization: Bearer <token>`` only when
  ``everything`` is set (a bind other machines can reach: see
  :class:`~galfriday.httpconfig.HttpConfig`, which then insists on a token). A WebSocket
  counts as a read.
- A write (any other method) always needs the token; with no token configured every write is
  refused with 403. A custom header is also what a page in a browser cannot send to another
  origin without asking first, so writes cannot be forged from a web page.
- The token is compared in constant time (:func:`hmac.compare_digest`). Missing or wrong:
  401 with ``WWW-Authenticate: Bearer``, or a WebSocket closed with 1008 before it is accepted.
- Routes added later are guarded too: the guard knows the open paths, not the closed ones.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from galfriday.httpconfig import is_loopback
from galfriday.web.jsonio import error

__all__ = ["READS", "BearerGuard", "bearer_matches", "host_name"]

READS: Final = frozenset({"GET", "HEAD"})


def bearer_matches(header: bytes | None, token: bytes) -> bool:
    """Whether an ``Authorization`` header value carries ``token`` as a bearer token."""
    if header is None:
        return False
    scheme, _, candidate = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(candidate.strip(), token)


def host_name(header: bytes | None) -> str:
    """The host of a ``Host`` header, without its port (``[::1]:8321`` -> ``::1``)."""
    host = (header or b"").decode("latin-1").strip()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class BearerGuard:
    """Refuses what the rules above refuse (see the module docstring).

    Args:
        app: the application behind the guard.
        token: the token (``None``: reads open on loopback, writes refused).
        open_paths: paths anyone may ask for.
        everything: reads need the token too (a non-loopback bind).
        loopback: the server listens on loopback only (``Host`` is checked).
    """

    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        open_paths: Iterable[str],
        *,
        everything: bool = False,
        loopback: bool = True,
    ) -> None:
        self.app = app
        self.token = token.encode() if token is not None else None
        self.open_paths = frozenset(open_paths)
        self.everything = everything
        self.loopback = loopback

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) when the request must be refused."""
        if scope["path"] in self.open_paths:
            return None
        headers = dict(scope["headers"])
        if self.loopback and not is_loopback(host_name(headers.get(b"host"))):
            return 403, "this server answers to localhost names only (Host header)"
        write = scope["type"] == "http" and scope["method"] not in READS
        if not write and not self.everything:
            return None
        if self.token is None:
            return 403, "writes need http.token configured (and sent as a bearer token)"
        if bearer_matches(headers.get(b"authorization"), self.token):
            return None
        return 401, "send Authorization: Bearer <http.token>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        status, detail = refusal
        response = error(status, detail)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)
