from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from galfriday.errors import MalformedFrame
from galfriday.kraken import wire
from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.kraken.wire import FrameDecoder
from tests.examples import ws_examples

EXAMPLES = ws_examples()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_protocol_example_decodes_to_a_known_type(name: str) -> None:
    message = FrameDecoder().decode(EXAMPLES[name])
    assert not isinstance(message, wire.UnknownFrame)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_bytes_and_text_decode_alike(name: str) -> None:
    decoder = FrameDecoder()
    assert decoder.decode(EXAMPLES[name]) == decoder.decode(EXAMPLES[name].encode())


def test_subscribe_ack_carries_its_one_symbol() -> None:
    ack = FrameDecoder().decode(EXAMPLES["ack_book_ok"])
    assert isinstance(ack, wire.Response)
    assert ack.ok and ack.method == "subscribe"
    assert ack.result is not None
    assert (ack.result.channel, ack.result.symbol, ack.result.depth) == ("book", "ALGO/USD", 10)


def test_failed_ack_without_result_is_not_ok_and_keeps_the_error_string() -> None:
    ack = FrameDecoder().decode(EXAMPLES["ack_pair_not_supported"])
    assert isinstance(ack, wire.Response)
    assert not ack.ok
    assert ack.result is None
    assert ack.error == "Currency pair not supported XBT/USD"
    assert ack.symbol == "XBT/USD"


def test_ack_without_success_field_counts_as_failure() -> None:
    ack = FrameDecoder().decode('{"method":"subscribe","req_id":4}')
    assert isinstance(ack, wire.Response) and not ack.ok


def test_warnings_are_kept() -> None:
    ack = FrameDecoder().decode(EXAMPLES["ack_warnings"])
    assert isinstance(ack, wire.Response) and ack.result is not None
    assert ack.result.warnings == ["tick_size is deprecated, use price_increment"]


def test_pong_echoes_req_id_and_is_ok() -> None:
    pong = FrameDecoder().decode(EXAMPLES["pong"])
    assert isinstance(pong, wire.Response)
    assert pong.ok and pong.req_id == 101


def test_status_keeps_a_connection_id_above_int64() -> None:
    status = FrameDecoder().decode(EXAMPLES["status"])
    assert isinstance(status, wire.StatusMessage)
    assert status.data[0].connection_id == 13834774380200032777
    assert status.data[0].system == "online"


def test_heartbeat_decodes() -> None:
    assert isinstance(FrameDecoder().decode(EXAMPLES["heartbeat"]), wire.Heartbeat)


def test_book_levels_and_checksum() -> None:
    book = FrameDecoder().decode(EXAMPLES["book_snapshot_matic"])
    assert isinstance(book, wire.BookMessage)
    assert book.type == "snapshot"
    data = book.data[0]
    assert (data.symbol, data.checksum) == ("MATIC/USD", 2439117997)
    assert data.bids[0] == wire.BookLevel(price=0.5666, qty=4831.75496356)


def test_exact_book_keeps_the_text_digits() -> None:
    book = FrameDecoder().decode_exact_book(EXAMPLES["book_update_matic"])
    assert book.data[0].bids[0].qty == Decimal("1098.3947558")
    assert book.data[0].asks == []


def test_ticker_values_are_exact_decimals() -> None:
    ticker = FrameDecoder().decode(EXAMPLES["ticker"])
    assert isinstance(ticker, wire.TickerMessage)
    t = ticker.data[0]
    assert t.bid == Decimal("0.10025") and t.ask_qty == Decimal("1361.44813783")
    assert t.change_pct == Decimal("-0.17")


def test_trade_has_its_per_book_sequence() -> None:
    trade = FrameDecoder().decode(EXAMPLES["trade"])
    assert isinstance(trade, wire.TradeMessage)
    assert trade.data[0].trade_id == 4665906
    assert trade.data[0].qty == Decimal("40.0")


def test_ohlc_nine_digit_timestamps_decode() -> None:
    ohlc = FrameDecoder().decode(EXAMPLES["ohlc"])
    assert isinstance(ohlc, wire.OhlcMessage)
    assert ohlc.timestamp == datetime(2023, 10, 4, 16, 26, 30, 524395, tzinfo=UTC)
    candle = ohlc.data[0]
    assert candle.interval_begin == datetime(2023, 10, 4, 16, 25, tzinfo=UTC)
    assert candle.interval == 5 and candle.close == Decimal("0.5627")


def test_instrument_data_is_an_object_with_precisions() -> None:
    inst = FrameDecoder().decode(EXAMPLES["instrument"])
    assert isinstance(inst, wire.InstrumentMessage)
    pair = inst.data.pairs[0]
    assert (pair.symbol, pair.price_precision, pair.qty_precision) == ("BTC/USD", 1, 8)
    assert pair.qty_increment == Decimal("1e-08")
    assert inst.data.assets[0].precision == 10


def test_execution_trade_report_is_exact() -> None:
    msg = FrameDecoder().decode(EXAMPLES["exec_trade"])
    assert isinstance(msg, wire.ExecutionsMessage)
    assert msg.sequence == 10
    r = msg.data[0]
    assert r.exec_type == "trade" and r.order_status == "partially_filled"
    assert r.last_price == Decimal("26599.9") and r.cost == Decimal("132.9995")
    assert r.fees == [wire.Fee(asset="USD", qty=Decimal("0.3458"))]


def test_sparse_execution_report_leaves_unknown_fields_none() -> None:
    msg = FrameDecoder().decode(EXAMPLES["exec_new"])
    assert isinstance(msg, wire.ExecutionsMessage)
    r = msg.data[0]
    assert (r.exec_type, r.order_id) == ("new", "OK4GJX-KSTLS-7DZZO5")
    assert r.symbol is None and r.side is None and r.order_qty is None


@pytest.mark.parametrize(
    "exec_type",
    [
        "pending_new",
        "new",
        "trade",
        "filled",
        "iceberg_refill",
        "canceled",
        "expired",
        "amended",
        "restated",
        "status",
    ],
)
def test_every_exec_type_decodes(exec_type: str) -> None:
    frame = (
        '{"channel":"executions","type":"update","sequence":3,'
        f'"data":[{{"exec_type":"{exec_type}","order_id":"O1"}}]}}'
    )
    msg = FrameDecoder().decode(frame)
    assert isinstance(msg, wire.ExecutionsMessage) and msg.data[0].exec_type == exec_type


def test_balance_snapshot_has_wallets_and_update_has_ledger_fields() -> None:
    decoder = FrameDecoder()
    snap = decoder.decode(EXAMPLES["balances_snapshot"])
    assert isinstance(snap, wire.BalancesMessage)
    assert snap.data[0].wallets == [wire.Wallet(type="spot", id="main", balance=Decimal("1.2"))]
    upd = decoder.decode(EXAMPLES["balances_update"])
    assert isinstance(upd, wire.BalancesMessage)
    entry = upd.data[0]
    assert (entry.ledger_id, entry.ledger_type, entry.asset) == (
        "A5KS77-LQRMP-SMMN4B",
        "trade",
        "USD",
    )
    assert entry.amount == Decimal("132.9995") and entry.balance == Decimal("500")


def test_method_responses_decode_their_results() -> None:
    decoder = FrameDecoder()
    add = decoder.decode(EXAMPLES["add_order_ok"])
    assert isinstance(add, wire.Response) and add.result is not None
    assert add.result.order_id == "AA5JGQ-SBMRC-SCJ7J7" and add.result.order_userref == 100054
    err = decoder.decode(EXAMPLES["add_order_error"])
    assert isinstance(err, wire.Response)
    assert (err.ok, err.error, err.req_id) == (False, "EOrder:Insufficient funds", 99)
    cancel_all = decoder.decode(EXAMPLES["cancel_all_ok"])
    assert isinstance(cancel_all, wire.Response) and cancel_all.result is not None
    assert cancel_all.result.count == 3
    after = decoder.decode(EXAMPLES["cancel_after_ok"])
    assert isinstance(after, wire.Response) and after.result is not None
    assert after.result.trigger_time == datetime(2023, 9, 21, 15, 51, 9, tzinfo=UTC)


def test_unknown_channel_is_safe_and_counted() -> None:
    decoder = FrameDecoder()
    message = decoder.decode('{"channel":"level3","type":"update","data":[]}')
    assert message == wire.UnknownFrame(kind="channel", name="level3")
    assert decoder.statistics()["unknown"] == 1


def test_unknown_method_decodes_as_a_response_counted_by_name() -> None:
    decoder = FrameDecoder()
    message = decoder.decode('{"method":"frobnicate","success":true}')
    assert isinstance(message, wire.Response) and message.method == "frobnicate"
    assert decoder.statistics()["frobnicate"] == 1


def test_frame_with_neither_channel_nor_method_is_unknown_shape() -> None:
    assert FrameDecoder().decode('{"hello":1}') == wire.UnknownFrame(kind="shape", name="")


def test_unknown_fields_are_ignored() -> None:
    msg = FrameDecoder().decode('{"channel":"heartbeat","extra":{"deep":[1,2]}}')
    assert isinstance(msg, wire.Heartbeat)


def test_channel_key_not_first_still_decodes() -> None:
    msg = FrameDecoder().decode('{"type":"update","data":[],"channel":"trade"}')
    assert msg == wire.TradeMessage(type="update", data=[])


def test_malformed_frame_carries_the_msgspec_path() -> None:
    decoder = FrameDecoder()
    bad = (
        '{"channel":"book","type":"update","data":[{"symbol":"X","bids":[{"price":"a","qty":1}]}]}'
    )
    with pytest.raises(MalformedFrame) as info:
        decoder.decode(bad)
    assert info.value.path == "$.data[0].bids[0].price"
    assert decoder.statistics()["malformed"] == 1


def test_non_json_is_malformed_with_a_truncated_copy() -> None:
    with pytest.raises(MalformedFrame) as info:
        FrameDecoder().decode("x" * 1000)
    assert info.value.path == "$"
    assert len(info.value.raw) == 200


def test_counts_by_channel_and_method() -> None:
    decoder = FrameDecoder()
    for name in ("heartbeat", "heartbeat", "pong", "trade"):
        decoder.decode(EXAMPLES[name])
    stats = decoder.statistics()
    assert (stats["heartbeat"], stats["pong"], stats["trade"]) == (2, 1, 1)


@given(st.binary(max_size=300))
def test_random_bytes_never_escape_as_anything_but_malformed(raw: bytes) -> None:
    with contextlib.suppress(MalformedFrame):
        FrameDecoder().decode(raw)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_CHANNELS = st.sampled_from(
    [
        "book",
        "ticker",
        "trade",
        "ohlc",
        "instrument",
        "executions",
        "balances",
        "status",
        "heartbeat",
        "nope",
    ]
)


@pytest.mark.slow
@given(_CHANNELS, _JSON, _JSON)
def test_known_channel_with_random_payload_decodes_or_is_malformed(
    channel: str, data: object, extra: object
) -> None:
    frame = msgspec.json.encode({"channel": channel, "type": "update", "data": data, "x": extra})
    try:
        FrameDecoder().decode(frame)
    except MalformedFrame as exc:
        assert exc.path.startswith("$")


def test_encoded_structs_round_trip() -> None:
    decoder = FrameDecoder()
    encoder = msgspec.json.Encoder(decimal_format="number")
    for name, frame in EXAMPLES.items():
        message = decoder.decode(frame)
        if isinstance(message, wire.BookMessage):
            continue  # float levels: the exact twin round-trips below
        assert decoder.decode(encoder.encode(message)) == message, name
    exact = decoder.decode_exact_book(EXAMPLES["book_snapshot_matic"])
    assert decoder.decode_exact_book(encoder.encode(exact)) == exact


# --- Kraken's documented examples (tests/data/ws) ------------------------------------------

WS_DATA = Path(__file__).parent.parent / "data" / "ws"
WS_FRAMES = {
    f"{path.stem}[{index}]": msgspec.json.encode(frame).decode()
    for path in sorted(WS_DATA.glob("*.json"))
    for index, frame in enumerate(msgspec.json.decode(path.read_bytes(), type=list[msgspec.Raw]))
}


def _ws(name: str) -> list[str]:
    """The frames of tests/data/ws/<name>.json, text exactly as in the file."""
    raws = msgspec.json.decode((WS_DATA / f"{name}.json").read_bytes(), type=list[msgspec.Raw])
    return [bytes(raw).decode() for raw in raws]


@pytest.mark.parametrize("name", sorted(WS_FRAMES))
def test_every_documented_example_decodes(name: str) -> None:
    decoder = FrameDecoder()
    message = decoder.decode(WS_FRAMES[name])
    assert not isinstance(message, wire.UnknownFrame)
    assert decoder.statistics()["malformed"] == 0


def test_the_btc_usd_worked_example_verifies_its_checksum() -> None:
    message = FrameDecoder().decode(_ws("book_btc_usd")[0])
    assert isinstance(message, wire.BookMessage)
    book = OrderBook("BTC/USD", price_precision=1, qty_precision=8, depth=10)
    assert book.apply(message.data[0], snapshot=True) is BookCheck.MATCH


def test_balances_snapshot_keeps_every_wallet_of_an_asset() -> None:
    message = FrameDecoder().decode(_ws("balances")[0])
    assert isinstance(message, wire.BalancesMessage)
    matic = next(entry for entry in message.data if entry.asset == "MATIC")
    assert matic.balance == Decimal(500)
    assert [(w.type, w.id, w.balance) for w in matic.wallets] == [
        ("spot", "main", Decimal(300)),
        ("earn", "flex", Decimal(200)),
    ]


# --- the dead-man switch answer -------------------------------------------------------------


def test_trigger_time_zero_decodes_as_disarmed() -> None:
    answer = FrameDecoder().decode(_ws("cancel_after")[1])
    assert isinstance(answer, wire.Response) and answer.ok and answer.result is not None
    assert answer.result.trigger_time is None
    assert answer.result.current_time == datetime(2023, 9, 21, 15, 50, 2, tzinfo=UTC)


def test_disarm_answer_decodes_alike_with_zero_and_without_trigger_time() -> None:
    decoder = FrameDecoder()
    results = []
    for frame in _ws("cancel_after")[1:]:
        answer = decoder.decode(frame)
        assert isinstance(answer, wire.Response) and answer.ok and answer.result is not None
        results.append(answer.result)
    assert [result.trigger_time for result in results] == [None, None]


def test_a_quoted_zero_elsewhere_in_the_answer_is_left_alone() -> None:
    frame = (
        '{"method":"cancel_all_orders_after","success":false,"req_id":5,'
        '"error":"EGeneral:Invalid arguments:\\"triggerTime\\":\\"0\\""}'
    )
    answer = FrameDecoder().decode(frame)
    assert isinstance(answer, wire.Response)
    assert answer.error == 'EGeneral:Invalid arguments:"triggerTime":"0"'


# --- non-finite and absurd numbers ----------------------------------------------------------

NOT_FINITE = ["NaN", "nan", "-NaN", "sNaN", "-snan", "Infinity", "-Infinity", "inf", "+Inf", " nan"]


@pytest.mark.parametrize("spelling", NOT_FINITE)
def test_balances_update_with_snan_amount_is_malformed(spelling: str) -> None:
    decoder = FrameDecoder()
    frame = _ws("balances")[1].replace('"amount": 132.9995', f'"amount": "{spelling}"')
    with pytest.raises(MalformedFrame) as info:
        decoder.decode(frame)
    assert info.value.path == "$.data[0].amount"
    assert decoder.statistics()["malformed"] == 1


def test_nan_wallet_balance_in_a_snapshot_is_malformed() -> None:
    frame = _ws("balances")[0].replace('"balance": 200}', '"balance": "NaN"}')
    with pytest.raises(MalformedFrame) as info:
        FrameDecoder().decode(frame)
    assert info.value.path == "$.data[1].wallets[1].balance"


def test_execution_with_infinite_last_qty_is_malformed() -> None:
    frame = _ws("executions")[3].replace('"last_qty": 0.005', '"last_qty": "Infinity"')
    with pytest.raises(MalformedFrame) as info:
        FrameDecoder().decode(frame)
    assert info.value.path == "$.data[0].last_qty"


def test_execution_fee_with_nan_qty_is_malformed() -> None:
    frame = _ws("executions")[3].replace('"qty": 0.3458', '"qty": "nan"')
    with pytest.raises(MalformedFrame) as info:
        FrameDecoder().decode(frame)
    assert info.value.path == "$.data[0].fees[0].qty"


@pytest.mark.parametrize(
    ("name", "index", "field", "path"),
    [
        ("ticker", 0, '"last": 0.10035', "$.data[0].last"),
        ("trade", 1, '"qty": 1136.19677815', "$.data[1].qty"),
        ("ohlc", 1, '"close": 0.5627', "$.data[0].close"),
        ("executions", 1, '"limit_price": 26500.0', "$.data[0].limit_price"),
        ("executions", 4, '"cum_cost": 132.9995', "$.data[0].cum_cost"),
    ],
)
def test_non_finite_number_in_any_channel_is_malformed(
    name: str, index: int, field: str, path: str
) -> None:
    key = field.split(":")[0]
    frame = _ws(name)[index].replace(field, f'{key}: "sNaN"')
    with pytest.raises(MalformedFrame) as info:
        FrameDecoder().decode(frame)
    assert info.value.path == path


@given(st.sampled_from(NOT_FINITE), st.sampled_from(["balance", "amount", "fee"]))
def test_any_non_finite_spelling_in_a_ledger_update_is_malformed(spelling: str, key: str) -> None:
    frame = (
        '{"channel":"balances","type":"update","sequence":3,"data":[{"asset":"USD",'
        f'"ledger_id":"L1","amount":1,"fee":0,"balance":2,"{key}":"{spelling}"}}]}}'
    )
    with pytest.raises(MalformedFrame):
        FrameDecoder().decode(frame)


def test_a_number_beyond_the_decimal_range_is_malformed() -> None:
    frame = _ws("balances")[1].replace('"balance": 500', '"balance": 1e999999999')
    with pytest.raises(MalformedFrame) as info:
        FrameDecoder().decode(frame)
    assert info.value.path == "$.data[0].balance"


def test_a_large_but_plausible_number_decodes() -> None:
    frame = _ws("ticker")[0].replace('"volume": 997038.98383185', '"volume": 9.99e99')
    message = FrameDecoder().decode(frame)
    assert isinstance(message, wire.TickerMessage)
    assert message.data[0].volume == Decimal("9.99e99")


def test_exact_book_with_a_non_finite_level_is_malformed() -> None:
    frame = _ws("book")[1].replace('"qty": 1098.3947558', '"qty": "Infinity"')
    decoder = FrameDecoder()
    with pytest.raises(MalformedFrame) as info:
        decoder.decode_exact_book(frame)
    assert info.value.path == "$.data[0].bids[0].qty"
    assert decoder.statistics()["malformed"] == 1


def test_float_book_levels_already_refuse_non_finite_numbers() -> None:
    # Why the book's hot path needs no check: JSON has no NaN, 1e999 is out of a float's
    # range, and a float field takes no string.
    for value in ("1e999", '"NaN"', '"Infinity"'):
        frame = _ws("book")[1].replace('"qty": 1098.3947558', f'"qty": {value}')
        with pytest.raises(MalformedFrame):
            FrameDecoder().decode(frame)


def test_bad_number_names_the_first_insane_number() -> None:
    fees = [wire.Fee(asset="USD", qty=Decimal("-inf"))]
    report = wire.ExecutionReport(exec_type="trade", fees=fees)
    assert wire.bad_number(report) == "$.fees[0].qty"
    assert wire.bad_number({"a": [1.5, float("nan")]}) == "$.a[1]"
    assert wire.bad_number(wire.Fee(asset="USD", qty=Decimal("1e99"))) is None


# --- the instrument snapshot, pair by pair --------------------------------------------------


def test_instrument_snapshot_skips_a_pair_that_does_not_decode() -> None:
    message = FrameDecoder().decode(_ws("instrument_odd_pair")[0])
    assert isinstance(message, wire.InstrumentMessage)
    assert [pair.symbol for pair in message.data.pairs] == ["BTC/USD", "ETH/USD"]
    assert [asset.id for asset in message.data.assets] == ["BTC"]
    skipped = {(s.kind, s.name): s.path for s in message.data.skipped}
    assert skipped == {
        ("asset", "ODD"): "$.data.assets[1].precision",
        ("pair", "ODD/USD"): "$.data.pairs[1].price_precision",
        ("pair", "NAN/USD"): "$.data.pairs[2].qty_min",
    }


def test_skipped_instrument_entries_are_counted_not_malformed() -> None:
    decoder = FrameDecoder()
    decoder.decode(_ws("instrument_odd_pair")[0])
    decoder.decode(_ws("instrument_odd_pair")[0].encode())
    stats = decoder.statistics()
    assert (stats["skipped"], stats["malformed"], stats["instrument"]) == (6, 0, 2)


def test_a_skipped_pair_keeps_the_reason_and_a_copy_for_the_audit() -> None:
    message = FrameDecoder().decode(_ws("instrument_odd_pair")[0])
    assert isinstance(message, wire.InstrumentMessage)
    odd = next(s for s in message.data.skipped if s.name == "ODD/USD")
    assert odd.reason == "Expected `int`, got `str`"
    assert odd.raw.startswith('{"symbol": "ODD/USD"')


def test_a_pair_without_a_readable_symbol_is_skipped_with_an_empty_name() -> None:
    frame = '{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[17]}}'
    message = FrameDecoder().decode(frame)
    assert isinstance(message, wire.InstrumentMessage)
    assert [(s.name, s.path) for s in message.data.skipped] == [("", "$.data.pairs[0]")]


def test_instrument_data_that_is_not_an_object_is_still_malformed() -> None:
    with pytest.raises(MalformedFrame) as info:
        FrameDecoder().decode('{"channel":"instrument","type":"snapshot","data":[]}')
    assert info.value.path == "$.data"
