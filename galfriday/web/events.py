"""``GET /api/events``: every bus event as Server-Sent Events.

Each event is one SSE message ``event: <TypeName>`` / ``data: <its fields as JSON>``
(:func:`~galfriday.web.jsonio.event_json`), in bus order.

Rules:
- One bus subscription per client, ``drop_oldest`` with :data:`BUFFER` events: a slow client
  loses its oldest events, never slows the engine. What it lost is said in the stream as
  ``event: EventsLost`` / ``data: {"lost": <count so far>}`` before the next event.
- ``?types=FillEvent,OrderUpdate`` keeps those kinds only (an unknown name is a 400);
  ``?symbols=BTC/USD,ETH/USD`` those pairs only (events without a pair pass).
- A comment line (``: keep-alive``) every :data:`KEEPALIVE` seconds without events keeps
  proxies from closing the stream and finds clients that went away.
- The stream ends when the client goes away or the server stops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import trio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from galfriday import events as kinds
from galfriday.bus import Subscription
from galfriday.events import Event
from galfriday.web.jsonio import error, event_json

if TYPE_CHECKING:
    from galfriday.live.engine import Engine

__all__ = [
    "BUFFER", "EVENT_TYPES", "KEEPALIVE", "EventStream", "event_types", "events", "sse_message"
]  # fmt: skip

BUFFER: Final = 4096
KEEPALIVE: Final = 15.0
EVENT_TYPES: Final[dict[str, type[Event]]] = {
    name: kind
    for name in kinds.__all__
    if isinstance(kind := getattr(kinds, name), type) and issubclass(kind, Event)
    and kind is not Event
}  # fmt: skip


def sse_message(event: Event) -> bytes:
    """One event as an SSE message (``event:`` line, ``data:`` line, blank line)."""
    return b"event: " + type(event).__name__.encode() + b"\ndata: " + event_json(event) + b"\n\n"


def event_types(names: str | None) -> tuple[type[Event], ...]:
    """The event classes a ``types=`` parameter names (empty: every event).

    Raises:
        ValueError: a name that is not an event type (the message names it).
    """
    if not names:
        return ()
    chosen = []
    for name in (part.strip() for part in names.split(",")):
        kind = EVENT_TYPES.get(name)
        if kind is None:
            raise ValueError(f"types: {name!r} is not an event type ({', '.join(EVENT_TYPES)})")
        chosen.append(kind)
    return tuple(chosen)


class EventStream(Response):
    """The stream for one client: subscribed while the response runs, unsubscribed when the
    client goes away (``http.disconnect``) or the server stops."""

    media_type = "text/event-stream"

    def __init__(self, engine: Engine, types: tuple[type[Event], ...],
                 symbols: frozenset[str] | None) -> None:  # fmt: skip
        # Not Response.__init__: it would announce an empty body (content-length: 0).
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.engine, self.types, self.symbols = engine, types, symbols

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self.engine.bus.subscribe(*self.types, capacity=BUFFER, symbols=self.symbols)
        async with subscription, trio.open_nursery() as nursery:
            nursery.start_soon(_until_disconnect, receive, nursery.cancel_scope)
            await send({"type": "http.response.start", "status": 200,
                        "headers": self.raw_headers})  # fmt: skip
            await _body(subscription, send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            nursery.cancel_scope.cancel()


async def _until_disconnect(receive: Receive, scope: trio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _body(subscription: Subscription, send: Send) -> None:
    """Send events as they come until the subscription closes (the engine stops)."""
    told = 0
    await _chunk(send, b": galfriday events\n\n")
    while True:
        event: Event | None = None
        with trio.move_on_after(KEEPALIVE):
            try:
                event = await subscription.receive()
            except trio.EndOfChannel:
                return
        if event is None:
            await _chunk(send, b": keep-alive\n\n")
            continue
        if subscription.overruns != told:
            told = subscription.overruns
            await _chunk(send, b'event: EventsLost\ndata: {"lost":%d}\n\n' % told)
        await _chunk(send, sse_message(event))


async def _chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def events(request: Request) -> Response:
    try:
        types = event_types(request.query_params.get("types"))
    except ValueError as exc:
        return error(400, str(exc))
    raw = request.query_params.get("symbols")
    symbols = frozenset(s.strip() for s in raw.split(",")) if raw else None
    return EventStream(request.app.state.engine, types, symbols)
