"""``/healthz`` and ``/readyz``: what a supervisor (systemd, Docker, Kubernetes) asks.

Rules:
- ``/healthz`` is 200 while every connection is HEALTHY or DEGRADED (the engine's last verdict,
  :attr:`Engine.health <galfriday.live.engine.Engine.health>`, made every ``health_interval``
  seconds) and the audit trail can be written; 503 when any connection is UNHEALTHY or the
  audit trail is failing (the engine then refuses new orders). Before the first verdict a
  connection counts as starting, not unhealthy. The body says, per connection, its state
  (the socket's: disconnected .. subscribed), its health and the reasons.
- ``/readyz`` is 200 once the engine has started and has its first verified books (and, with
  keys, the account's snapshots), while every connection is up (connected or further); 503
  otherwise, saying what it waits for. A book resyncing does not make it unready (that is
  routine); a connection down does.
- Both are open without the token (see :mod:`galfriday.web.guard`) and read only what the
  engine keeps in memory: no database, no waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from galfriday.core.health import Health
from galfriday.events import ConnectionState

if TYPE_CHECKING:
    from galfriday.live.engine import Engine

__all__ = ["DOWN", "PROBE_PATHS", "health_verdict", "healthz", "readiness", "readyz"]

PROBE_PATHS = ("/healthz", "/readyz")
DOWN = frozenset({ConnectionState.DISCONNECTED, ConnectionState.CONNECTING})


def health_verdict(engine: Engine) -> tuple[bool, dict[str, Any]]:
    """(healthy enough to keep running, the body of ``/healthz``)."""
    connections: dict[str, Any] = {}
    healthy = True
    for connection in (engine.public, engine.private):
        if connection is None:
            continue
        name = connection.config.name
        report = engine.health.get(name)
        connections[name] = {
            "state": connection.state.value,
            "health": report.state.value if report is not None else "starting",
            "reasons": list(report.reasons) if report is not None else [],
        }
        if report is not None and report.state is Health.UNHEALTHY:
            healthy = False
    halted = engine.storage.halted
    if halted is not None:
        healthy = False
    body = {
        "status": "ok" if healthy else "unhealthy",
        "connections": connections,
        "audit": {"ok": halted is None, "reason": halted},
    }
    return healthy, body


def readiness(engine: Engine) -> list[str]:
    """What the engine still waits for before it is ready (empty: ready)."""
    waiting = []
    if not engine.started.is_set():
        waiting.append("start-up")
    if not engine.marketdata.ready.is_set():
        waiting.append("the first book snapshots")
    account = engine.account
    if account is not None and not account.snapshots.is_set():
        waiting.append("the account's snapshots (executions, balances)")
    for connection in (engine.public, engine.private):
        if connection is not None and connection.state in DOWN:
            waiting.append(f"the {connection.config.name} connection ({connection.state.value})")
    return waiting


async def healthz(request: Request) -> JSONResponse:
    healthy, body = health_verdict(request.app.state.engine)
    return JSONResponse(body, status_code=200 if healthy else 503)


async def readyz(request: Request) -> JSONResponse:
    waiting = readiness(request.app.state.engine)
    body = {"status": "ready" if not waiting else "waiting", "waiting": waiting}
    return JSONResponse(body, status_code=200 if not waiting else 503)
