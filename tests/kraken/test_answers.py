from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from galfriday.core.orders import OrderTracker
from galfriday.errors import ExchangeError
from galfriday.events import FillEvent, OrderStatus
from galfriday.kraken import answers, convert
from galfriday.kraken.answers import UnknownPair, UnreadableAnswer
from galfriday.kraken.symbols import SymbolMap
from galfriday.kraken.wire import Fee

D = Decimal
REST_DATA = Path(__file__).parent.parent / "data" / "rest"
ANSWER_FILES = sorted(path.name for path in REST_DATA.glob("*.json"))


class _Envelope(msgspec.Struct):
    error: list[str]
    result: msgspec.Raw


def _result(name: str) -> bytes:
    """The ``result`` of tests/data/rest/<name>.json, as the bytes Kraken sent."""
    envelope = msgspec.json.decode((REST_DATA / name).read_bytes(), type=_Envelope)
    assert envelope.error == []
    return bytes(envelope.result)


def _as_the_client_reads_it(name: str) -> Any:
    """The ``result`` as the REST client decodes it today: objects, JSON floats as Decimal."""
    return msgspec.json.Decoder(float_hook=Decimal).decode(_result(name))


def _symbols() -> SymbolMap:
    pairs = answers.decode_asset_pairs(_result("AssetPairs.json"))
    return convert.symbol_map(pairs, answers.decode_assets(_result("Assets.json")))


# --- every documented answer ----------------------------------------------------------------


@pytest.mark.parametrize("name", ANSWER_FILES)
def test_every_documented_answer_decodes(name: str) -> None:
    method = name.split(".")[0]
    answer = answers.decode_answer(method, _result(name))
    assert answer is not None


def _without_copies(answer: Any) -> Any:
    """``answer`` without the copies of skipped entries (their spacing differs by input)."""
    if isinstance(answer, answers.AssetPairsAnswer | answers.AssetsAnswer):
        skipped = [msgspec.structs.replace(s, raw="") for s in answer.skipped]
        return msgspec.structs.replace(answer, skipped=skipped)
    return answer


@pytest.mark.parametrize("name", ANSWER_FILES)
def test_json_text_and_decoded_objects_give_the_same_answer(name: str) -> None:
    method = name.split(".")[0]
    text = answers.decode_answer(method, _result(name))
    objects = answers.decode_answer(method, _as_the_client_reads_it(name))
    assert _without_copies(objects) == _without_copies(text)


def test_balance_keeps_earn_suffixes_and_fee_credits_exactly() -> None:
    balance = answers.decode_balance(_result("Balance.json"))
    assert balance["XXBT"] == D("1011.1908877900")
    assert (balance["XBT.F"], balance["DOT.S"], balance["ETH2.S"]) == (
        D("0.0012000000"),
        D("5.0000000000"),
        D("198.3970800000"),
    )
    assert balance["KFEE"] == D("1000.00")


def test_balance_ex_reads_numbers_and_strings_alike() -> None:
    numbers = answers.decode_balance_ex(_result("BalanceEx.json"))
    strings = answers.decode_balance_ex(_result("BalanceEx.strings.json"))
    assert numbers["ZUSD"].balance == strings["ZUSD"].balance == D("25435.21")
    assert numbers["XXBT"].hold_trade == strings["XXBT"].hold_trade == D("0.8423")


def test_balance_ex_available_subtracts_holds_and_used_credit() -> None:
    eth = answers.decode_balance_ex(_result("BalanceEx.json"))["XETH"]
    assert eth.available == D("12.0")
    assert answers.decode_balance_ex(_result("BalanceEx.json"))["ZUSD"].available == D("17185.45")


def test_paged_answers_carry_the_total_count() -> None:
    assert answers.decode_closed_orders(_result("ClosedOrders.json")).count == 3
    assert answers.decode_trades_history(_result("TradesHistory.json")).count == 2346
    assert answers.decode_ledgers(_result("Ledgers.json")).count == 3
    assert answers.decode_ledgers(_result("Ledgers.without_count.json")).count is None


def test_add_order_txid_is_a_list_and_empty_when_only_validated() -> None:
    assert answers.decode_add_order(_result("AddOrder.json")).txid == ["OU22CG-KLAF2-FWUDD7"]
    assert answers.decode_add_order(_result("AddOrder.validate.json")).txid == []


def test_rest_times_are_epoch_seconds() -> None:
    history = answers.decode_trades_history(_result("TradesHistory.json"))
    assert history.trades["THVRQM-33VKH-UCI7BS"].time == 1688667796.8802
    assert answers.decode_server_time(_result("Time.json")).unixtime == 1688669448
    status = answers.decode_system_status(_result("SystemStatus.json"))
    assert status.timestamp == datetime(2023, 7, 6, 18, 52, tzinfo=UTC)


def test_an_older_answer_without_optional_fields_decodes_with_defaults() -> None:
    orders = answers.decode_query_orders(b'{"O1":{"status":"open","vol":"2","extra":[1]}}')
    order = orders["O1"]
    assert (order.vol_exec, order.cost, order.trades, order.cl_ord_id) == (D(0), D(0), [], None)
    assert order.descr.pair is None


# --- unreadable answers ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ['"sNaN"', '"NaN"', '"-Infinity"', '"inf"', "1e999999999"])
def test_a_balance_that_is_not_a_finite_number_is_unreadable(value: str) -> None:
    with pytest.raises(UnreadableAnswer) as info:
        answers.decode_balance(f'{{"ZUSD":"1.5","XXBT":{value}}}'.encode())
    assert (info.value.method, info.value.path) == ("Balance", "$.XXBT")
    assert isinstance(info.value, ExchangeError)


def test_a_non_finite_number_the_client_decoded_is_unreadable_too() -> None:
    result = {"ledger": {"L1": {"time": 1.5, "type": "trade", "asset": "ZUSD", "amount": D("NaN"),
                                "balance": D(1)}}}  # fmt: skip
    with pytest.raises(UnreadableAnswer) as info:
        answers.decode_ledgers(result)
    assert info.value.path == "$.ledger.L1.amount"


def test_an_infinite_time_is_unreadable() -> None:
    result = {"trades": {"T1": {"ordertxid": "O1", "pair": "XXBTZUSD", "time": D("1e999"),
                                "type": "buy", "price": "1", "cost": "1", "vol": "1"}}}  # fmt: skip
    with pytest.raises(UnreadableAnswer) as info:
        answers.decode_trades_history(result)
    assert info.value.path == "$.trades.T1.time"


def test_an_unreadable_answer_names_the_method_and_the_path() -> None:
    with pytest.raises(UnreadableAnswer) as info:
        answers.decode_open_orders(b'{"open":{"O1":{"status":"open","vol":"many"}}}')
    assert info.value.method == "OpenOrders"
    assert info.value.path == "$.open[...].vol"
    assert "OpenOrders" in str(info.value) and "$.open[...].vol" in str(info.value)


def test_an_unreadable_token_answer_never_shows_the_token() -> None:
    secret = "1Dwc4lzSwNWOAwkMdqhssNNFhs1ed606d1WcF3XfEMw"
    with pytest.raises(UnreadableAnswer) as info:
        answers.decode_websockets_token(f'{{"token":"{secret}","expires":"soon"}}'.encode())
    assert secret not in str(info.value) and secret not in repr(info.value.__cause__)


def test_a_method_galfriday_does_not_read_is_refused() -> None:
    with pytest.raises(UnreadableAnswer, match="does not read"):
        answers.decode_answer("OpenPositions", b"{}")


@given(
    st.sampled_from(sorted(answers.ANSWER_DECODERS)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=10,
    ),
)
def test_any_shape_decodes_or_is_unreadable(method: str, result: object) -> None:
    try:
        answers.decode_answer(method, result)
    except UnreadableAnswer as exc:
        assert exc.path.startswith("$")


# --- AssetPairs and Assets, entry by entry ---------------------------------------------------


def test_asset_pairs_skip_a_pair_that_does_not_decode() -> None:
    pairs = answers.decode_asset_pairs(_result("AssetPairs.odd_pair.json"))
    assert list(pairs.pairs) == ["XXBTZUSD"]
    assert {(s.name, s.path) for s in pairs.skipped} == {
        ("ODDUSD", "$.ODDUSD.pair_decimals"),
        ("NANUSD", "$.NANUSD.ordermin"),
    }
    assert all(s.kind == "pair" and s.raw.startswith("{") for s in pairs.skipped)


def test_assets_skip_an_asset_that_does_not_decode() -> None:
    assets = answers.decode_assets(b'{"XXBT":{"altname":"XBT","decimals":10},"BAD":{"decimals":2}}')
    assert list(assets.assets) == ["XXBT"]
    assert [(s.kind, s.name, s.path) for s in assets.skipped] == [("asset", "BAD", "$.BAD")]


def test_assets_and_pairs_build_the_names_of_every_pair_and_asset() -> None:
    names = _symbols()
    assert names.ws_symbol("XXBTZUSD") == names.ws_symbol("XBTUSD") == "BTC/USD"
    assert names.ws_symbol("XBTUSDT") == "BTC/USDT"
    assert names.ws_symbol("XDGUSD") == "DOGE/USD"
    assert names.ws_symbol("SOLUSD") == "SOL/USD"
    assert (names.ws_asset("KFEE"), names.ws_asset("ZPLN")) == ("FEE", "PLN")


# --- converters: orders ---------------------------------------------------------------------


def _open_order(order_id: str) -> answers.RestOrder:
    return answers.decode_open_orders(_result("OpenOrders.json")).open[order_id]


def test_rest_open_order_with_fills_maps_to_partially_filled() -> None:
    report = convert.order_report("OQCLML-BW3P3-BUCMWZ", _open_order("OQCLML-BW3P3-BUCMWZ"))
    assert report.order_status == "partially_filled"
    tracker = OrderTracker()
    tracker.apply(report, 1.0)
    view = tracker.get("OQCLML-BW3P3-BUCMWZ")
    assert view is not None
    assert (view.status, view.cum_qty) == (OrderStatus.PARTIALLY_FILLED, D("0.37500000"))


def test_rest_open_order_without_fills_maps_to_new() -> None:
    report = convert.order_report("OB5VMB-B4U2U-DK2WRW", _open_order("OB5VMB-B4U2U-DK2WRW"))
    assert (report.exec_type, report.order_status, report.avg_price) == ("new", "new", None)


@pytest.mark.parametrize(
    ("file", "order_id", "status"),
    [
        ("OpenOrders.json", "OXP4SJ-5YDOG-ZUR3AU", "pending_new"),
        ("ClosedOrders.json", "OQCLML-BW3P3-BUCMWZ", "filled"),
        ("ClosedOrders.json", "O37652-RJWRT-IMO74O", "canceled"),
        ("ClosedOrders.json", "OJ6KQS-YI4G4-2JVEWT", "expired"),
    ],
)
def test_rest_order_statuses_map_to_ws_statuses(file: str, order_id: str, status: str) -> None:
    orders = answers.decode_answer(file.split(".")[0], _result(file))
    found = orders.open if file.startswith("Open") else orders.closed
    report = convert.order_report(order_id, found[order_id])
    assert (report.exec_type, report.order_status) == (status, status)


def test_a_rest_order_status_kraken_does_not_document_is_refused() -> None:
    order = answers.RestOrder(status="triggered", vol=D(1))
    with pytest.raises(ExchangeError, match="triggered"):
        convert.order_report("O1", order)


def test_rest_order_carries_quantities_ids_and_description() -> None:
    order = _open_order("OB5VMB-B4U2U-DK2WRW")
    report = convert.order_report("OB5VMB-B4U2U-DK2WRW", order, _symbols())
    assert (report.symbol, report.side, report.order_type) == ("BTC/USD", "buy", "limit")
    assert (report.order_qty, report.limit_price, report.cum_qty) == (
        D("0.27500000"),
        D("14500.0"),
        D("0.00000000"),
    )
    assert report.order_userref == 45326
    pending = convert.order_report("OXP4SJ-5YDOG-ZUR3AU", _open_order("OXP4SJ-5YDOG-ZUR3AU"))
    assert pending.cl_ord_id == "b4a9e6d0-e1c2-4a6f-9f0d-5b3c2a1d0e9f"
    assert pending.order_userref is None


def test_a_filled_rest_order_carries_its_cost_and_average_price() -> None:
    closed = answers.decode_closed_orders(_result("ClosedOrders.json")).closed
    report = convert.order_report("OQCLML-BW3P3-BUCMWZ", closed["OQCLML-BW3P3-BUCMWZ"])
    assert (report.cum_cost, report.avg_price) == (D("37512.5"), D("30010.0"))


def test_userref_zero_is_no_userref() -> None:
    report = convert.order_report("OQCLML-BW3P3-BUCMWZ", _open_order("OQCLML-BW3P3-BUCMWZ"))
    assert report.order_userref is None


def test_a_stop_loss_limit_order_takes_its_limit_price_from_price2() -> None:
    closed = answers.decode_closed_orders(_result("ClosedOrders.json")).closed
    report = convert.order_report("O37652-RJWRT-IMO74O", closed["O37652-RJWRT-IMO74O"])
    assert report.limit_price == D("23600.0")


def test_a_market_order_has_no_limit_price() -> None:
    orders = answers.decode_query_orders(_result("QueryOrders.json"))
    report = convert.order_report("OMMDB2-FSB6Z-7W3HPO", orders["OMMDB2-FSB6Z-7W3HPO"])
    assert report.limit_price is None


def test_a_rest_order_of_a_pair_the_map_does_not_know_has_no_symbol() -> None:
    order = answers.RestOrder(status="open", vol=D(1), descr=answers.OrderDescr(pair="LUNAUSD"))
    assert convert.order_report("O1", order, _symbols()).symbol is None


# --- converters: trades and ledger entries --------------------------------------------------


def test_rest_trade_maps_to_a_trade_report() -> None:
    trades = answers.decode_trades_history(_result("TradesHistory.json")).trades
    report = convert.trade_report("TJUW2K-FLX2N-AR2FLU", trades["TJUW2K-FLX2N-AR2FLU"], _symbols())
    assert (report.exec_type, report.exec_id, report.order_id, report.trade_id) == (
        "trade",
        "TJUW2K-FLX2N-AR2FLU",
        "OMMDB2-FSB6Z-7W3HPO",
        39111111,
    )
    assert (report.symbol, report.side, report.order_type, report.liquidity_ind) == (
        "BTC/USD",
        "sell",
        "market",
        "t",
    )
    assert (report.last_qty, report.last_price, report.cost) == (
        D("0.25000000"),
        D("30000.00000"),
        D("7500.00000"),
    )
    assert report.fees == [Fee(asset="USD", qty=D("7.50000"))]
    assert report.timestamp == datetime.fromtimestamp(1688592012.2335, UTC)


def test_a_maker_trade_is_liquidity_m() -> None:
    trades = answers.decode_trades_history(_result("TradesHistory.json")).trades
    report = convert.trade_report("THVRQM-33VKH-UCI7BS", trades["THVRQM-33VKH-UCI7BS"], _symbols())
    assert report.liquidity_ind == "m"


def test_a_rest_trade_applies_as_one_fill() -> None:
    trades = answers.decode_trades_history(_result("TradesHistory.json")).trades
    report = convert.trade_report("TJUW2K-FLX2N-AR2FLU", trades["TJUW2K-FLX2N-AR2FLU"], _symbols())
    tracker = OrderTracker()
    events = tracker.apply(report, 1.0) + tracker.apply(report, 2.0)
    fills = [event for event in events if isinstance(event, FillEvent)]
    assert [(f.exec_id, f.qty, f.fees) for f in fills] == [
        ("TJUW2K-FLX2N-AR2FLU", D("0.25000000"), (("USD", D("7.50000")),))
    ]


def test_rest_trade_of_an_unknown_pair_raises_unknown_pair() -> None:
    trades = answers.decode_trades_history(_result("TradesHistory.delisted_pair.json")).trades
    with pytest.raises(UnknownPair) as info:
        convert.trade_report("TNGJFU-5CD67-ZV3AEO", trades["TNGJFU-5CD67-ZV3AEO"], _symbols())
    assert (info.value.pair, info.value.row) == ("LUNAUSD", "TNGJFU-5CD67-ZV3AEO")
    assert isinstance(info.value, ExchangeError)


def test_ledger_entries_take_ws_asset_names() -> None:
    ledger = answers.decode_ledgers(_result("Ledgers.json")).ledger
    names = _symbols()
    gbp = convert.ledger_record("L4UESK-KG3EQ-UFO4T5", ledger["L4UESK-KG3EQ-UFO4T5"], names)
    assert gbp == convert.LedgerRecord(
        ledger_id="L4UESK-KG3EQ-UFO4T5",
        ref_id="TJKLXX-PGMUI-4NTLXU",
        time=1688464484.1787,
        ledger_type="trade",
        asset="GBP",
        amount=D("-24.5000"),
        fee=D("0.0490"),
        balance=D("459567.9171"),
    )
    earn = convert.ledger_record("LUSBUV-5ZPW4-IEBPUU", ledger["LUSBUV-5ZPW4-IEBPUU"], names)
    assert (earn.asset, earn.subtype) == ("BTC.F", "autoallocation")


def test_balances_take_ws_asset_names() -> None:
    balance = answers.decode_balance(_result("Balance.json"))
    names = convert.ws_balances(balance, _symbols())
    assert (names["BTC"], names["BTC.F"], names["USD"]) == (
        D("1011.1908877900"),
        D("0.0012000000"),
        D("171288.6158"),
    )


def test_a_bug_of_ours_while_decoding_is_not_blamed_on_the_exchange(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only what msgspec refuses is an unreadable answer; errors.reading() once turned any
    # KeyError or AttributeError of a whole workflow into the exchange's fault.
    def broken(value: object, path: str = "$") -> str | None:
        raise AttributeError("'int' object has no attribute 'get'")

    monkeypatch.setattr(answers, "bad_number", broken)
    with pytest.raises(AttributeError) as info:
        answers.decode_open_orders(_result("OpenOrders.json"))
    assert not isinstance(info.value, ExchangeError)
