"""The HTTP server's settings (the ``[http]`` section of the configuration file).

Rules, checked when an :class:`HttpConfig` is made (decoded from TOML or built in code):

- ``bind`` is an address or host name; anything but loopback (127.0.0.0/8, ::1, localhost)
  needs a ``token``: the endpoints show balances and orders, and later accept decisions.
- ``port`` is 0 to 65535; 0 asks the system for a free port (tests), which
  :func:`~galfriday.web.server.serve_http` reports when it has started.
- ``token``, when given, is at least :data:`MIN_TOKEN` characters without white space; every
  route but the probes (``/healthz``, ``/readyz``) then needs ``Authorization: Bearer <token>``.
- ``allow_trading`` (orders through the HTTP API, issue 17 item 3) needs a token.
"""

from __future__ import annotations

import ipaddress
from typing import Final

import msgspec

from galfriday.errors import ConfigError

__all__ = ["MIN_TOKEN", "HttpConfig", "is_loopback"]

MIN_TOKEN: Final = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the engine's HTTP server listens and who may use it (see the module docstring).

    Raises:
        ConfigError: a rule above is broken (one line naming the ``http.*`` field).
    """

    bind: str = "127.0.0.1"
    port: int = 8321
    token: str | None = None
    allow_trading: bool = False

    def __post_init__(self) -> None:
        if not self.bind.strip():
            raise ConfigError("http.bind", 'needs an address, e.g. "127.0.0.1"')
        if not 0 <= self.port <= 65535:
            raise ConfigError("http.port", "must be 0 to 65535 (0: any free port)")
        token = self.token
        if token is not None and (len(token) < MIN_TOKEN or any(c.isspace() for c in token)):
            raise ConfigError(
                "http.token", f"must be at least {MIN_TOKEN} characters without spaces"
            )
        if token is None and not is_loopback(self.bind):
            raise ConfigError(
                "http.bind",
                f"{self.bind} is reachable from other machines: set http.token too"
                " (or bind 127.0.0.1)",
            )
        if self.allow_trading and token is None:
            raise ConfigError("http.allow_trading", "needs http.token: orders only with the token")

    @property
    def host(self) -> str:
        """``bind`` as a URL's host (IPv6 in brackets)."""
        bind = self.bind.strip("[]")
        return f"[{bind}]" if ":" in bind else bind
