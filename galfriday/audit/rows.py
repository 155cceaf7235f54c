"""Audit rows as producers hand them over, and their values as SQLite stores them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import msgspec

__all__ = ["AuditRow", "Rejected", "sql_value"]

_JSON: Final = msgspec.json.Encoder(decimal_format="string")


@dataclass(frozen=True)
class AuditRow:
    """One row for ``table``: column names to values (converted by :func:`sql_value`)."""

    table: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Rejected:
    """A row the database refused for a reason retrying cannot fix (a bug of ours)."""

    row: AuditRow
    reason: str
    unknown_table: bool = False


def sql_value(value: Any) -> Any:
    """``Decimal`` as its exact text, ``datetime`` ISO 8601, an enum its value, a sequence or
    mapping JSON (e.g. fees ``[["USD","0.3458"]]``); anything else as it is."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list | dict):
        return _JSON.encode(value).decode()
    return value
