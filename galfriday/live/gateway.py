"""Placing and cancelling orders: WebSocket first, REST as the fallback, never twice.

Every order carries a client order id (``cl_ord_id``, a 32-hex short UUID unless the caller
gives one). If the WebSocket request cannot be sent or gets no reply, the gateway first looks
for that id among the orders the private stream knows, then in REST ``OpenOrders`` and
``ClosedOrders``, and only then places it over REST with the same id, so a retry can never
place an order twice. Kraken's refusals become
:class:`~galfriday.errors.OrderRejected` (and siblings) whichever way the order went.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Final

from loguru import logger

from galfriday.errors import ConnectionBroken, kraken_error, reading
from galfriday.kraken import requests as rq
from galfriday.kraken.rest import KrakenRest
from galfriday.kraken.symbols import SymbolMap
from galfriday.live.private import PrivateStream

__all__ = ["OrderGateway"]

REPLY_TIMEOUT: Final = 5.0


class OrderGateway:
    """Places and cancels orders for one account."""

    def __init__(self, stream: PrivateStream, rest: KrakenRest, symbols: SymbolMap) -> None:
        self.stream = stream
        self.rest = rest
        self.symbols = symbols
        self.via_ws = 0
        self.via_rest = 0

    async def place(
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal | None = None,
        *,
        order_type: str = "limit",
        cl_ord_id: str | None = None,
        post_only: bool = False,
    ) -> str:
        """Place an order; returns Kraken's order id.

        Raises:
            InvalidRequest: the order breaks Kraken's rules (nothing was sent).
            KrakenApiError: Kraken refused it.
        """
        cl_ord_id = cl_ord_id or uuid.uuid4().hex
        order = rq.AddOrder(
            order_type=order_type,
            side=side,
            order_qty=qty,
            symbol=symbol,
            limit_price=price,
            cl_ord_id=cl_ord_id,
            post_only=post_only or None,
        )
        rq.add_order(order, "check", 0)  # validates before anything is sent
        try:
            reply = await self.stream.request(
                lambda token, req_id: rq.add_order(order, token, req_id), REPLY_TIMEOUT
            )
        except ConnectionBroken as exc:
            logger.bind(cl_ord_id=cl_ord_id).warning("add_order over WS failed: {}", exc)
            return await self._place_over_rest(order)
        if not reply.ok:
            raise kraken_error(reply.error or "EGeneral:Unknown error")
        self.via_ws += 1
        return reply.result.order_id if reply.result and reply.result.order_id else ""

    async def _place_over_rest(self, order: rq.AddOrder) -> str:
        known = await self._find(order.cl_ord_id or "")
        if known is not None:
            await self._placed(known, order)
            return known  # it did reach Kraken: do not place it again
        params: dict[str, object] = {
            "pair": self.symbols.rest_pair(order.symbol),
            "type": order.side,
            "ordertype": order.order_type,
            "volume": order.order_qty,
            "cl_ord_id": order.cl_ord_id,
        }
        if order.limit_price is not None:
            params["price"] = order.limit_price
        if order.post_only:
            params["oflags"] = "post"
        result = await self.rest.private("AddOrder", **params)
        self.via_rest += 1
        with reading("AddOrder"):
            order_id = str(result["txid"][0])
        await self._placed(order_id, order)
        return order_id

    async def _placed(self, order_id: str, order: rq.AddOrder) -> None:
        """Make an order placed over REST known to the tracker at once: the private stream
        may be down, and an order the tracker never heard of would never be followed up."""
        if self.stream.orders.get(order_id) is None:
            await self.stream.placed(
                order_id,
                symbol=order.symbol,
                side=order.side,
                order_type=order.order_type,
                qty=str(order.order_qty),
                limit_price=None if order.limit_price is None else str(order.limit_price),
                cl_ord_id=order.cl_ord_id,
            )

    async def _find(self, cl_ord_id: str) -> str | None:
        """The order id Kraken gave ``cl_ord_id``, from the stream or from REST, if any."""
        for order in self.stream.orders.orders():
            if order.cl_ord_id == cl_ord_id:
                return order.order_id
        for method, key in (("OpenOrders", "open"), ("ClosedOrders", "closed")):
            result = await self.rest.private(method, cl_ord_id=cl_ord_id)
            with reading(method):
                for order_id, info in (result.get(key) or {}).items():
                    if info.get("cl_ord_id") == cl_ord_id:
                        return str(order_id)
        return None

    async def cancel(self, order_id: str) -> None:
        """Cancel an order (WS, or REST when the socket is down).

        Raises:
            KrakenApiError: Kraken refused (``EOrder:Invalid order`` for unknown or closed).
        """
        try:
            reply = await self.stream.request(
                lambda token, req_id: rq.cancel_order(token, req_id, order_ids=[order_id]),
                REPLY_TIMEOUT,
            )
        except ConnectionBroken:
            await self.rest.private("CancelOrder", txid=order_id)
            return
        if not reply.ok:
            raise kraken_error(reply.error or "EGeneral:Unknown error")

    async def arm_dead_man_switch(self, seconds: int) -> None:
        """Arm (or with 0, disarm) ``cancel_all_orders_after`` over the private socket."""
        reply = await self.stream.request(
            lambda token, req_id: rq.cancel_all_orders_after(seconds, token, req_id),
            REPLY_TIMEOUT,
        )
        if not reply.ok:
            raise kraken_error(reply.error or "EGeneral:Unknown error")
