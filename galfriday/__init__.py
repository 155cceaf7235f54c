"""galfriday: keeps a trading bot's view of its Kraken spot account true in real time.

The public API is what :data:`__all__` names (docs/api.md describes each name); everything
else may change in any release. ``import galfriday`` is cheap: each public name is imported
the first time it is used.

The package logs through loguru but disables its own logger here; only the CLI turns it on
and chooses sinks, so a library user sees nothing unless they ask for it
(``loguru.logger.enable("galfriday")``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Final

from loguru import logger

if TYPE_CHECKING:
    from galfriday.api import Engine, open_engine
    from galfriday.bus import SubscriberTooSlow
    from galfriday.core.health import Health
    from galfriday.core.pnl import SymbolPnl
    from galfriday.errors import (
        ConfigError,
        ExchangeError,
        GalfridayError,
        InvalidRequest,
        KrakenApiError,
        OrderOutcomeUnknown,
        OrderRejected,
        RailRefused,
        StrategyFailed,
        TradingHalted,
    )
    from galfriday.events import (
        Alert,
        BalanceChange,
        BookUpdate,
        CandleUpdate,
        ConnectionState,
        ConnectionStateChanged,
        Discrepancy,
        Event,
        FillEvent,
        GapDetected,
        HealthChanged,
        OrderAnomaly,
        OrderStatus,
        OrderUpdate,
        OrderView,
        PnlUpdate,
        ReconciliationReport,
        ResyncStarted,
        Severity,
        TickerUpdate,
        TradePrint,
    )
    from galfriday.settings import Settings, load_config
    from galfriday.strategy import Strategy
    from galfriday.views import Book, Instrument, Level

logger.disable("galfriday")

# public name -> the module that defines it
_HOMES: Final = {
    **dict.fromkeys(("Engine", "open_engine"), "galfriday.api"),
    **dict.fromkeys(("Book", "Instrument", "Level"), "galfriday.views"),
    **dict.fromkeys(("Settings", "load_config"), "galfriday.settings"),
    "SubscriberTooSlow": "galfriday.bus",
    "Strategy": "galfriday.strategy",
    "Health": "galfriday.core.health",
    "SymbolPnl": "galfriday.core.pnl",
    **dict.fromkeys(
        (
            "ConfigError",
            "ExchangeError",
            "GalfridayError",
            "InvalidRequest",
            "KrakenApiError",
            "OrderOutcomeUnknown",
            "OrderRejected",
            "RailRefused",
            "StrategyFailed",
            "TradingHalted",
        ),
        "galfriday.errors",
    ),
    **dict.fromkeys(
        (
            "Alert",
            "BalanceChange",
            "BookUpdate",
            "CandleUpdate",
            "ConnectionState",
            "ConnectionStateChanged",
            "Discrepancy",
            "Event",
            "FillEvent",
            "GapDetected",
            "HealthChanged",
            "OrderAnomaly",
            "OrderStatus",
            "OrderUpdate",
            "OrderView",
            "PnlUpdate",
            "ReconciliationReport",
            "ResyncStarted",
            "Severity",
            "TickerUpdate",
            "TradePrint",
        ),
        "galfriday.events",
    ),
}

__all__ = [
    "Alert",
    "BalanceChange",
    "Book",
    "BookUpdate",
    "CandleUpdate",
    "ConfigError",
    "ConnectionState",
    "ConnectionStateChanged",
    "Discrepancy",
    "Engine",
    "Event",
    "ExchangeError",
    "FillEvent",
    "GalfridayError",
    "GapDetected",
    "Health",
    "HealthChanged",
    "Instrument",
    "InvalidRequest",
    "KrakenApiError",
    "Level",
    "OrderAnomaly",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderStatus",
    "OrderUpdate",
    "OrderView",
    "PnlUpdate",
    "RailRefused",
    "ReconciliationReport",
    "ResyncStarted",
    "Settings",
    "Severity",
    "Strategy",
    "StrategyFailed",
    "SubscriberTooSlow",
    "SymbolPnl",
    "TickerUpdate",
    "TradePrint",
    "TradingHalted",
    "__version__",
    "load_config",
    "open_engine",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from galfriday.version import version

        return version()
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'galfriday' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # the next use is a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__
