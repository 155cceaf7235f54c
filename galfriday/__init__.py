"""galfriday: keeps a trading bot's view of its Kraken spot account true in real time.

The package logs through loguru but disables its own logger here; only the CLI turns it on
and chooses sinks, so a library user sees nothing unless they ask for it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from loguru import logger

try:
    __version__ = version("galfriday")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

logger.disable("galfriday")

__all__ = ["__version__"]
