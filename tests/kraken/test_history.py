"""Paged REST history and tolerant order queries, against an httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import parse_qs

import httpx

from galfriday.kraken import history
from galfriday.kraken.rest import KrakenRest, RestConfig, _plain

D = Decimal


def _trade(n: int) -> dict[str, object]:
    return {
        "ordertxid": f"O{n}", "pair": "XXBTZUSD", "time": 1_700_000_000 + n, "type": "buy",
        "price": "100.0", "cost": "1.0", "vol": "0.01", "fee": "0.001",
    }  # fmt: skip


def _rest(
    answer: Callable[[str, dict[str, str]], object], asked: list[dict[str, str]]
) -> KrakenRest:
    def handle(request: httpx.Request) -> httpx.Response:
        params = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        params.pop("nonce", None)
        asked.append(params)
        method = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"error": [], "result": answer(method, params)})

    return KrakenRest(
        RestConfig(base_url="https://kraken.test", api_key="key", secret=b"secret",
                   rate_limited=False),
        transport=httpx.MockTransport(handle),
    )  # fmt: skip


def _pages(total: int) -> Callable[[str, dict[str, str]], object]:
    """TradesHistory as Kraken answers it: 50 newest first per call, ``count`` the total."""
    rows = [(f"T{n}", _trade(n)) for n in reversed(range(total))]

    def answer(method: str, params: dict[str, str]) -> object:
        offset = int(params.get("ofs", "0"))
        return {"trades": dict(rows[offset : offset + 50]), "count": total}

    return answer


async def test_every_page_of_a_window_is_read() -> None:
    asked: list[dict[str, str]] = []
    async with _rest(_pages(120), asked) as rest:
        trades = await history.trades_history(rest, start=1_699_999_000.0)
    assert len(trades.rows) == 120 and trades.covered and trades.pages == 3
    assert [a.get("ofs") for a in asked] == [None, "50", "100"]
    assert all(a["consolidate_taker"] == "false" and a["start"] == "1699999000" for a in asked)


async def test_a_window_past_the_page_budget_says_it_was_not_covered() -> None:
    asked: list[dict[str, str]] = []
    async with _rest(_pages(120), asked) as rest:
        trades = await history.trades_history(rest, max_pages=2)
    assert len(trades.rows) == 100 and not trades.covered and len(asked) == 2


async def test_one_unknown_order_does_not_hide_the_others() -> None:
    def answer(method: str, params: dict[str, str]) -> object:
        ids = params["txid"].split(",")
        if "OGONE" in ids:
            return None  # never used: the error below is raised instead
        return {i: {"status": "open", "vol": "1", "vol_exec": "0"} for i in ids}

    def handle(request: httpx.Request) -> httpx.Response:
        params = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if "OGONE" in params["txid"].split(","):
            return httpx.Response(200, json={"error": ["EOrder:Invalid order"]})
        return httpx.Response(200, content=json.dumps({"error": [], "result": answer("", params)}))

    rest = KrakenRest(
        RestConfig(base_url="https://kraken.test", api_key="key", secret=b"secret",
                   rate_limited=False),
        transport=httpx.MockTransport(handle),
    )  # fmt: skip
    async with rest:
        found, unknown = await history.query_orders(rest, ["OA", "OGONE", "OB"])
    assert set(found) == {"OA", "OB"} and unknown == {"OGONE"}


def test_rest_numbers_go_out_in_fixed_point() -> None:
    assert _plain({"volume": D("1.234E-7"), "price": D("65000.10")}) == {
        "volume": "0.0000001234",
        "price": "65000.10",
    }
