"""The reconciliation queries, now in :mod:`galfriday.audit.queries` (where all the audit
database's SQL lives); these names stay until ``app.py`` imports them from there."""

from __future__ import annotations

from galfriday.audit.queries import (
    DECISIONS,
    adjustments,
    discrepancies,
    open_database,
    resolve,
    review_item,
    review_items,
    run,
    runs,
)

__all__ = [
    "DECISIONS",
    "adjustments",
    "discrepancies",
    "open_database",
    "resolve",
    "review_item",
    "review_items",
    "run",
    "runs",
]
