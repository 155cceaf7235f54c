"""The HTTP server's settings (the ``[http]`` section of the configuration file).

Rules, checked when an :class:`HttpConfig` is made (decoded from TOML or built in code):

- ``bind`` is an address or host name; anything but loopback (127.0.0.0/8, ::1, localhost)
  needs a ``token``: the endpoints show balances and orders, and later accept decisions.
- ``port`` is 0 to 65535; 0 asks the system for a free port (tests), which
  :func:`~galfriday.web.server.serve_http` reports when it has started.
- ``token``, when given, is at least :data:`MIN_TOKEN` characters without white space; writes
  (and, on a non-loopback bind, everything but the probes) need ``Authorization: Bearer
  <token>`` (see :mod:`galfriday.web.guard`). ``token_file`` names a file holding it instead
  (kept out of the configuration file; read by :meth:`HttpConfig.secret` when the server
  starts); not both.
- ``allow_trading`` (orders through the HTTP API) needs a token.
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
    token_file: str | None = None
    allow_trading: bool = False

    def __post_init__(self) -> None:
        if not self.bind.strip():
            raise ConfigError("http.bind", 'needs an address, e.g. "127.0.0.1"')
        if not 0 <= self.port <= 65535:
            raise ConfigError("http.port", "must be 0 to 65535 (0: any free port)")
        if self.token is not None:
            _check_token("http.token", self.token)
            if self.token_file is not None:
                raise ConfigError("http.token_file", "give http.token or http.token_file, not both")
        if not self.has_token and not is_loopback(self.bind):
            raise ConfigError(
                "http.bind",
                f"{self.bind} is reachable from other machines: set http.token too"
                " (or bind 127.0.0.1)",
            )
        if self.allow_trading and not self.has_token:
            raise ConfigError("http.allow_trading", "needs http.token: orders only with the token")

    @property
    def has_token(self) -> bool:
        return self.token is not None or self.token_file is not None

    def secret(self) -> str | None:
        """The token: ``token``, or the first line of ``token_file`` (``None``: no token).

        Raises:
            ConfigError: the file cannot be read, or what it holds is not a valid token.
        """
        if self.token_file is None:
            return self.token
        try:
            with open(self.token_file, encoding="utf-8") as file:
                token = file.readline().strip()
        except OSError as exc:
            raise ConfigError("http.token_file", f"cannot be read ({exc.strerror})") from None
        _check_token("http.token_file", token)
        return token

    @property
    def host(self) -> str:
        """``bind`` as a URL's host (IPv6 in brackets)."""
        bind = self.bind.strip("[]")
        return f"[{bind}]" if ":" in bind else bind


def _check_token(field: str, token: str) -> None:
    if len(token) < MIN_TOKEN or any(c.isspace() for c in token):
        raise ConfigError(field, f"must be at least {MIN_TOKEN} characters without spaces")
