"""The REST API as a pure object: one request and one instant in, a RestAnswer out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import msgspec

from galfriday.kraken.auth import decode_secret, sign
from galfriday.sim.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimConfig
from galfriday.sim.faults import Fault
from galfriday.sim.httptypes import HttpRequest
from galfriday.sim.rest import RestAnswer, RestApi
from galfriday.sim.venue import Venue

NOW, WALL = 50.0, 1_700_000_000.0


def _api(**hooks: Any) -> RestApi:
    return RestApi(Venue(SimConfig(delisted_trade=False)), WALL, **hooks)


def _private(method: str, nonce: int, **params: str) -> HttpRequest:
    path, body = f"/0/private/{method}", urlencode({"nonce": nonce, **params}).encode()
    secret = decode_secret(DEFAULT_API_SECRET)
    headers = {"api-key": DEFAULT_API_KEY, "api-sign": sign(path, nonce, body, secret)}
    return HttpRequest("POST", path, headers, body)


def _result(answer: RestAnswer) -> Any:
    return msgspec.json.decode(answer.response.body)


def _resting_buy(api: RestApi, nonce: int) -> HttpRequest:
    spec = api.exchange.specs["BTC/USD"]
    best = api.exchange.books["BTC/USD"].best("bids")
    assert best is not None
    price = str(spec.price(best - 300))
    return _private(
        "AddOrder", nonce, pair="XBTUSD", type="buy", ordertype="limit", volume="0.001", price=price
    )


def test_a_placed_order_comes_back_as_a_public_update_to_publish() -> None:
    api = _api()
    answer = api.answer(_resting_buy(api, 1), NOW, WALL)
    [txid] = _result(answer)["result"]["txid"]
    assert len(answer.updates) == 1 and answer.flush and answer.delay == 0.0
    assert api.exchange.account.orders[txid].opened == WALL


def test_a_slow_fault_answers_now_and_says_how_long_to_hold_the_answer() -> None:
    api = _api()
    api.venue.faults.queue_rest(Fault.REST_SLOW, 1, 12.0)
    answer = api.answer(_resting_buy(api, 1), NOW, WALL)
    assert answer.delay == 12.0 and _result(answer)["error"] == []
    assert len(api.exchange.account.open_orders()) == 1  # placed now, answered late


def test_a_5xx_fault_answers_502_and_the_call_never_reaches_the_exchange() -> None:
    api = _api()
    api.venue.faults.queue_rest(Fault.REST_5XX, 1)
    answer = api.answer(_resting_buy(api, 1), NOW, WALL)
    assert answer.response.status == 502 and not answer.flush
    assert api.exchange.account.orders == {}


def test_an_unknown_path_consumes_no_fault() -> None:
    api = _api()
    api.venue.faults.queue_rest(Fault.REST_UNAVAILABLE, 1)
    assert api.answer(HttpRequest("GET", "/nope", {}, b""), NOW, WALL).response.status == 404
    assert api.venue.faults.next_rest_fault() == (Fault.REST_UNAVAILABLE, 0.0)


def test_a_refused_call_is_answered_with_krakens_error_and_flushes_nothing() -> None:
    api = _api()
    api.answer(_private("Balance", 5), NOW, WALL)
    answer = api.answer(_private("Balance", 5), NOW, WALL)
    assert _result(answer)["error"] == ["EAPI:Invalid nonce"] and not answer.flush


def test_tokens_come_from_the_hook_at_the_calls_instant() -> None:
    asked: list[float] = []

    def issue(now: float) -> str:
        asked.append(now)
        return "T0K3N"

    answer = _api(issue_token=issue).answer(_private("GetWebSocketsToken", 1), NOW, WALL)
    assert _result(answer)["result"] == {"token": "T0K3N", "expires": 900}
    assert asked == [NOW]


def test_time_is_the_calls_wall_time() -> None:
    answer = _api().answer(HttpRequest("GET", "/0/public/Time", {}, b""), NOW, WALL)
    assert _result(answer)["result"]["unixtime"] == int(WALL)


def test_drift_by_hand_records_the_fault_and_changes_the_balance() -> None:
    api = _api()
    body = b"asset=USD&amount=250"
    answer = api.answer(HttpRequest("POST", "/sim/drift", {}, body), NOW, WALL)
    assert _result(answer)["result"] == {"drift": "USD 250"}
    assert api.exchange.account.balances["USD"] == Decimal("100250.0000")
    assert [r.at for r in api.venue.faults.injected(Fault.DRIFT_DEPOSIT)] == [WALL]
