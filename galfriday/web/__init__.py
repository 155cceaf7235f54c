"""The engine's HTTP server: Prometheus metrics, health probes, a JSON API and an event stream.

- :mod:`galfriday.httpconfig`: :class:`HttpConfig` (the ``[http]`` section) and its rules.
- :mod:`galfriday.web.server`: :func:`build_app` (a starlette app for one engine, taking extra
  routes) and :func:`serve_http` (hypercorn's trio worker in the caller's nursery).
- :mod:`galfriday.web.guard`: the token and Host checks in front of every route.
- :mod:`galfriday.web.metrics`: ``/metrics`` (one registry per engine; figures read at scrape
  time, facts counted from the bus and from observers, never on the frame path).
- :mod:`galfriday.web.probes`: ``/healthz`` and ``/readyz``.
- :mod:`galfriday.web.api`: the JSON API's routes (the list is there);
  :mod:`galfriday.web.trading` its writes; :mod:`galfriday.web.events` ``/api/events``
  (Server-Sent Events); :mod:`galfriday.web.jsonio` the JSON conventions (Decimals as strings).

Layering: this package reads the running engine (:mod:`galfriday.live`); nothing under
``galfriday.live`` imports it. The composition roots (``app``, ``soak``) start it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from galfriday.httpconfig import HttpConfig
    from galfriday.web.api import api_routes
    from galfriday.web.metrics import EngineMetrics
    from galfriday.web.server import build_app, serve_http

__all__ = ["EngineMetrics", "HttpConfig", "api_routes", "build_app", "serve_http"]

# Imported when first used: the configuration reads HttpConfig without starting a web stack.
_HOMES: Final = {
    "EngineMetrics": "galfriday.web.metrics",
    "HttpConfig": "galfriday.httpconfig",
    "api_routes": "galfriday.web.api",
    "build_app": "galfriday.web.server",
    "serve_http": "galfriday.web.server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'galfriday.web' has no attribute {name!r}")
    return getattr(import_module(home), name)
