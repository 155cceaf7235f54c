"""Log lines as flat JSON objects, for ``--log-json``: what a log shipper indexes directly.

Each line is one object: ``time`` (ISO 8601 with the offset), ``level``, ``message``, then every
field bound with ``logger.bind(...)`` or ``logger.contextualize(...)`` (``conn``, ``symbol``,
...) at the top level, and ``exception`` (the traceback as text) when there is one. loguru's own
``serialize=True`` nests all of that inside a ``record`` with process, thread and file details;
these lines leave them out. A bound field never overwrites the four above.

Use :func:`json_format` as a loguru sink's ``format`` (with ``colorize=False``).
"""

from __future__ import annotations

import json
import traceback
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from loguru import Record

__all__ = ["json_format", "json_line"]

_KEY: Final = "_galfriday_json"  # where json_format leaves the line for loguru to print
_FIXED: Final = ("time", "level", "message", "exception")


def json_line(record: Record) -> str:
    """One record as a flat JSON object (no newline)."""
    fields: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "message": record["message"],
    }
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        fields["exception"] = "".join(
            traceback.format_exception(exception.type, exception.value, exception.traceback)
        )
    for key, value in record["extra"].items():
        if key not in _FIXED and not key.startswith("_"):
            fields[key] = value
    return json.dumps(fields, default=str, ensure_ascii=False)


def json_format(record: Record) -> str:
    """loguru ``format``: the record's :func:`json_line` and a newline.

    The line travels in the record's ``extra`` and is substituted by loguru, so braces and
    angle brackets in a message are printed as they are, never read as a template.
    """
    record["extra"][_KEY] = json_line(record)
    return "{extra[" + _KEY + "]}\n"
