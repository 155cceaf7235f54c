"""galfriday's version, read from the installed metadata when first asked for (reading it
costs more than importing most of the package)."""

from __future__ import annotations

from functools import cache

__all__ = ["version"]


@cache
def version() -> str:
    """The installed galfriday's version; ``0.0.0`` in a source tree never installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("galfriday")
    except PackageNotFoundError:
        return "0.0.0"
