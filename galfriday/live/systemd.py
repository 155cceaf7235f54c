"""systemd's notify protocol: READY, WATCHDOG, STOPPING and STATUS, without libsystemd.

Under a unit with ``Type=notify``, systemd passes ``$NOTIFY_SOCKET`` (a path, or ``@name`` for an
abstract socket) and waits for ``READY=1`` before it counts the service as started. With
``WatchdogSec=`` it also passes ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``) and restarts the
service when no ``WATCHDOG=1`` arrives within that time. Each message is one datagram of
``KEY=VALUE`` lines to that socket (sd_notify(3)).

Rules:

- Outside systemd (no ``$NOTIFY_SOCKET``) every call does nothing: the same engine runs from a
  terminal, a container or a test.
- :func:`notify` never raises and never blocks: the datagram goes out non-blocking, and a
  socket that is gone or full costs that one message (the next watchdog ping tries again).
- :func:`run_watchdog` pings at half the interval systemd asked for, and only while the
  engine's ``healthy`` says so: an engine whose feeds are UNHEALTHY, or whose trio loop is stuck,
  stops pinging, and systemd restarts it after ``WatchdogSec``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from typing import Final

import trio
from loguru import logger

__all__ = ["notify", "run_watchdog", "watchdog_interval"]

SOCKET_ENV: Final = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV: Final = "WATCHDOG_USEC"
WATCHDOG_PID_ENV: Final = "WATCHDOG_PID"


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``) to systemd; whether it went out.

    False, and nothing done, when not started by systemd with ``Type=notify``.
    """
    address = (os.environ if environ is None else environ).get(SOCKET_ENV, "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)
            sock.sendto(message.encode("utf-8", "replace"), target)
    except OSError as exc:
        logger.debug("systemd notify {!r} not sent: {}", message.split("=", 1)[0], exc)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half of ``WatchdogSec``), or None without a watchdog
    for this process."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get(WATCHDOG_USEC_ENV, ""))
    except ValueError:
        return None
    pid = env.get(WATCHDOG_PID_ENV)
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2_000_000


async def run_watchdog(
    healthy: Callable[[], bool],
    interval: float,
    environ: Mapping[str, str] | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Ping systemd's watchdog every ``interval`` seconds while ``healthy()``, until cancelled.

    An unhealthy check skips that ping and says so once (and once more when healthy again).
    """
    task_status.started()
    was_healthy = True
    while True:
        now_healthy = healthy()
        if now_healthy:
            notify("WATCHDOG=1", environ)
        if now_healthy != was_healthy:
            if now_healthy:
                logger.info("systemd watchdog: healthy again, pinging")
            else:
                logger.warning("systemd watchdog: not pinging while the engine is unhealthy")
            was_healthy = now_healthy
        await trio.sleep(interval)
