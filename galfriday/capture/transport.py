"""An httpx transport that records each REST request and response on the tape.

It wraps the real transport. Headers are never recorded (they carry ``API-Key`` and
``API-Sign``); bodies are redacted (a ``GetWebSocketsToken`` answer carries the token). The
response is read whole here, so it is recorded the moment it has arrived and the caller carries
on from exactly that point: a replay hands the same body back at the same place.
"""

from __future__ import annotations

import httpx

from galfriday.capture.format import HttpRequest, HttpResponse
from galfriday.capture.tape import Tape, current_op

__all__ = ["CaptureTransport"]


class CaptureTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, tape: Tape) -> None:
        self._inner = inner
        self._tape = tape

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tape = self._tape
        op = current_op()
        op_id = op.id if op else None
        seq = tape.next_http()
        mono, wall = tape.stamp()
        body = tape.clean(request.content.decode("utf-8", "replace"))
        target = request.url.raw_path.decode("ascii", "replace")
        tape.write(HttpRequest(op_id, seq, mono, wall, request.method, target, body))
        try:
            response = await self._inner.handle_async_request(request)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            mono, wall = tape.stamp()
            error = f"{type(exc).__name__}: {exc}"[:300]
            tape.write(HttpResponse(op_id, seq, mono, wall, 0, "", error))
            raise
        mono, wall = tape.stamp()
        text = content.decode("utf-8", "replace")
        tape.write(HttpResponse(op_id, seq, mono, wall, response.status_code, tape.clean(text)))
        return httpx.Response(
            response.status_code,
            headers=[
                (k, v)
                for k, v in response.headers.multi_items()
                if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
            ],
            content=content,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
