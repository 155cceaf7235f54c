"""The engine's HTTP server: Prometheus metrics, health probes, and room for more routes.

- :mod:`galfriday.web.config`: :class:`HttpConfig` (the ``[http]`` section) and its rules.
- :mod:`galfriday.web.server`: :func:`build_app` (a starlette app for one engine, taking extra
  routes) and :func:`serve_http` (hypercorn's trio worker in the caller's nursery).
- :mod:`galfriday.web.guard`: the bearer-token guard in front of every route but the probes.
- :mod:`galfriday.web.metrics`: ``/metrics`` (one registry per engine; figures read at scrape
  time, facts counted from the bus and from observers, never on the frame path).
- :mod:`galfriday.web.probes`: ``/healthz`` and ``/readyz``.

Layering: this package reads the running engine (:mod:`galfriday.live`); nothing under
``galfriday.live`` imports it. The composition roots (``app``, ``soak``) start it.
"""

from __future__ import annotations

from galfriday.web.config import HttpConfig
from galfriday.web.metrics import EngineMetrics
from galfriday.web.server import build_app, serve_http

__all__ = ["EngineMetrics", "HttpConfig", "build_app", "serve_http"]
