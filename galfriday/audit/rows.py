"""Audit rows as producers hand them over, and their values as SQLite stores them.

A producer hands over a typed row (:data:`~galfriday.audit.tables.Row`, one struct per table)
or, until every caller is typed, an :class:`AuditRow` (a table name and loose column values).
:func:`row_parts` turns either into what one ``executemany`` group needs: its key (table and
columns) and its values in SQLite's terms (:func:`sql_value`). For a typed row the columns
and which of them need converting are worked out once per struct, from its field types.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any, Final, TypeAlias, Union, get_args, get_origin

import msgspec

from galfriday.audit.tables import TABLES, Row

__all__ = ["AnyRow", "AuditRow", "GroupKey", "Rejected", "row_parts", "row_table", "sql_value"]

_JSON: Final = msgspec.json.Encoder(decimal_format="string")
_PLAIN: Final = frozenset({str, int, float, bool, bytes, NoneType})
_astuple: Final = msgspec.structs.astuple

GroupKey: TypeAlias = tuple[str, tuple[str, ...]]  # (table, columns) of one executemany


@dataclass(frozen=True)
class AuditRow:
    """One row for ``table``: column names to values (converted by :func:`sql_value`).

    The loose form :meth:`~galfriday.audit.writer.AuditWriter.write_nowait` queues; new code
    hands over a typed :data:`~galfriday.audit.tables.Row` instead."""

    table: str
    values: Mapping[str, Any]


AnyRow: TypeAlias = Row | AuditRow


@dataclass(frozen=True)
class Rejected:
    """A row the database refused for a reason retrying cannot fix (a bug of ours)."""

    row: AnyRow
    reason: str
    unknown_table: bool = False


def sql_value(value: Any) -> Any:
    """``Decimal`` as its exact text, ``datetime`` ISO 8601, an enum its value, a sequence or
    mapping JSON (e.g. fees ``[["USD","0.3458"]]``); anything else as it is."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list | dict):
        return _JSON.encode(value).decode()
    return value


@dataclass(frozen=True)
class _Layout:
    """How a typed row's struct becomes a record: its group key, and the positions of the
    fields whose values SQLite cannot take as they are."""

    key: GroupKey
    convert: tuple[int, ...]

    def record(self, row: Row) -> tuple[Any, ...]:
        values = _astuple(row)
        if not self.convert:
            return values
        converted = list(values)
        for at in self.convert:
            converted[at] = sql_value(converted[at])
        return tuple(converted)


def _plain(kind: Any) -> bool:
    """True if SQLite takes every value of this field type as it is (``str`` subclasses such
    as the engine's ``StrEnum``s included)."""
    options = get_args(kind) if get_origin(kind) in (Union, UnionType) else (kind,)
    return all(
        option is NoneType or (isinstance(option, type) and issubclass(option, str | int | float))
        for option in options
    )


def _layout(cls: type[Row]) -> _Layout:
    fields = msgspec.structs.fields(cls)
    columns = tuple(f.name for f in fields)
    convert = tuple(at for at, f in enumerate(fields) if not _plain(f.type))
    return _Layout((cls.__table__, columns), convert)


_LAYOUTS: Final[dict[type, _Layout]] = {cls: _layout(cls) for cls in TABLES.values()}


def row_parts(row: AnyRow) -> tuple[GroupKey, tuple[Any, ...]]:
    """The ``executemany`` group of ``row`` (table, columns) and its values for SQLite."""
    if isinstance(row, AuditRow):
        values = row.values
        return (row.table, tuple(values)), tuple(sql_value(v) for v in values.values())
    layout = _LAYOUTS.get(type(row))
    if layout is None:
        raise TypeError(f"not an audit row: {row!r}")
    return layout.key, layout.record(row)


def row_table(row: AnyRow) -> str:
    """The table ``row`` is for."""
    return row.table if isinstance(row, AuditRow) else row.__table__
