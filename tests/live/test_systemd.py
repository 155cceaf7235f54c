"""sd_notify as systemd receives it: datagrams on a loopback AF_UNIX socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from galfriday.live import systemd


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """A datagram socket standing in for systemd, and the environment that names it."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)
        yield sock, {"NOTIFY_SOCKET": str(path)}


def _received(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_notify_sends_one_datagram_to_the_socket(
    listener: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, environ = listener
    assert systemd.notify("READY=1", environ)
    assert _received(sock) == ["READY=1"]


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"galfriday-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.setblocking(False)
        assert systemd.notify("STOPPING=1", {"NOTIFY_SOCKET": "@" + name})
        assert _received(sock) == ["STOPPING=1"]


def test_notify_outside_systemd_does_nothing() -> None:
    assert not systemd.notify("READY=1", {})


def test_notify_to_a_socket_that_is_gone_is_false_not_an_error(tmp_path: Path) -> None:
    assert not systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")})


def test_watchdog_interval_is_half_of_watchdog_sec_for_this_process() -> None:
    pid = str(os.getpid())
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "90000000", "WATCHDOG_PID": pid}) == 45.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "90000000"}) == 45.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "90000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval({}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "x"}) is None


async def test_watchdog_pings_only_while_healthy(
    listener: tuple[socket.socket, dict[str, str]], autojump_clock: trio.testing.MockClock
) -> None:
    sock, environ = listener
    healthy = [True]
    async with trio.open_nursery() as nursery:
        await nursery.start(systemd.run_watchdog, lambda: healthy[0], 10.0, environ)
        await trio.sleep(25)  # pings at 0, 10, 20
        healthy[0] = False
        await trio.sleep(30)  # none at 30, 40, 50
        assert _received(sock) == ["WATCHDOG=1"] * 3
        healthy[0] = True
        await trio.sleep(10)  # at 60
        nursery.cancel_scope.cancel()
    assert _received(sock) == ["WATCHDOG=1"]


@pytest.mark.slow
def test_a_run_under_systemd_says_ready_status_watchdog_and_stopping(
    listener: tuple[socket.socket, dict[str, str]], tmp_path: Path
) -> None:
    sock, environ = listener
    env = {**os.environ, **environ, "WATCHDOG_USEC": "2000000"}  # a ping every second
    done = subprocess.run(
        [sys.executable, "-m", "galfriday", "run", "--no-capture", "--duration", "6",
         "--db", str(tmp_path / "n.db"), "--market-data-only"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    messages = _received(sock)
    kinds = [m.split("=", 1)[0] for m in messages]
    ready = kinds.index("READY")
    assert messages[ready].startswith("READY=1\nSTATUS=public ")
    assert "WATCHDOG" in kinds and kinds[-1] == "STOPPING"
