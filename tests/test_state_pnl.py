"""The engine state counts the account machine's fills into P&L and reports each change."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from galfriday.core.account import AccountConfig, AccountMachine
from galfriday.core.frames import Frame, ListSink
from galfriday.core.health import ConnectionMetrics
from galfriday.core.marketdata import MarketDataConfig, MarketDataMachine
from galfriday.events import FillEvent, PnlUpdate, TradePrint
from galfriday.kraken import wire
from galfriday.kraken.symbols import SymbolMap
from galfriday.state import EngineState

D = Decimal
WALL = 1_700_000_000.0
BOOK = json.dumps(
    json.loads((Path(__file__).parent / "data" / "ws" / "book_btc_usd.json").read_text())[0]
)  # best bid 45283.5, best ask 45285.2


def _trade(sequence: int, exec_id: str, side: str, qty: str, price: str, fee: str) -> str:
    report = {
        "order_id": "OK4GJX-KSTLS-7DZZO5", "exec_id": exec_id, "exec_type": "trade",
        "symbol": "BTC/USD", "side": side, "last_qty": float(qty), "last_price": float(price),
        "order_status": "partially_filled", "fees": [{"asset": "USD", "qty": float(fee)}],
    }  # fmt: skip
    message = {"channel": "executions", "type": "update", "data": [report]}
    return json.dumps({**message, "sequence": sequence})


def _state(sink: ListSink) -> tuple[EngineState, AccountMachine]:
    metrics = ConnectionMetrics("private", 0.0)
    account = AccountMachine(AccountConfig(), metrics, sink)
    marketdata = MarketDataMachine(
        MarketDataConfig(symbols=("BTC/USD",)), ConnectionMetrics("public", 0.0), sink
    )
    marketdata.pairs["BTC/USD"] = wire.PairInfo(
        symbol="BTC/USD", base="BTC", quote="USD", price_precision=1, qty_precision=8
    )
    return EngineState(marketdata, account, SymbolMap(), ("BTC/USD",), None, sink), account


def _private(state: EngineState, raw: str, at: float = 1.0) -> None:
    state.receive_private(Frame(raw, at, WALL + at, "private"))


def _public_trade(state: EngineState, price: str, trade_id: int = 1, at: float = 1.0) -> None:
    trade = {"symbol": "BTC/USD", "side": "buy", "price": float(price), "qty": 0.1,
             "ord_type": "limit", "trade_id": trade_id}  # fmt: skip
    raw = json.dumps({"channel": "trade", "type": "update", "data": [trade]})
    state.receive_public(Frame(raw, at, WALL + at, "public"))


def test_a_fill_is_followed_by_the_p_and_l_of_its_symbol() -> None:
    sink = ListSink()
    state, _ = _state(sink)
    _private(state, _trade(1, "T1", "buy", "0.5", "100", "0.1"))
    kinds = [type(e) for e in sink.events if isinstance(e, FillEvent | PnlUpdate)]
    assert kinds == [FillEvent, PnlUpdate]
    [update] = sink.of(PnlUpdate)
    assert update == PnlUpdate(
        symbol="BTC/USD", exec_id="T1", position=D("0.5"), average_cost=D(100),
        realised=D(0), fees=D("0.1"), received_at=WALL + 1.0,
    )  # fmt: skip


def test_the_tracker_holds_what_the_fills_made() -> None:
    state, _ = _state(ListSink())
    _private(state, _trade(1, "T1", "buy", "1", "100", "0"))
    _private(state, _trade(2, "T2", "sell", "0.5", "120", "0.2"))
    figures = state.pnl.snapshot("BTC/USD")
    assert figures is not None
    assert (figures.position, figures.realised, figures.fees) == (D("0.5"), D(10), D("0.2"))


def test_a_fill_repeated_in_a_later_frame_is_reported_once() -> None:
    sink = ListSink()
    state, _ = _state(sink)
    _private(state, _trade(1, "T1", "buy", "1", "100", "0"))
    _private(state, _trade(2, "T1", "buy", "1", "100", "0"))
    assert len(sink.of(PnlUpdate)) == 1


def test_a_machine_given_to_a_second_state_counts_its_fills_there_once() -> None:
    sink = ListSink()
    first, account = _state(sink)
    second = EngineState(first.marketdata, account, SymbolMap(), ("BTC/USD",), None, sink)
    _private(second, _trade(1, "T1", "buy", "1", "100", "0"))
    assert len(sink.of(PnlUpdate)) == 1
    assert second.pnl.symbols() == ("BTC/USD",) and first.pnl.symbols() == ()


def test_the_mark_is_the_mid_of_the_verified_book() -> None:
    state, _ = _state(ListSink())
    assert state.mark("BTC/USD") is None  # no book yet
    state.receive_public(Frame(BOOK, 1.0, WALL + 1.0, "public"))
    assert state.mark("BTC/USD") == D("45284.35")
    state.marketdata.books["BTC/USD"].verified = False
    assert state.mark("BTC/USD") is None


def test_p_and_l_figures_carry_unrealised_at_the_mark() -> None:
    state, _ = _state(ListSink())
    _private(state, _trade(1, "T1", "buy", "2", "45000", "0"))
    assert state.pnl_figures()["BTC/USD"].unrealised is None
    state.receive_public(Frame(BOOK, 2.0, WALL + 2.0, "public"))
    marked = state.pnl_figures()["BTC/USD"]
    assert (marked.mark, marked.unrealised) == (D("45284.35"), D("568.7"))


def test_a_state_without_an_account_has_an_empty_tracker() -> None:
    sink = ListSink()
    marketdata = MarketDataMachine(MarketDataConfig(), ConnectionMetrics("public", 0.0), sink)
    state = EngineState(marketdata, None, SymbolMap(), (), None, sink)
    assert state.pnl.symbols() == () and state.pnl_figures() == {}


def test_without_a_verified_book_the_mark_is_the_last_public_trade() -> None:
    state, _ = _state(ListSink())
    _public_trade(state, "45000.5")
    _public_trade(state, "45001.5", trade_id=2)
    assert state.mark("BTC/USD") == D("45001.5")


def test_the_verified_books_mid_comes_before_the_last_trade() -> None:
    state, _ = _state(ListSink())
    _public_trade(state, "45000.5")
    state.receive_public(Frame(BOOK, 2.0, WALL + 2.0, "public"))
    assert state.mark("BTC/USD") == D("45284.35")


def test_public_trades_still_reach_the_sink() -> None:
    sink = ListSink()
    state, _ = _state(sink)
    _public_trade(state, "45000.5")
    assert [e.price for e in sink.of(TradePrint)] == [D("45000.5")]  # type: ignore[attr-defined]


def test_a_pnl_update_carries_the_mark_and_unrealised_at_its_fill() -> None:
    sink = ListSink()
    state, _ = _state(sink)
    _public_trade(state, "110")
    _private(state, _trade(1, "T1", "buy", "2", "100", "0"))
    [update] = sink.of(PnlUpdate)
    assert (update.mark, update.unrealised) == (D(110), D(20))  # type: ignore[attr-defined]


def test_the_figures_are_keyed_by_symbol_for_every_symbol_filled() -> None:
    state, _ = _state(ListSink())
    _private(state, _trade(1, "T1", "buy", "2", "100", "0"))
    figures = state.pnl_figures()
    assert list(figures) == ["BTC/USD"] and figures["BTC/USD"].position == D(2)
