"""Waiting on an engine in tests: on its events, never on a sleep."""

from __future__ import annotations

from collections.abc import Callable

import trio

import galfriday


async def until(engine: galfriday.Engine, check: Callable[[], object], seconds: float) -> None:
    """Wait (``seconds`` at most) until ``check()`` holds, looking again after each event."""
    with trio.fail_after(seconds):
        async with engine.subscribe() as events:
            if check():
                return
            async for _ in events:
                if check():
                    return
