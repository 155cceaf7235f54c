"""Bounds on the numbers in decoded Kraken frames: finite, and below :data:`MAX_MAGNITUDE` in size.

Rules:
- A Decimal that is not finite (``"NaN"``, ``"sNaN"``, ``"-Infinity"``, any case or sign:
  msgspec accepts them from JSON strings) or not below :data:`MAX_MAGNITUDE` in size
  (``1e999999999`` overflows the first sum it enters) is a bad number; :func:`bad_number` gives
  the path of the first one (``$.data[0].price``).
- Floats are held to the same bound. Book levels are floats, which cannot hold such values
  (msgspec refuses ``1e999`` and strings there), so the decoder does not check the book path.
- :func:`suspect` is the fast test for the other channels: it compares each Decimal field with
  the bounds (a NaN signals when compared) and gives no path; only a frame that fails it is
  walked again with :func:`bad_number` to find the path.
- Each struct type's plan (which fields hold numbers) is worked out once and cached here.

Pure: no I/O, no clock, no trio.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final, TypeAlias

import msgspec

__all__ = ["BAD_NUMBER_REASON", "MAX_MAGNITUDE", "bad_number", "suspect"]


MAX_MAGNITUDE: Final = Decimal("1e100")
"""A decoded number must be finite and smaller than this in size (no real amount comes near)."""
_FLOAT_MAX: Final = float(MAX_MAGNITUDE)
BAD_NUMBER_REASON: Final = "not a finite number below 1e100"
"""The reason a frame (or an ``instrument`` entry) with a bad number is refused."""


def bad_number(value: object, path: str = "$") -> str | None:
    """The path of the first Decimal or float in ``value`` (a decoded struct, list, dict or
    number) that is not finite or not below :data:`MAX_MAGNITUDE` in size; None if none is."""
    if isinstance(value, Decimal):
        return None if value.is_finite() and -MAX_MAGNITUDE < value < MAX_MAGNITUDE else path
    if isinstance(value, float):
        return None if -_FLOAT_MAX < value < _FLOAT_MAX else path  # False for a NaN too
    items: Any = ()
    if isinstance(value, msgspec.Struct):
        fields = msgspec.structs.fields(value)
        items = ((f".{f.encode_name}", getattr(value, f.name)) for f in fields)
    elif isinstance(value, list | tuple):
        items = ((f"[{i}]", item) for i, item in enumerate(value))
    elif isinstance(value, dict):
        items = ((f".{key}", item) for key, item in value.items())
    for where, item in items:
        found = bad_number(item, path + where)
        if found is not None:
            return found
    return None


_Plan: TypeAlias = tuple[Callable[[Any], tuple[Any, ...]] | None, tuple[str, ...]]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    """A struct type's Decimal fields (as one getter) and its other fields that hold numbers
    (structs, or containers of Decimals)."""
    decimals, nested = [], []
    for field in msgspec.structs.fields(cls):
        union = typing.get_origin(field.type) in (typing.Union, types.UnionType)
        if Decimal in (typing.get_args(field.type) if union else (field.type,)):
            decimals.append(field.name)
        elif _holds_numbers(field.type):
            nested.append(field.name)
    numbers: Callable[[Any], tuple[Any, ...]] | None = None
    if len(decimals) == 1:
        one = attrgetter(decimals[0])
        numbers = lambda s: (one(s),)  # noqa: E731
    elif decimals:
        numbers = attrgetter(*decimals)
    return _PLANS.setdefault(cls, (numbers, tuple(nested)))


def _holds_numbers(kind: object) -> bool:
    if kind is Decimal or (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
        return True
    return any(_holds_numbers(arg) for arg in typing.get_args(kind))


def suspect(items: Sequence[Any]) -> bool:
    """True when a Decimal in ``items`` (structs of one type) breaks the rule that
    :func:`bad_number` states: the fast test (plain loops), which leaves the path to it."""
    if not items:
        return False
    numbers, nested = _PLANS.get(type(items[0])) or _plan(type(items[0]))
    if numbers is not None:
        low, high = -MAX_MAGNITUDE, MAX_MAGNITUDE
        try:
            for item in items:
                for x in numbers(item):
                    if x is not None and not low < x < high:  # an infinity fails here...
                        return True
        except ArithmeticError:  # ...and a NaN signals InvalidOperation when compared
            return True
    for name in nested:
        for item in items:
            value = getattr(item, name)
            if isinstance(value, msgspec.Struct):
                value = (value,)
            if not value:
                continue
            if isinstance(value, list | tuple) and isinstance(value[0], msgspec.Struct):
                if suspect(value):
                    return True
            elif bad_number(value) is not None:
                return True
    return False
