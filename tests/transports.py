"""An httpx transport for tests: the simulator's own REST answers, except for the private
methods a test chose to answer by hand.

Rules:
- Every request goes to the wrapped transport (by default a real ``httpx.AsyncHTTPTransport``,
  i.e. the simulator on loopback) unless its path is ``/0/private/<Method>`` for a method armed
  with :meth:`GarblingTransport.garble`. Those are answered ``200 {"error": [], "result": answer}``
  without reaching the exchange: the REST client still signs, queues, counts and audits the call.
- Armed ``once``, a method is answered by hand at its next call only, then by the exchange again.
- ``garbled`` lists each method answered by hand, in order; :meth:`restore` disarms them all.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

PRIVATE = "/0/private/"


class GarblingTransport(httpx.AsyncBaseTransport):
    """Forwards to ``inner``; answers the armed private methods with the given ``result``s."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.garbled: list[str] = []
        self._answers: dict[str, object] = {}
        self._once = False

    def garble(self, answers: Mapping[str, object], *, once: bool) -> list[str]:
        """Answer the named private methods with ``answers`` (each only at its next call if
        ``once``) from now on; returns :attr:`garbled`, the methods answered so far."""
        self._answers, self._once = dict(answers), once
        return self.garbled

    def restore(self) -> None:
        """Let the exchange answer every method again."""
        self._answers = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        method = path.removeprefix(PRIVATE) if path.startswith(PRIVATE) else None
        if method is None or method not in self._answers:
            return await self.inner.handle_async_request(request)
        answer = self._answers.pop(method) if self._once else self._answers[method]
        self.garbled.append(method)
        return httpx.Response(200, json={"error": [], "result": answer}, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()
