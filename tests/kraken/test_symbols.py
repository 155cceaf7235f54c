from __future__ import annotations

import pytest

from galfriday.kraken.symbols import AssetPair, SymbolMap, UnknownSymbol

ASSET_PAIRS = {
    "XXBTZUSD": AssetPair(altname="XBTUSD", wsname="XBT/USD", base="XXBT", quote="ZUSD"),
    "XETHXXBT": AssetPair(altname="ETHXBT", wsname="ETH/XBT", base="XETH", quote="XXBT"),
    "XDGUSD": AssetPair(altname="XDGUSD", wsname="XDG/USD", base="XXDG", quote="ZUSD"),
    "XBTUSDT": AssetPair(altname="XBTUSDT", wsname="XBT/USDT", base="XXBT", quote="USDT"),
    "SOLUSD": AssetPair(altname="SOLUSD", wsname="SOL/USD", base="SOL", quote="ZUSD"),
    "XXRPZUSD": AssetPair(altname="XRPUSD", wsname="XRP/USD", base="XXRP", quote="ZUSD"),
}


@pytest.mark.parametrize(
    ("rest", "ws"),
    [
        ("XXBT", "BTC"),
        ("XBT", "BTC"),
        ("ZUSD", "USD"),
        ("XXDG", "DOGE"),
        ("XDG", "DOGE"),
        ("XETH", "ETH"),
        ("XXRP", "XRP"),
        ("DOT", "DOT"),
        ("USDT", "USDT"),
        ("XRP", "XRP"),
        ("XTZ", "XTZ"),
        ("ZEC", "ZEC"),
        ("XETH.S", "ETH.S"),
        ("DOT.S", "DOT.S"),
    ],
)
def test_assets_rest_to_ws(rest: str, ws: str) -> None:
    assert SymbolMap().ws_asset(rest) == ws


@pytest.mark.parametrize(
    ("ws", "rest"),
    [("BTC", "XXBT"), ("USD", "ZUSD"), ("DOGE", "XXDG"), ("DOT", "DOT"), ("USDT", "USDT")],
)
def test_assets_ws_to_rest(ws: str, rest: str) -> None:
    assert SymbolMap().rest_asset(ws) == rest


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("XXBTZUSD", "BTC/USD"),
        ("XBTUSD", "BTC/USD"),
        ("XBT/USD", "BTC/USD"),
        ("XETHXXBT", "ETH/BTC"),
        ("XDGUSD", "DOGE/USD"),
        ("XDG/USD", "DOGE/USD"),
        ("XBTUSDT", "BTC/USDT"),
        ("SOLUSD", "SOL/USD"),
        ("XRPUSD", "XRP/USD"),
    ],
)
def test_pairs_from_asset_pairs(name: str, symbol: str) -> None:
    assert SymbolMap.from_asset_pairs(ASSET_PAIRS).ws_symbol(name) == symbol


@pytest.mark.parametrize(
    ("symbol", "canonical"),
    [
        ("BTC/USD", "XXBTZUSD"),
        ("ETH/BTC", "XETHXXBT"),
        ("DOGE/USD", "XDGUSD"),
        ("BTC/USDT", "XBTUSDT"),
        ("SOL/USD", "SOLUSD"),
    ],
)
def test_canonical_rest_pair_from_data_and_from_the_fallback(symbol: str, canonical: str) -> None:
    assert SymbolMap.from_asset_pairs(ASSET_PAIRS).rest_pair(symbol) == canonical
    assert SymbolMap().rest_pair(symbol) == canonical


def test_v1_ws_names_translate_without_data() -> None:
    assert SymbolMap().ws_symbol("XBT/EUR") == "BTC/EUR"


def test_asset_altnames_from_the_assets_endpoint() -> None:
    symbols = SymbolMap.from_asset_pairs({}, {"XXBT": "XBT", "XTZ": "XTZ", "KFEE": "FEE"})
    assert symbols.ws_asset("KFEE") == "FEE"
    assert symbols.rest_asset("FEE") == "KFEE"


def test_unknown_names_raise() -> None:
    with pytest.raises(UnknownSymbol):
        SymbolMap().ws_symbol("NOSUCHPAIR1")
    with pytest.raises(UnknownSymbol):
        SymbolMap().rest_pair("BTCUSD")


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("XXBTZUSD", "BTC/USD"),
        ("XETHXXBT", "ETH/BTC"),
        ("XDGUSD", "DOGE/USD"),
        ("XXRPZUSD", "XRP/USD"),
        ("XBTUSDT", "BTC/USDT"),
    ],
)
def test_legacy_pair_names_translate_without_data(name: str, symbol: str) -> None:
    assert SymbolMap().ws_symbol(name) == symbol
