"""Kraken's REST API, simulated: public market data and the private account methods.

Envelope ``{"error": [...], "result": ...}`` with HTTP 200 even for errors, as Kraken does;
numbers as strings; REST names (``XXBT``, ``ZUSD``, ``XXBTZUSD``). Private calls are checked
in Kraken's order: ``API-Key`` (``EAPI:Invalid key``), ``API-Sign`` (``EAPI:Invalid
signature``), a nonce above the last one of the key (``EAPI:Invalid nonce``), then the key's
call counter (``EAPI:Rate limit exceeded``; by default max 20, decaying 0.5 a second: Kraken's
intermediate tier; ledger and trade history queries cost 2 and so does ``ClosedOrders`` (the
stricter reading), AddOrder and CancelOrder are outside it).

``AssetPairs`` answers under the name asked for when it is a ``BASE/QUOTE`` name and under
the canonical REST name otherwise; PROTOCOL.md leaves the slash case unverified, and clients
that index the result by their own v2 name (python-kraken-sdk) need it.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from email.utils import formatdate
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, urlsplit

import msgspec
import trio
from loguru import logger

from galfriday.kraken.auth import sign
from galfriday.sim.account import SimFill, SimOrder
from galfriday.sim.exchange import OrderRequest
from galfriday.sim.faults import Fault
from galfriday.sim.frames import rfc3339
from galfriday.sim.http import HttpRequest, HttpResponse
from galfriday.sim.market import PairSpec

if TYPE_CHECKING:
    from galfriday.sim.server import Simulator

__all__ = ["RestApi"]

PAGE: Final = 50
EXPENSIVE: Final = frozenset({"Ledgers", "TradesHistory", "ClosedOrders", "QueryTrades"})
UNCOUNTED: Final = frozenset({"AddOrder", "CancelOrder"})
_ENCODER: Final = msgspec.json.Encoder(decimal_format="string")
_ALTNAMES: Final = {"BTC": "XBT", "DOGE": "XDG"}  # REST altnames that differ from v2 codes
FEE_CREDITS: Final = "KFEE"  # Kraken's fee credits in REST Balance (v2 name: FEE)

Params = dict[str, str]


class ApiError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


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


class RestApi:
    """Routes REST calls to the simulator; one instance per simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._last_nonce: dict[str, int] = {}
        # A trade of a pair Kraken has since delisted (AssetPairs no longer knows it): the
        # oldest row of the account's history, as on a real account.
        self._delisted: list[tuple[str, dict[str, object], float]] = []
        if sim.config.delisted_trade:
            at = sim.wall() - 1.0
            self._delisted.append((f"TDLIST-{sim.exchange.account.run_tag}-LUNA00", {
                "ordertxid": "ODLIST-LUNA0-000000", "postxid": "P0", "pair": "LUNAUSD",
                "time": at, "type": "buy", "ordertype": "market", "price": "0.5000",
                "cost": "5.00000", "fee": "0.02000", "vol": "10.00000000", "margin": "0",
                "misc": "", "trade_id": 1, "maker": False,
            }, at))  # fmt: skip
        self._counter = 0.0
        self._counter_at = 0.0
        self._public: dict[str, Callable[[Params], object]] = {
            "Time": self._time,
            "SystemStatus": self._system_status,
            "AssetPairs": self._asset_pairs,
            "Assets": self._assets,
            "Depth": self._depth,
        }
        self._private: dict[str, Callable[[Params], object]] = {
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

    async def handle(self, request: HttpRequest) -> HttpResponse:
        await self.sim.thawed()
        parts = urlsplit(request.target)
        if parts.path == "/sim/drift":
            return self._drift(request)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 3 or segments[0] != "0" or segments[1] not in ("public", "private"):
            return HttpResponse(404, b'{"error":["EGeneral:Unknown method"]}')
        scope, name = segments[1], segments[2]
        table = self._public if scope == "public" else self._private
        handler = table.get(name)
        if handler is None:
            return _err("EGeneral:Unknown method")
        fault = self.sim.faults.next_rest_fault()
        if fault is not None:
            kind, seconds = fault
            if kind is Fault.REST_5XX:
                return HttpResponse(
                    502, b"<html>502 Bad Gateway</html>", [("content-type", "text/html")]
                )
            if kind is Fault.REST_SLOW:
                # The exchange answers now; the answer arrives late (so it can be stale).
                response = self._answer(request, parts.query, scope, name, handler)
                await trio.sleep(seconds)
                return response
            if kind is Fault.REST_UNAVAILABLE:
                return _err("EService:Unavailable")
            if kind is Fault.REST_RATE_LIMIT:
                return _err("EAPI:Rate limit exceeded")
        return self._answer(request, parts.query, scope, name, handler)

    def _answer(
        self,
        request: HttpRequest,
        query: str,
        scope: str,
        name: str,
        handler: Callable[[Params], object],
    ) -> HttpResponse:
        try:
            if scope == "public":
                params = dict(parse_qsl(query)) if request.method == "GET" else {}
                if request.method == "POST":
                    params.update(_parse_body(request))
            else:
                if request.method != "POST":
                    return _err("EGeneral:Invalid arguments")
                params = _parse_body(request)
                self._authenticate(request, params, name)
            result = handler(params)
            self.sim.flush_private()
            return _ok(result)
        except ApiError as exc:
            logger.info("refused {} {}: {}", scope, name, exc.code)
            return _err(exc.code)

    def _drift(self, request: HttpRequest) -> HttpResponse:
        """``POST /sim/drift``: account drift for people trying reconciliation by hand.

        ``asset=USD&amount=250`` moves funds unannounced (``ledger=false``: not even in the
        REST ledger); ``symbol=BTC/USD&side=buy&qty=0.001&price=60000`` places an order from
        "another device". Loopback only, like the simulator itself; not a Kraken endpoint.
        """
        try:
            params = _parse_body(request)
            if "asset" in params:
                amount = Decimal(params["amount"])
                self.sim.drift_funds(params["asset"], amount, params.get("ledger") != "false")
                return _ok({"drift": f"{params['asset']} {amount}"})
            spec = self._spec(params["symbol"])
            qty, price = Decimal(params["qty"]), Decimal(params["price"])
            request_ = OrderRequest(spec.symbol, params.get("side", "buy"), "limit", qty, price)
            error = self.sim.exchange.check_order(request_)
            if error:
                return _err(error)
            order = self.sim.drift_order(spec.symbol, request_.side, qty, price)
            return _ok({"drift": order.order_id})
        except (KeyError, ArithmeticError, ValueError):
            return _err("EGeneral:Invalid arguments: asset+amount or symbol+side+qty+price")
        except ApiError as exc:
            return _err(exc.code)

    # --- auth ------------------------------------------------------------------------------

    def _authenticate(self, request: HttpRequest, params: Params, name: str) -> None:
        config = self.sim.config
        key = request.headers.get("api-key", "")
        if not hmac.compare_digest(key.encode(), config.api_key.encode()):
            raise ApiError("EAPI:Invalid key")
        nonce_text = params.get("nonce", "")
        try:
            nonce = int(nonce_text)
        except ValueError as exc:
            raise ApiError("EAPI:Invalid nonce") from exc
        expected = sign(urlsplit(request.target).path, nonce_text, request.body, self.sim.secret)
        if not hmac.compare_digest(request.headers.get("api-sign", "").encode(), expected.encode()):
            raise ApiError("EAPI:Invalid signature")
        if nonce <= self._last_nonce.get(key, 0):
            raise ApiError("EAPI:Invalid nonce")
        self._last_nonce[key] = nonce
        if name in UNCOUNTED:
            return
        now = trio.current_time()
        maximum, decay = self.sim.config.rest_counter
        self._counter = max(0.0, self._counter - (now - self._counter_at) * decay)
        self._counter_at = now
        cost = 2.0 if name in EXPENSIVE else 1.0
        if self._counter + cost > maximum:
            raise ApiError("EAPI:Rate limit exceeded")
        self._counter += cost

    def set_counter(self, value: float) -> None:
        """Set the key's call counter to ``value`` now (as an earlier client left it)."""
        self._counter, self._counter_at = value, trio.current_time()

    # --- public ----------------------------------------------------------------------------

    def _time(self, params: Params) -> object:
        wall = self.sim.wall()
        return {"unixtime": int(wall), "rfc1123": formatdate(wall, usegmt=True)}

    def _system_status(self, params: Params) -> object:
        return {"status": self.sim.exchange.system, "timestamp": rfc3339(self.sim.wall())}

    def _spec(self, name: str) -> PairSpec:
        for spec in self.sim.exchange.specs.values():
            if name in (spec.symbol, spec.rest_name, spec.altname, spec.v1_name):
                return spec
        raise ApiError("EQuery:Unknown asset pair")

    def _asset_pairs(self, params: Params) -> object:
        specs = self.sim.exchange.specs
        if params.get("pair"):
            wanted = [(n, self._spec(n)) for n in params["pair"].split(",")]
        else:
            wanted = [(s.rest_name, s) for s in specs.values()]
        return {name if "/" in name else spec.rest_name: _pair_info(spec) for name, spec in wanted}

    def _assets(self, params: Params) -> object:
        """Every asset of the pairs and the account under its REST code, with its altname (and
        ``KFEE``, Kraken's fee credits, whose v2 name is ``FEE``)."""
        codes: dict[str, str] = {FEE_CREDITS: "FEE"}
        for spec in self.sim.exchange.specs.values():
            for rest, ws in ((spec.rest_base, spec.base), (spec.rest_quote, spec.quote)):
                codes[rest] = _ALTNAMES.get(ws, ws)
        wanted = {a for a in params.get("asset", "").split(",") if a}
        return {
            code: {
                "aclass": "currency",
                "altname": altname,
                "decimals": 10 if altname != "USD" else 4,
                "display_decimals": 5 if altname != "USD" else 2,
                "status": "enabled",
            }
            for code, altname in sorted(codes.items())
            if not wanted or code in wanted or altname in wanted
        }

    def _depth(self, params: Params) -> object:
        spec = self._spec(params.get("pair", ""))
        try:
            count = min(max(int(params.get("count", "100")), 1), 500)
        except ValueError as exc:
            raise ApiError("EGeneral:Invalid arguments:count") from exc
        book = self.sim.exchange.books[spec.symbol]
        stamp = int(self.sim.wall())

        def side(name: str) -> list[list[object]]:
            return [[str(spec.price(p)), str(spec.qty(q)), stamp] for p, q in book.top(name, count)]

        return {spec.rest_name: {"asks": side("asks"), "bids": side("bids")}}

    # --- private ---------------------------------------------------------------------------

    def _rest_asset(self, asset: str) -> str:
        return self.sim.symbols.rest_asset(asset)

    def _balance(self, params: Params) -> object:
        """Spot balances under their REST codes, earn holdings apart under suffixed ones
        (``XBT.F``, ``ETH.F``: the altname and the auto-earn suffix), as Kraken lists them."""
        account = self.sim.exchange.account
        answer = {self._rest_asset(a): str(v) for a, v in account.balances.items()}
        for asset, amount in account.earn.items():
            answer[_ALTNAMES.get(asset, asset) + ".F"] = str(amount)
        if self.sim.config.fee_credits:
            answer[FEE_CREDITS] = str(self.sim.config.fee_credits)
        return answer

    def _balance_ex(self, params: Params) -> object:
        account, specs = self.sim.exchange.account, self.sim.exchange.specs
        return {
            self._rest_asset(asset): {
                "balance": str(amount),
                "hold_trade": str(
                    account.hold(asset, specs).quantize(Decimal("1e-10")).normalize()
                ),
            }
            for asset, amount in account.balances.items()
        }

    def _order_info(
        self, order: SimOrder, with_trades: bool, consolidate: bool = True
    ) -> dict[str, object]:
        spec = self.sim.exchange.specs[order.symbol]
        price = order.limit_price if order.limit_price is not None else Decimal(0)
        status = {
            "pending_new": "pending",
            "new": "open",
            "partially_filled": "open",
            "filled": "closed",
        }.get(order.status, order.status)
        info: dict[str, object] = {
            "refid": None,
            "userref": order.order_userref or 0,
            "status": status,
            "opentm": order.opened,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": spec.altname,
                "type": order.side,
                "ordertype": order.order_type,
                "price": str(price),
                "price2": "0",
                "leverage": "none",
                "order": f"{order.side} {order.qty} {spec.altname} @ {order.order_type} {price}",
                "close": "",
            },
            "vol": str(order.qty),
            "vol_exec": str(order.cum_qty),
            "cost": str(order.cum_cost),
            "fee": str(order.fee),
            "price": str(order.avg_price),
            "stopprice": "0",
            "limitprice": "0",
            "misc": "",
            "oflags": "fciq",
        }
        if order.cl_ord_id:
            info["cl_ord_id"] = order.cl_ord_id
        if order.closed is not None:
            info["closetm"] = order.closed
            info["reason"] = order.reason
        if with_trades:
            fills = self.sim.exchange.fills_of(order.order_id)
            info["trades"] = [t for t, _ in _trade_rows(fills, consolidate)]
        return info

    def _open_orders(self, params: Params) -> object:
        trades = params.get("trades") in ("true", "True", "1")
        orders = [o for o in self.sim.exchange.account.open_orders() if _wanted(o, params)]
        together = _consolidated(params)
        return {"open": {o.order_id: self._order_info(o, trades, together) for o in orders}}

    def _closed_orders(self, params: Params) -> object:
        trades = params.get("trades") in ("true", "True", "1")
        closed = [o for o in self.sim.exchange.account.orders.values() if not o.is_open]
        closed.sort(key=lambda o: o.closed or 0.0, reverse=True)
        closed = [o for o in closed if _in_window(o.closed or 0.0, params) and _wanted(o, params)]
        page = closed[_offset(params) : _offset(params) + PAGE]
        together = _consolidated(params)
        return {
            "closed": {o.order_id: self._order_info(o, trades, together) for o in page},
            "count": len(closed),
        }

    def _query_orders(self, params: Params) -> object:
        ids = [t for t in params.get("txid", "").split(",") if t]
        if not ids or len(ids) > PAGE:
            raise ApiError("EGeneral:Invalid arguments:txid")
        orders = self.sim.exchange.account.orders
        trades = params.get("trades") in ("true", "True", "1")
        out = {}
        for order_id in ids:
            if order_id not in orders:
                raise ApiError("EOrder:Invalid order")
            out[order_id] = self._order_info(orders[order_id], trades, _consolidated(params))
        return out

    def _trades_history(self, params: Params) -> object:
        exchange = self.sim.exchange
        fills = [f for f in exchange.account.fills if _in_window(f.time, params)]
        rows: list[tuple[str, dict[str, object]]] = [
            (trade_id, self._trade_row(f))
            for trade_id, f in _trade_rows(fills, _consolidated(params))
        ]
        rows[:0] = [(t, row) for t, row, at in self._delisted if _in_window(at, params)]
        rows.reverse()  # newest first
        page = rows[_offset(params) : _offset(params) + PAGE]
        return {"trades": dict(page), "count": len(rows)}

    def _trade_row(self, fill: SimFill) -> dict[str, object]:
        exchange = self.sim.exchange
        return {
            "ordertxid": fill.order_id,
            "postxid": f"P{fill.trade_id}",
            "pair": exchange.specs[fill.symbol].rest_name,
            "time": fill.time,
            "type": fill.side,
            "ordertype": exchange.account.orders[fill.order_id].order_type,
            "price": str(fill.price),
            "cost": str(fill.cost),
            "fee": str(fill.fee),
            "vol": str(fill.qty),
            "margin": "0",
            "misc": "",
            "trade_id": fill.trade_id,
            "maker": fill.liquidity == "m",
        }

    def _ledgers(self, params: Params) -> object:
        wanted = {a for a in params.get("asset", "").split(",") if a and a != "all"}
        entries = [
            e
            for e in reversed(self.sim.exchange.account.ledger)
            if _in_window(e.time, params)
            and (not wanted or self._rest_asset(e.asset) in wanted or e.asset in wanted)
        ]
        page = entries[_offset(params) : _offset(params) + PAGE]
        ledger = {
            e.ledger_id: {
                "refid": e.ref_id,
                "time": e.time,
                "type": e.type,
                "subtype": "",
                "aclass": "currency",
                "asset": self._rest_asset(e.asset),
                "amount": str(e.amount),
                "fee": str(e.fee),
                "balance": str(e.balance),
            }
            for e in page
        }
        return {"ledger": ledger, "count": len(entries)}

    def _token(self, params: Params) -> object:
        return {"token": self.sim.issue_token(), "expires": int(self.sim.config.token_ttl)}

    def _add_order(self, params: Params) -> object:
        spec = self._spec(params.get("pair", ""))
        try:
            qty = Decimal(params.get("volume", ""))
            price = Decimal(params["price"]) if params.get("price") else None
            userref = int(params["userref"]) if params.get("userref") else None
        except (ArithmeticError, ValueError) as exc:
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
        error = self.sim.exchange.check_order(request)
        if error:
            raise ApiError(error)
        description = f"{request.side} {qty} {spec.altname} @ {request.order_type}"
        if price is not None:
            description += f" {price}"
        if params.get("validate") in ("true", "True", "1"):
            return {"descr": {"order": description}}
        order = self.sim.place_order(request)
        return {"descr": {"order": description}, "txid": [order.order_id]}

    def _cancel_order(self, params: Params) -> object:
        key = params.get("txid", "")
        exchange = self.sim.exchange
        ids = [key] if key in exchange.account.orders else []
        if not ids:
            refs = [int(key)] if key.isdigit() else []
            ids = [i for i in exchange.find_orders([], [] if refs else [key], refs) if i]
        count = sum(1 for order_id in ids if self.sim.cancel_order(order_id))
        if not count:
            raise ApiError("EOrder:Invalid order")
        return {"count": count}


def _pair_info(spec: PairSpec) -> dict[str, object]:
    return {
        "altname": spec.altname,
        "wsname": spec.v1_name,
        "aclass_base": "currency",
        "base": spec.rest_base,
        "aclass_quote": "currency",
        "quote": spec.rest_quote,
        "lot": "unit",
        "cost_decimals": spec.cost_precision,
        "pair_decimals": spec.price_precision,
        "lot_decimals": spec.qty_precision,
        "lot_multiplier": 1,
        "fees": [],
        "fees_maker": [],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": str(spec.qty_min),
        "costmin": str(spec.cost_min),
        "tick_size": str(spec.tick),
        "status": "online",
    }


def _consolidated(params: Mapping[str, str]) -> bool:
    """Kraken consolidates a taker order's fills unless asked ``consolidate_taker=false``."""
    return params.get("consolidate_taker", "true").lower() not in ("false", "0")


def _trade_rows(fills: list[SimFill], consolidate: bool) -> list[tuple[str, SimFill]]:
    """REST trades of ``fills`` (oldest first) under their ids. Consolidated, the taker fills
    of one order become one trade (summed, at their average price) under an id of its own
    that no WebSocket ``exec_id`` carries: matching REST trades with WS fills then fails."""
    if not consolidate:
        return [(f.exec_id, f) for f in fills]
    rows: list[tuple[str, SimFill]] = []
    takers: dict[str, int] = {}  # order id -> index of its consolidated row
    for fill in fills:
        if fill.liquidity != "t":
            rows.append((fill.exec_id, fill))
            continue
        index = takers.get(fill.order_id)
        if index is None:
            takers[fill.order_id] = len(rows)
            rows.append(("C" + fill.exec_id[1:], fill))
            continue
        trade_id, first = rows[index]
        qty, cost = first.qty + fill.qty, first.cost + fill.cost
        merged = dataclasses.replace(
            first, qty=qty, cost=cost, fee=first.fee + fill.fee, price=cost / qty
        )
        rows[index] = (trade_id, merged)
    return rows


def _wanted(order: SimOrder, params: Mapping[str, str]) -> bool:
    """The ``userref`` and ``cl_ord_id`` filters of OpenOrders and ClosedOrders."""
    if params.get("cl_ord_id") and order.cl_ord_id != params["cl_ord_id"]:
        return False
    userref = params.get("userref")
    return not userref or str(order.order_userref) == userref


def _offset(params: Mapping[str, str]) -> int:
    try:
        return max(0, int(params.get("ofs", "0")))
    except ValueError as exc:
        raise ApiError("EGeneral:Invalid arguments:ofs") from exc


def _in_window(time: float, params: Mapping[str, str]) -> bool:
    try:
        start = float(params["start"]) if params.get("start") else None
        end = float(params["end"]) if params.get("end") else None
    except ValueError as exc:
        raise ApiError("EGeneral:Invalid arguments:start/end") from exc
    return (start is None or time > start) and (end is None or time <= end)
