"""galfriday: keeps a trading bot's view of its Kraken spot account true in real time.

The package logs through loguru but disables its own logger here; only the CLI turns it on
and chooses sinks, so a library user sees nothing unless they ask for it.

``__version__`` is read from the installed metadata when first asked for (reading it costs
more than the rest of this import, and the command line starts faster without it).
"""

from __future__ import annotations

from loguru import logger

logger.disable("galfriday")

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("galfriday")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0.0.0"
    raise AttributeError(f"module 'galfriday' has no attribute {name!r}")
