"""How a simulator session writes what is queued for its client."""

from __future__ import annotations

from typing import Any, cast

import trio
from trio_websocket import WebSocketConnection

from galfriday.sim.server import SimConfig, Simulator
from galfriday.sim.ws import Session


class _Socket:
    """A WebSocket that takes frames at once (no checkpoint), so only the writer's own
    receives can let another task in between two frames."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def send_message(self, text: str) -> None:
        self.log.append(text)


async def test_frames_queued_together_are_written_in_one_turn_of_the_writer() -> None:
    log: list[str] = []
    sim = Simulator(SimConfig(rate=0.001))
    ws = cast(WebSocketConnection, _Socket(log))
    session = Session(sim, "private", ws, cast(Any, None))
    for n in range(3):
        session.push(f'{{"n":{n}}}'.encode(), data=False)

    async def other_task() -> None:
        while True:  # always runnable: it gets a step between any two of the writer's steps
            log.append("other")
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other_task)
        nursery.start_soon(session._write_all)
        while sum(1 for entry in log if entry != "other") < 3:
            await trio.lowlevel.checkpoint()
        nursery.cancel_scope.cancel()
    frames = [i for i, entry in enumerate(log) if entry != "other"]
    assert frames == list(range(frames[0], frames[0] + 3))


async def test_a_closed_outbox_ends_the_writer_after_what_was_queued() -> None:
    log: list[str] = []
    sim = Simulator(SimConfig(rate=0.001))
    session = Session(sim, "private", cast(WebSocketConnection, _Socket(log)), cast(Any, None))
    for n in range(2):
        session.push(f'{{"n":{n}}}'.encode(), data=False)
    session._send.close()
    with trio.fail_after(5):
        await session._write_all()
    assert log == ['{"n":0}', '{"n":1}']
