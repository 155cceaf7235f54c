"""The engine's HTTP server: a starlette app served by hypercorn's trio worker.

:func:`build_app` makes the application for one engine: the probes, ``/metrics``, the JSON
API and its event stream (:mod:`galfriday.web.api`), and any routes the caller adds (the
dashboard), all behind the guard (:mod:`galfriday.web.guard`). :func:`serve_http` serves it in
the caller's nursery (``await nursery.start(serve_http, engine, config)``) and reports the port
it bound. Either engine will do: the live one (:class:`galfriday.live.engine.Engine`) or the
public facade (:class:`galfriday.api.Engine`, unwrapped through ``.internal``).

Rules:
- Handlers run on the engine's trio thread (starlette runs on trio through anyio): they read
  the engine's state directly and must not block; database reads go through
  :meth:`~galfriday.audit.writer.AuditWriter.read`.
- The app keeps ``app.state.engine``, ``app.state.http`` (the :class:`HttpConfig`) and
  ``app.state.metrics`` (the :class:`~galfriday.web.metrics.EngineMetrics`) for added routes.
- Cancelling :func:`serve_http` closes the listener and every open connection at once (no
  graceful wait: the engine is stopping). hypercorn's log lines go to loguru.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.logging import Logger as HypercornLogger
from hypercorn.trio import serve
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from galfriday.errors import ConfigError
from galfriday.httpconfig import HttpConfig, is_loopback
from galfriday.web.api import api_routes
from galfriday.web.guard import BearerGuard
from galfriday.web.jsonio import BadRequest, bad_request
from galfriday.web.metrics import EngineMetrics
from galfriday.web.probes import PROBE_PATHS, healthz, readyz

if TYPE_CHECKING:
    from galfriday import api
    from galfriday.live.engine import Engine

__all__ = ["STATIC", "bind_socket", "build_app", "live_engine", "serve_http"]

STATIC = Path(__file__).with_name("static")  # the dashboard: files only, no data in them
PAGE_PATHS = ("/", *(f"/{file.name}" for file in sorted(STATIC.glob("*.*"))))


def live_engine(engine: Engine | api.Engine) -> Engine:
    """The live engine under ``engine`` (the facade's ``.internal``, or itself)."""
    from galfriday import api  # the facade imports the live engine: import it only here

    return engine.internal if isinstance(engine, api.Engine) else engine


async def metrics_endpoint(request: Request) -> Response:
    metrics: EngineMetrics = request.app.state.metrics
    await metrics.refresh()
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def build_app(
    engine: Engine | api.Engine,
    config: HttpConfig,
    *,
    routes: Sequence[BaseRoute] = (),
    metrics: EngineMetrics | None = None,
) -> Starlette:
    """The application for ``engine``: ``/healthz``, ``/readyz``, ``/metrics``, the JSON API,
    ``routes`` (mounts too) and the dashboard at ``/``, behind the guard
    (:mod:`galfriday.web.guard`; the dashboard's files are open, the data they read is not).

    ``metrics`` counts only while its :meth:`~EngineMetrics.run` runs (as in
    :func:`serve_http`); a new one is made when none is given.
    """
    engine = live_engine(engine)
    loopback = is_loopback(config.bind)
    guard = Middleware(
        BearerGuard, token=config.secret(), open_paths=(*PROBE_PATHS, *PAGE_PATHS),
        everything=not loopback, loopback=loopback,
    )  # fmt: skip
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            *api_routes(),
            *routes,
            Mount("/", app=StaticFiles(directory=STATIC, html=True), name="dashboard"),
        ],
        middleware=[guard],
        exception_handlers={BadRequest: bad_request},
    )
    app.state.engine = engine
    app.state.http = config
    app.state.metrics = metrics if metrics is not None else EngineMetrics(engine)
    return app


async def serve_http(
    engine: Engine | api.Engine,
    config: HttpConfig,
    *,
    routes: Sequence[BaseRoute] = (),
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``engine``'s app (:func:`build_app`) until cancelled; ``task_status.started``
    gets the bound port (the real one when ``config.port`` is 0).

    Raises:
        ConfigError: the address cannot be bound (in use, not this machine's): one line,
            raised before ``task_status.started``.
    """
    engine = live_engine(engine)
    metrics = EngineMetrics(engine)
    app = build_app(engine, config, routes=routes, metrics=metrics)
    sock = bind_socket(config)
    port = int(sock.getsockname()[1])
    hyper = _hypercorn_config(f"fd://{sock.detach()}")  # hypercorn owns the socket now
    async with trio.open_nursery() as nursery:
        await nursery.start(metrics.run)
        await nursery.start(serve, app, hyper)
        logger.info("HTTP on http://{}:{} (/api, /metrics, /healthz)", config.host, port)
        task_status.started(port)


def bind_socket(config: HttpConfig) -> socket.socket:
    """A TCP socket bound to ``config``'s address (not yet listening).

    Raises:
        ConfigError: the address cannot be bound (in use, not this machine's, no such name).
    """
    where = f"{config.host}:{config.port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            config.bind.strip("[]"), config.port, type=socket.SOCK_STREAM
        )[0]
    except OSError as exc:
        raise ConfigError("http.bind", f"{config.bind} is not an address ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        problem = f"cannot listen on {where} ({exc.strerror or exc})"
        raise ConfigError("http.bind", problem) from None
    return sock


def _hypercorn_config(bind: str) -> HypercornConfig:
    hyper = HypercornConfig()
    hyper.bind = [bind]
    hyper.accesslog = None
    hyper.logger_class = _LoguruLog
    hyper.include_server_header = False
    hyper.graceful_timeout = 0.0
    return hyper


class _LoguruLog(HypercornLogger):
    """hypercorn's error log into loguru (its "Running on" line at debug); no access log."""

    def __init__(self, config: HypercornConfig) -> None:
        self.access_logger = None
        self.error_logger = None
        self.access_log_format = config.access_log_format

    async def critical(self, message: str, *args: Any, **kwargs: Any) -> None:
        logger.bind(web="hypercorn").critical(_text(message, args))

    async def error(self, message: str, *args: Any, **kwargs: Any) -> None:
        logger.bind(web="hypercorn").error(_text(message, args))

    async def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        logger.bind(web="hypercorn").warning(_text(message, args))

    async def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        logger.bind(web="hypercorn").debug(_text(message, args))

    async def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        logger.bind(web="hypercorn").debug(_text(message, args))

    async def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
        logger.bind(web="hypercorn").opt(exception=True).error(_text(message, args))

    async def log(self, level: int, message: str, *args: Any, **kwargs: Any) -> None:
        logger.bind(web="hypercorn").log(logging.getLevelName(level), _text(message, args))

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def _text(message: str, args: tuple[Any, ...]) -> str:
    """A %-style log message with its arguments (as the logging module would make it)."""
    try:
        return message % args if args else message
    except (TypeError, ValueError):
        return f"{message} {args!r}"
