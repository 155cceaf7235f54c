"""Names of assets and pairs: REST (``XXBT``, ``XXBTZUSD``) and WebSocket v2 (``BTC``, ``BTC/USD``).

Kraken's REST API keys assets by legacy codes (X-prefixed crypto, Z-prefixed fiat) for the old
assets and plain codes for new ones; pairs by a canonical name (``XXBTZUSD``), an altname
(``XBTUSD``) and a v1 WS name (``XBT/USD``). WS v2 uses ``BTC`` and ``BTC/USD``. The map is built
from REST ``AssetPairs`` (and ``Assets`` altnames where known) at start-up; the fallback table
below covers only the legacy codes whose v2 name differs, so the engine works before the first
AssetPairs call and with captures that never made one.

Fallback table (REST or v1 code -> v2 code)::

    XXBT, XBT -> BTC     XXDG, XDG -> DOGE    XETH -> ETH    XXRP -> XRP    XLTC -> LTC
    XXLM -> XLM          XXMR -> XMR          XETC -> ETC    XZEC -> ZEC    XMLN -> MLN
    XREP -> REP          ZUSD -> USD          ZEUR -> EUR    ZGBP -> GBP    ZJPY -> JPY
    ZCAD -> CAD          ZAUD -> AUD

Modern codes, including those that really start with X or Z (``XRP``, ``XTZ``, ``ZEC``), are kept.
Balance suffixes (``.S`` staked, ``.M``, ``.B``, ``.F``, ``.T``) are kept on the normalised code.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final

import msgspec

from galfriday.errors import ExchangeError

__all__ = ["FALLBACK_ASSETS", "AssetPair", "SymbolMap", "UnknownSymbol"]

FALLBACK_ASSETS: Final[Mapping[str, str]] = {
    "XXBT": "BTC",
    "XBT": "BTC",
    "XXDG": "DOGE",
    "XDG": "DOGE",
    "XETH": "ETH",
    "XXRP": "XRP",
    "XLTC": "LTC",
    "XXLM": "XLM",
    "XXMR": "XMR",
    "XETC": "ETC",
    "XZEC": "ZEC",
    "XMLN": "MLN",
    "XREP": "REP",
    "ZUSD": "USD",
    "ZEUR": "EUR",
    "ZGBP": "GBP",
    "ZJPY": "JPY",
    "ZCAD": "CAD",
    "ZAUD": "AUD",
}
_PREFERRED_REST: Final[Mapping[str, str]] = {
    "BTC": "XXBT",
    "DOGE": "XXDG",
    "ETH": "XETH",
    "XRP": "XXRP",
    "LTC": "XLTC",
    "XLM": "XXLM",
    "XMR": "XXMR",
    "ETC": "XETC",
    "ZEC": "XZEC",
    "MLN": "XMLN",
    "REP": "XREP",
    "USD": "ZUSD",
    "EUR": "ZEUR",
    "GBP": "ZGBP",
    "JPY": "ZJPY",
    "CAD": "ZCAD",
    "AUD": "ZAUD",
}


_ALTNAME_BASE: Final[Mapping[str, str]] = {"BTC": "XBT", "DOGE": "XDG"}


def _is_legacy(rest_code: str) -> bool:
    return len(rest_code) == 4 and rest_code[0] in "XZ" and rest_code in FALLBACK_ASSETS


class UnknownSymbol(ExchangeError, KeyError):
    """A pair name that is in neither the AssetPairs data nor derivable from the fallback."""


class AssetPair(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of REST ``AssetPairs`` (the fields galfriday uses)."""

    altname: str
    base: str
    quote: str
    wsname: str | None = None
    pair_decimals: int | None = None
    lot_decimals: int | None = None
    cost_decimals: int | None = None
    ordermin: Decimal | None = None
    costmin: Decimal | None = None
    tick_size: Decimal | None = None
    status: str | None = None


class SymbolMap:
    """Two-way names for assets and pairs.

    Args:
        assets: extra REST asset code -> v2 code pairs (override the fallback).
        pairs: REST pair names (canonical, altname, v1 wsname) -> v2 symbol.
        canonical: v2 symbol -> canonical REST pair name.
    """

    def __init__(
        self,
        assets: Mapping[str, str] | None = None,
        pairs: Mapping[str, str] | None = None,
        canonical: Mapping[str, str] | None = None,
    ) -> None:
        self._assets = {**FALLBACK_ASSETS, **(assets or {})}
        self._rest_assets = dict(_PREFERRED_REST)
        for rest, ws in (assets or {}).items():
            self._rest_assets[ws] = rest
        self._pairs = dict(pairs or {})
        self._canonical = dict(canonical or {})

    @classmethod
    def from_asset_pairs(
        cls, asset_pairs: Mapping[str, AssetPair], asset_altnames: Mapping[str, str] | None = None
    ) -> SymbolMap:
        """Build from REST ``AssetPairs`` (and optionally ``Assets``: code -> altname)."""
        assets: dict[str, str] = {}
        for code, altname in (asset_altnames or {}).items():
            assets[code] = FALLBACK_ASSETS.get(altname, FALLBACK_ASSETS.get(code, altname))
        probe = cls(assets)
        pairs: dict[str, str] = {}
        canonical: dict[str, str] = {}
        for name, info in asset_pairs.items():
            symbol = f"{probe.ws_asset(info.base)}/{probe.ws_asset(info.quote)}"
            for alias in (name, info.altname, info.wsname):
                if alias:
                    pairs[alias] = symbol
            canonical[symbol] = name
        return cls(assets, pairs, canonical)

    def merge(self, other: SymbolMap) -> None:
        """Take every name ``other`` knows (it wins where both know one)."""
        self._assets.update(other._assets)
        self._rest_assets.update(other._rest_assets)
        self._pairs.update(other._pairs)
        self._canonical.update(other._canonical)

    def ws_asset(self, code: str) -> str:
        """The v2 code of a REST asset: ``XXBT`` -> ``BTC``, ``XETH.S`` -> ``ETH.S``."""
        base, dot, suffix = code.partition(".")
        return self._assets.get(base, base) + dot + suffix

    def rest_asset(self, code: str) -> str:
        """The REST code of a v2 asset: ``BTC`` -> ``XXBT``, ``DOT`` -> ``DOT``."""
        base, dot, suffix = code.partition(".")
        return self._rest_assets.get(base, base) + dot + suffix

    def ws_symbol(self, rest_pair: str) -> str:
        """The v2 symbol of a REST pair name (canonical, altname or v1 wsname).

        Without AssetPairs data, ``XBT/USD``-style names are translated asset by asset, and
        legacy names (``XXBTZUSD``, ``XDGUSD``) by splitting off a known legacy base code.

        Raises:
            UnknownSymbol: the name is neither known nor of the ``BASE/QUOTE`` form.
        """
        known = self._pairs.get(rest_pair)
        if known is not None:
            return known
        base, slash, quote = rest_pair.partition("/")
        if slash and base and quote:
            return f"{self.ws_asset(base)}/{self.ws_asset(quote)}"
        for split in (4, 3):  # legacy names: XXBTZUSD, XETHXXBT, XDGUSD
            base, quote = rest_pair[:split], rest_pair[split:]
            if base in FALLBACK_ASSETS and (quote in FALLBACK_ASSETS or quote.isalpha()):
                return f"{self.ws_asset(base)}/{self.ws_asset(quote)}"
        raise UnknownSymbol(rest_pair)

    def rest_pair(self, symbol: str) -> str:
        """The canonical REST pair name of a v2 symbol: ``BTC/USD`` -> ``XXBTZUSD``.

        Without AssetPairs data this falls back to the legacy rule (both codes mapped and
        joined), which is right for the old pairs and for plain ones such as ``SOLUSD``.

        Raises:
            UnknownSymbol: ``symbol`` is not of the ``BASE/QUOTE`` form.
        """
        known = self._canonical.get(symbol)
        if known is not None:
            return known
        base, slash, quote = symbol.partition("/")
        if not (slash and base and quote):
            raise UnknownSymbol(symbol)
        rest_base, rest_quote = self.rest_asset(base), self.rest_asset(quote)
        if _is_legacy(rest_base) and rest_base != "XXDG" and _is_legacy(rest_quote):
            return rest_base + rest_quote
        return _ALTNAME_BASE.get(base, base) + quote

    def symbols(self) -> Iterable[str]:
        """The v2 symbols known from AssetPairs data."""
        return self._canonical.keys()
