"""Stop signals for the long-running commands (``run``, ``reconcile``, ``sim``).

From the parsed arguments on, a Ctrl-C or SIGTERM is remembered (:func:`held_stop_signals`),
never a KeyboardInterrupt in the middle of start-up, and handed to the command's trio
receiver (:func:`stop_signals`) as soon as it opens. In a terminal shared with a launcher
(``just``) the command takes a process group of its own (:func:`foreground_group_of_our_own`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from typing import Final

__all__ = ["STOP_SIGNALS", "foreground_group_of_our_own", "held_stop_signals", "stop_signals"]

STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)

_held: list[int] = []  # stop signals that arrived while held, oldest first


def _remember(signum: int, frame: object) -> None:
    _held.append(signum)


@contextmanager
def held_stop_signals(active: bool) -> Iterator[None]:
    """While a long-running command starts, a Ctrl-C or SIGTERM is remembered, not acted on.

    Python's own handling would raise KeyboardInterrupt at whatever line runs (a traceback, or
    inside trio an ExceptionGroup and exit 1) and SIGTERM would kill the process before the
    database is closed. :func:`stop_signals` delivers what was held. With a handler of ours
    on SIGINT, trio does not turn Ctrl-C into KeyboardInterrupt either.
    """
    if not active:
        yield
        return
    previous = {signum: signal.signal(signum, _remember) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _held.clear()


@contextmanager
def stop_signals() -> Iterator[AsyncIterator[int]]:
    """Ctrl-C and SIGTERM as a trio signal receiver; those that came during start-up first.

    For the long-running commands: open it before anything that takes time, in trio. Signals
    that arrive after it closes are held again until the command returns.
    """
    import trio

    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        for signum in _held:
            signal.raise_signal(signum)  # now the receiver's
        _held.clear()
        yield signals


@contextmanager
def foreground_group_of_our_own(active: bool) -> Iterator[None]:
    """In a terminal, take a process group of our own when a launcher shares ours.

    ``just`` (like make) runs a recipe's command in just's own process group; the terminal
    sends Ctrl-C to that whole group, and just then ends with ``error: interrupted by SIGINT``
    and exit 130 however cleanly galfriday stopped. In its own foreground group galfriday
    alone gets the Ctrl-C, and just sees exit 0. Ctrl-Z is ignored meanwhile (a stopped
    galfriday in a group no shell knows of would hold the terminal). At the end the terminal
    and galfriday go back to the launcher's group. Nothing changes without a terminal or when
    galfriday already leads its group (started by an interactive shell).
    """
    tty = 0  # stdin
    try:
        launcher = os.getpgrp()
        takes_over = (
            active and os.isatty(tty) and os.tcgetpgrp(tty) == launcher and launcher != os.getpid()
        )
    except OSError:
        takes_over = False
    if not takes_over:
        yield
        return
    stop_key = signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    os.setpgid(0, 0)
    _give_terminal(tty, os.getpgrp())
    try:
        yield
    finally:
        _give_terminal(tty, launcher)
        with suppress(OSError):  # the launcher is gone: our own group is as good
            os.setpgid(0, launcher)
        signal.signal(signal.SIGTSTP, stop_key)


def _give_terminal(tty: int, group: int) -> None:
    # A process outside the foreground group gets SIGTTOU (stopped) for tcsetpgrp unless
    # it ignores it, as shells do.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with suppress(OSError):  # the terminal went away
            os.tcsetpgrp(tty, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)
