"""The private stream's tokens, with REST answered by an httpx.MockTransport (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import msgspec

from galfriday.bus import Bus
from galfriday.core.health import ConnectionMetrics
from galfriday.events import ConnectionState
from galfriday.kraken.rest import KrakenRest, RestConfig
from galfriday.live.connection import Frame
from galfriday.live.private import PrivateConfig, PrivateStream
from galfriday.live.recorder import Recorder


class RecordingLink:
    """A socket that keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        self._req_id = 0

    def next_req_id(self) -> int:
        self._req_id += 1
        return self._req_id

    async def send(self, frame: bytes | str) -> None:
        self.sent.append(json.loads(frame))

    def set_state(self, state: ConnectionState, reason: str = "") -> None:
        pass

    def subscribes(self) -> list[tuple[str, str, int]]:
        """(channel, token, req_id) of every subscribe sent."""
        return [
            (m["params"]["channel"], m["params"]["token"], m["req_id"])  # type: ignore[index]
            for m in self.sent
            if m["method"] == "subscribe"
        ]


def _tokens() -> Iterator[str]:
    number = 0
    while True:
        number += 1
        yield f"token-{number}"


def _stream(
    config: PrivateConfig | None = None, audit: Callable[..., None] = lambda row: None
) -> PrivateStream:
    tokens = _tokens()

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/0/private/GetWebSocketsToken"
        return httpx.Response(
            200, json={"error": [], "result": {"token": next(tokens), "expires": 900}}
        )

    rest = KrakenRest(
        RestConfig(base_url="https://kraken.test", api_key="key", secret=b"secret"),
        transport=httpx.MockTransport(answer),
    )
    sink = Recorder(Bus(), audit)
    return PrivateStream(config or PrivateConfig(), sink, ConnectionMetrics("private", 0.0), rest)


def _refuse(stream: PrivateStream, req_id: int, error: str) -> list[str]:
    """A refused subscribe arrives; the channels the stream would subscribe again."""
    text = msgspec.json.encode(
        {"method": "subscribe", "success": False, "error": error, "req_id": req_id}
    ).decode()
    return stream.handle(Frame(text, 0.0, 0.0, "private")).resubscribe


async def test_the_connect_uses_the_token_prepared_before_the_socket_opened() -> None:
    stream, link = _stream(), RecordingLink()
    await stream.prepare()
    await stream.on_connect(link)
    assert [(c, t) for c, t, _ in link.subscribes()] == [
        ("executions", "token-1"),
        ("balances", "token-1"),
    ]


async def test_a_subscribe_refused_for_its_token_is_sent_again_with_a_fresh_one() -> None:
    stream, link = _stream(), RecordingLink()
    await stream.prepare()
    await stream.on_connect(link)
    executions = link.subscribes()[0][2]
    await stream.resubscribe(_refuse(stream, executions, "EAPI:Invalid token"))
    assert link.subscribes()[-1][:2] == ("executions", "token-2")
    assert stream.token == "token-2"


async def test_a_subscribe_refused_for_another_reason_is_not_retried() -> None:
    stream, link = _stream(), RecordingLink()
    await stream.prepare()
    await stream.on_connect(link)
    await stream.resubscribe(_refuse(stream, link.subscribes()[0][2], "Already subscribed"))
    assert len(link.subscribes()) == 2


async def test_refusals_past_the_limit_rebuild_the_connection() -> None:
    stream, link = _stream(PrivateConfig(resubscribe_attempts=2)), RecordingLink()
    reasons: list[str] = []
    stream.request_reconnect = reasons.append
    await stream.prepare()
    await stream.on_connect(link)
    for _ in range(3):
        await stream.resubscribe(
            _refuse(stream, link.subscribes()[-1][2], "ESession:Invalid session")
        )
    assert len(link.subscribes()) == 4  # the connect's two, then two retries
    assert reasons == ["private subscribe refused 2 times"]


def test_a_frame_that_breaks_the_processor_is_counted_and_skipped() -> None:
    audited: list[str] = []
    stream = _stream(audit=lambda row: audited.append(row.__table__))

    def broken(*args: object) -> None:
        raise ArithmeticError("a bug of ours")

    stream.machine._balances = broken  # type: ignore[method-assign]
    update = (
        '{"channel":"balances","type":"snapshot","sequence":1,'
        '"data":[{"asset":"USD","balance":"1"}]}'
    )
    assert stream.process(Frame(update, 0.0, 0.0, "private")) is None
    assert stream.machine.failed_frames == 1 and audited == ["decode_errors"]
