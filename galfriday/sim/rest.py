"""Kraken's REST API, simulated (sans-IO): public market data and the private account methods.

Envelope ``{"error": [...], "result": ...}`` with HTTP 200 even for errors, as Kraken does;
numbers as strings; REST names (``XXBT``, ``ZUSD``, ``XXBTZUSD``). Private calls are checked
by the venue's key in Kraken's order (:meth:`~galfriday.sim.venue.Venue.authenticate`):
``API-Key``, ``API-Sign``, the nonce, then the call counter (by default max 20, decaying 0.5 a
second: Kraken's intermediate tier).

:meth:`RestApi.answer` is one call, start to end, at one instant: routing, the next queued
REST fault, authentication, the method. It returns a :class:`RestAnswer`: the response, the
public updates the call caused (the shell publishes them), whether private reports wait to be
flushed, and how long the shell holds the response back (a ``REST_SLOW`` fault: the exchange
answers now, the answer arrives late, so it can be stale). Waiting out a freeze and that delay
are the shell's (:mod:`galfriday.sim.server`); nothing here imports trio or reads a clock.

``AssetPairs`` answers under the name asked for when it is a ``BASE/QUOTE`` name and under
the canonical REST name otherwise; Kraken's docs leave the slash case open, and clients
that index the result by their own v2 name (python-kraken-sdk) need it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import formatdate
from typing import Final
from urllib.parse import parse_qsl, urlsplit

import msgspec
from loguru import logger

from galfriday.kraken.symbols import SymbolMap
from galfriday.sim import rows
from galfriday.sim.account import SimOrder
from galfriday.sim.exchange import OrderRequest, PublicUpdate
from galfriday.sim.faults import Fault
from galfriday.sim.frames import rfc3339
from galfriday.sim.httptypes import HttpRequest, HttpResponse
from galfriday.sim.market import PairSpec
from galfriday.sim.rows import ApiError
from galfriday.sim.venue import Venue

__all__ = ["RestAnswer", "RestApi"]

_ENCODER: Final = msgspec.json.Encoder(decimal_format="string")
_ALTNAMES: Final = {"BTC": "XBT", "DOGE": "XDG"}  # REST altnames that differ from v2 codes
FEE_CREDITS: Final = "KFEE"  # Kraken's fee credits in REST Balance (v2 name: FEE)
_BAD_GATEWAY: Final = HttpResponse(
    502, b"<html>502 Bad Gateway</html>", [("content-type", "text/html")]
)

Params = dict[str, str]


def _ok(result: object) -> HttpResponse:
    return HttpResponse(200, _ENCODER.encode({"error": [], "result": result}))


def _err(code: str) -> HttpResponse:
    return HttpResponse(200, _ENCODER.encode({"error": [code]}))


def _parse_body(request: HttpRequest) -> Params:
    body = request.body.decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body or "{}", parse_float=str, parse_int=str)
        except ValueError as exc:
            raise ApiError("EGeneral:Invalid arguments") from exc
        if not isinstance(data, dict):
            raise ApiError("EGeneral:Invalid arguments")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    return dict(parse_qsl(body, keep_blank_values=True))


def _flag(params: Params, name: str) -> bool:
    return params.get(name) in ("true", "True", "1")


@dataclass
class RestAnswer:
    """One call's outcome, for the shell to deliver (see the module docstring)."""

    response: HttpResponse
    updates: list[PublicUpdate] = field(default_factory=list)
    flush: bool = False  # the call succeeded: send the private reports it caused
    delay: float = 0.0  # seconds to hold the response back


@dataclass
class _Call:
    """The instant a call is answered at, and the public updates it caused."""

    now: float
    wall: float
    updates: list[PublicUpdate] = field(default_factory=list)


_Handler = Callable[[Params, _Call], object]


class RestApi:
    """Routes REST calls to the venue; one instance per simulator.

    Args:
        venue: the exchange it answers for.
        started: the wall time the simulator started (the delisted trade is older).
        issue_token: how GetWebSocketsToken gets a token at a monotonic time (default: from
            the venue; the simulator routes it through its test API so a test can watch).
    """

    def __init__(
        self,
        venue: Venue,
        started: float,
        *,
        issue_token: Callable[[float], str] | None = None,
    ) -> None:
        self.venue = venue
        self.exchange = venue.exchange
        self.symbols = SymbolMap()
        self._issue_token = issue_token or venue.issue_token
        self._delisted: list[tuple[str, dict[str, object], float]] = []
        if venue.config.delisted_trade:
            self._delisted.append(rows.delisted_trade(self.exchange.account.run_tag, started - 1))
        self._public: dict[str, _Handler] = {
            "Time": self._time,
            "SystemStatus": self._system_status,
            "AssetPairs": self._asset_pairs,
            "Assets": self._assets,
            "Depth": self._depth,
        }
        self._private: dict[str, _Handler] = {
            "Balance": self._balance,
            "BalanceEx": self._balance_ex,
            "OpenOrders": self._open_orders,
            "ClosedOrders": self._closed_orders,
            "QueryOrders": self._query_orders,
            "TradesHistory": self._trades_history,
            "Ledgers": self._ledgers,
            "GetWebSocketsToken": self._token,
            "AddOrder": self._add_order,
            "CancelOrder": self._cancel_order,
        }

    def answer(self, request: HttpRequest, now: float, wall: float) -> RestAnswer:
        """Answer one call at ``now`` (monotonic) and ``wall`` (epoch seconds)."""
        call = _Call(now, wall)
        parts = urlsplit(request.target)
        if parts.path == "/sim/drift":
            return RestAnswer(self._drift(request, call), call.updates)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 3 or segments[0] != "0" or segments[1] not in ("public", "private"):
            return RestAnswer(HttpResponse(404, b'{"error":["EGeneral:Unknown method"]}'))
        scope, name = segments[1], segments[2]
        handler = (self._public if scope == "public" else self._private).get(name)
        if handler is None:
            return RestAnswer(_err("EGeneral:Unknown method"))
        delay = 0.0
        fault = self.venue.faults.next_rest_fault()
        if fault is not None:
            kind, seconds = fault
            if kind is Fault.REST_5XX:
                return RestAnswer(_BAD_GATEWAY)
            if kind is Fault.REST_UNAVAILABLE:
                return RestAnswer(_err("EService:Unavailable"))
            if kind is Fault.REST_RATE_LIMIT:
                return RestAnswer(_err("EAPI:Rate limit exceeded"))
            if kind is Fault.REST_SLOW:
                delay = seconds
        try:
            params = self._params(request, parts.query, scope, name, call)
            response = _ok(handler(params, call))
        except ApiError as exc:
            logger.info("refused {} {}: {}", scope, name, exc.code)
            return RestAnswer(_err(exc.code), call.updates, delay=delay)
        return RestAnswer(response, call.updates, flush=True, delay=delay)

    def _params(
        self, request: HttpRequest, query: str, scope: str, name: str, call: _Call
    ) -> Params:
        """The call's parameters; a private call is authenticated (and counted) first."""
        if scope == "public":
            params = dict(parse_qsl(query)) if request.method == "GET" else {}
            if request.method == "POST":
                params.update(_parse_body(request))
            return params
        if request.method != "POST":
            raise ApiError("EGeneral:Invalid arguments")
        params = _parse_body(request)
        error = self.venue.authenticate(
            key=request.headers.get("api-key", ""),
            signature=request.headers.get("api-sign", ""),
            path=urlsplit(request.target).path,
            nonce=params.get("nonce", ""),
            body=request.body,
            method=name,
            now=call.now,
        )
        if error:
            raise ApiError(error)
        return params

    def _drift(self, request: HttpRequest, call: _Call) -> HttpResponse:
        """``POST /sim/drift``: account drift for people trying reconciliation by hand.

        ``asset=USD&amount=250`` moves funds unannounced (``ledger=false``: not even in the
        REST ledger); ``symbol=BTC/USD&side=buy&qty=0.001&price=60000`` places an order from
        "another device". Loopback only, like the simulator itself; not a Kraken endpoint.
        """
        try:
            params = _parse_body(request)
            if "asset" in params:
                asset, amount = params["asset"], Decimal(params["amount"])
                self.venue.drift_funds(
                    asset, amount, call.wall, ledger=params.get("ledger") != "false"
                )
                return _ok({"drift": f"{asset} {amount}"})
            spec = self._spec(params["symbol"])
            qty, price = Decimal(params["qty"]), Decimal(params["price"])
            side = params.get("side", "buy")
            error = self.exchange.check_order(OrderRequest(spec.symbol, side, "limit", qty, price))
            if error:
                return _err(error)
            order, update = self.venue.drift_order(
                spec.symbol, side, qty, price, call.now, call.wall
            )
            call.updates.append(update)
            return _ok({"drift": order.order_id})
        except (KeyError, ArithmeticError, ValueError):
            return _err("EGeneral:Invalid arguments: asset+amount or symbol+side+qty+price")
        except ApiError as exc:
            return _err(exc.code)

    # --- public ----------------------------------------------------------------------------

    def _time(self, params: Params, call: _Call) -> object:
        return {"unixtime": int(call.wall), "rfc1123": formatdate(call.wall, usegmt=True)}

    def _system_status(self, params: Params, call: _Call) -> object:
        return {"status": self.exchange.system, "timestamp": rfc3339(call.wall)}

    def _spec(self, name: str) -> PairSpec:
        for spec in self.exchange.specs.values():
            if name in (spec.symbol, spec.rest_name, spec.altname, spec.v1_name):
                return spec
        raise ApiError("EQuery:Unknown asset pair")

    def _asset_pairs(self, params: Params, call: _Call) -> object:
        if params.get("pair"):
            pairs = [(n, self._spec(n)) for n in params["pair"].split(",")]
        else:
            pairs = [(s.rest_name, s) for s in self.exchange.specs.values()]
        return {
            name if "/" in name else spec.rest_name: rows.pair_info(spec) for name, spec in pairs
        }

    def _assets(self, params: Params, call: _Call) -> object:
        """Every asset of the pairs and the account under its REST code, with its altname (and
        ``KFEE``, Kraken's fee credits, whose v2 name is ``FEE``)."""
        codes: dict[str, str] = {FEE_CREDITS: "FEE"}
        for spec in self.exchange.specs.values():
            for rest, ws in ((spec.rest_base, spec.base), (spec.rest_quote, spec.quote)):
                codes[rest] = _ALTNAMES.get(ws, ws)
        asked = {a for a in params.get("asset", "").split(",") if a}
        return {
            code: {
                "aclass": "currency",
                "altname": altname,
                "decimals": 10 if altname != "USD" else 4,
                "display_decimals": 5 if altname != "USD" else 2,
                "status": "enabled",
            }
            for code, altname in sorted(codes.items())
            if not asked or code in asked or altname in asked
        }

    def _depth(self, params: Params, call: _Call) -> object:
        spec = self._spec(params.get("pair", ""))
        try:
            count = min(max(int(params.get("count", "100")), 1), 500)
        except ValueError as exc:
            raise ApiError("EGeneral:Invalid arguments:count") from exc
        book = self.exchange.books[spec.symbol]
        stamp = int(call.wall)

        def side(name: str) -> list[list[object]]:
            return [[str(spec.price(p)), str(spec.qty(q)), stamp] for p, q in book.top(name, count)]

        return {spec.rest_name: {"asks": side("asks"), "bids": side("bids")}}

    # --- private: balances and history -----------------------------------------------------

    def _balance(self, params: Params, call: _Call) -> object:
        """Spot balances under their REST codes, earn holdings apart under suffixed ones
        (``XBT.F``, ``ETH.F``: the altname and the auto-earn suffix), as Kraken lists them."""
        account = self.exchange.account
        answer = {self.symbols.rest_asset(a): str(v) for a, v in account.balances.items()}
        for asset, amount in account.earn.items():
            answer[_ALTNAMES.get(asset, asset) + ".F"] = str(amount)
        if self.venue.config.fee_credits:
            answer[FEE_CREDITS] = str(self.venue.config.fee_credits)
        return answer

    def _balance_ex(self, params: Params, call: _Call) -> object:
        account, specs = self.exchange.account, self.exchange.specs
        return {
            self.symbols.rest_asset(asset): {
                "balance": str(amount),
                "hold_trade": format(
                    account.hold(asset, specs).quantize(Decimal("1e-10")).normalize(), "f"
                ),  # normalize() alone writes 10 as 1E+1, which Kraken never does
            }
            for asset, amount in account.balances.items()
        }

    def _infos(self, orders: Iterable[SimOrder], params: Params) -> dict[str, object]:
        """``orders`` by id as the order queries list them (with ``trades`` if asked)."""
        trades, together = _flag(params, "trades"), rows.consolidated(params)
        return {o.order_id: rows.order_info(self.exchange, o, trades, together) for o in orders}

    def _open_orders(self, params: Params, call: _Call) -> object:
        orders = self.exchange.account.open_orders()
        return {"open": self._infos([o for o in orders if rows.wanted(o, params)], params)}

    def _closed_orders(self, params: Params, call: _Call) -> object:
        inside = rows.window(params)
        closed = [o for o in self.exchange.account.orders.values() if not o.is_open]
        closed.sort(key=lambda o: o.closed or 0.0, reverse=True)
        closed = [o for o in closed if inside(o.closed or 0.0) and rows.wanted(o, params)]
        page = closed[rows.offset(params) : rows.offset(params) + rows.PAGE]
        return {"closed": self._infos(page, params), "count": len(closed)}

    def _query_orders(self, params: Params, call: _Call) -> object:
        ids = [t for t in params.get("txid", "").split(",") if t]
        if not ids or len(ids) > rows.PAGE:
            raise ApiError("EGeneral:Invalid arguments:txid")
        orders = self.exchange.account.orders
        if any(order_id not in orders for order_id in ids):
            raise ApiError("EOrder:Invalid order")
        return self._infos([orders[order_id] for order_id in ids], params)

    def _trades_history(self, params: Params, call: _Call) -> object:
        inside = rows.window(params)
        fills = [f for f in self.exchange.account.fills if inside(f.time)]
        found: list[tuple[str, dict[str, object]]] = [
            (trade_id, rows.trade_row(self.exchange, f))
            for trade_id, f in rows.trade_rows(fills, rows.consolidated(params))
        ]
        found[:0] = [(t, row) for t, row, at in self._delisted if inside(at)]
        found.reverse()  # newest first
        page = found[rows.offset(params) : rows.offset(params) + rows.PAGE]
        return {"trades": dict(page), "count": len(found)}

    def _ledgers(self, params: Params, call: _Call) -> object:
        rest_asset = self.symbols.rest_asset
        assets = {a for a in params.get("asset", "").split(",") if a and a != "all"}
        inside = rows.window(params)
        entries = [
            e
            for e in reversed(self.exchange.account.ledger)
            if inside(e.time) and (not assets or rest_asset(e.asset) in assets or e.asset in assets)
        ]
        page = entries[rows.offset(params) : rows.offset(params) + rows.PAGE]
        ledger = {e.ledger_id: rows.ledger_row(e, rest_asset) for e in page}
        return {"ledger": ledger, "count": len(entries)}

    # --- private: trading ------------------------------------------------------------------

    def _token(self, params: Params, call: _Call) -> object:
        return {"token": self._issue_token(call.now), "expires": int(self.venue.config.token_ttl)}

    def _add_order(self, params: Params, call: _Call) -> object:
        spec = self._spec(params.get("pair", ""))
        qty = rows.number(params, "volume")
        price = rows.number(params, "price")
        if qty is None:
            raise ApiError("EGeneral:Invalid arguments:volume")
        try:
            userref = int(params["userref"]) if params.get("userref") else None
        except ValueError as exc:
            raise ApiError("EGeneral:Invalid arguments") from exc
        request = OrderRequest(
            symbol=spec.symbol,
            side=params.get("type", ""),
            order_type=params.get("ordertype", ""),
            qty=qty,
            limit_price=price,
            cl_ord_id=params.get("cl_ord_id") or None,
            order_userref=userref,
            time_in_force=params.get("timeinforce", "GTC"),
            post_only="post" in params.get("oflags", ""),
        )
        error = self.exchange.check_order(request)
        if error:
            raise ApiError(error)
        description = f"{request.side} {qty} {spec.altname} @ {request.order_type}"
        if price is not None:
            description += f" {price}"
        if _flag(params, "validate"):
            return {"descr": {"order": description}}
        order, update = self.venue.place_order(request, call.now, call.wall)
        call.updates.append(update)
        return {"descr": {"order": description}, "txid": [order.order_id]}

    def _cancel_order(self, params: Params, call: _Call) -> object:
        key = params.get("txid", "")
        exchange = self.exchange
        ids = [key] if key in exchange.account.orders else []
        if not ids:
            refs = [int(key)] if key.isdigit() else []
            ids = [i for i in exchange.find_orders([], [] if refs else [key], refs) if i]
        count = 0
        for order_id in ids:
            update = self.venue.cancel_order(order_id, call.wall)
            if update is not None:
                call.updates.append(update)
                count += 1
        if not count:
            raise ApiError("EOrder:Invalid order")
        return {"count": count}
