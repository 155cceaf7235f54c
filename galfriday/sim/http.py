"""A small HTTP/1.1 server on trio and h11, enough for Kraken's REST API.

One task per connection, keep-alive, request bodies up to :data:`MAX_BODY` bytes. A request
that h11 cannot parse, or one that is too large, gets a 400/413 and the connection is closed;
other connections never notice. The handler is an async function from :class:`HttpRequest` to
:class:`HttpResponse`; an exception escaping it becomes a 500 and is logged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Final

import h11
import trio
from loguru import logger

from galfriday.sim.httptypes import HttpRequest, HttpResponse

__all__ = ["MAX_BODY", "HttpRequest", "HttpResponse", "serve_http"]

MAX_BODY: Final = 1 << 20
_READ: Final = 65536
_IDLE_TIMEOUT: Final = 120.0


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def _send(stream: trio.SocketStream, conn: h11.Connection, response: HttpResponse) -> None:
    headers = [*response.headers, ("content-length", str(len(response.body)))]
    data = conn.send(h11.Response(status_code=response.status, headers=headers))
    data += conn.send(h11.Data(data=response.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data or b"")


async def _next_event(stream: trio.SocketStream, conn: h11.Connection) -> object:
    """The next h11 event; an idle or closed peer reads as end of data."""
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = b""
        with trio.move_on_after(_IDLE_TIMEOUT):
            data = await stream.receive_some(_READ)
        conn.receive_data(data)


async def _serve_connection(stream: trio.SocketStream, handler: Handler) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    try:
        while True:
            event = await _next_event(stream, conn)
            if not isinstance(event, h11.Request):
                return
            body = b""
            while True:
                part = await _next_event(stream, conn)
                if isinstance(part, h11.Data):
                    body += part.data
                    if len(body) > MAX_BODY:
                        too_large = b'{"error":["EGeneral:Request too large"]}'
                        await _send(stream, conn, HttpResponse(413, too_large))
                        return
                elif isinstance(part, h11.EndOfMessage):
                    break
                else:
                    return
            request = HttpRequest(
                method=event.method.decode("ascii", "replace"),
                target=event.target.decode("ascii", "replace"),
                headers={k.decode().lower(): v.decode("latin-1") for k, v in event.headers},
                body=body,
            )
            try:
                response = await handler(request)
            except Exception:
                logger.exception("sim REST handler failed")
                response = HttpResponse(500, b'{"error":["EGeneral:Internal error"]}')
            await _send(stream, conn, response)
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except h11.RemoteProtocolError as exc:
        logger.bind(peer=str(stream.socket.getpeername())).info("bad HTTP request: {}", exc)
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(h11.LocalProtocolError, trio.BrokenResourceError):
                await _send(stream, conn, HttpResponse(400, b'{"error":["EGeneral:Bad request"]}'))
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
        pass
    finally:
        with trio.move_on_after(1) as scope:
            scope.shield = True
            await stream.aclose()


async def serve_http(
    handler: Handler,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler`` on ``host:port`` (0 picks a free port) until cancelled.

    Reports the bound port through ``task_status``.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]

    async def on_stream(stream: trio.SocketStream) -> None:
        await _serve_connection(stream, handler)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, on_stream, listeners)
        task_status.started(bound)
