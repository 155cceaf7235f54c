"""``just bench --compare OLD.json``: every figure of an earlier bench.json beside this run's.

Rules: the figures are the numeric leaves of both files, named by their path
(``d_book_handler.galfriday.us_per_update``); a figure in only one file is listed with a dash
for the other. The ratio is new / old, so whether higher is better depends on the figure (a
rate: higher; a time: lower): the table says which way each unit goes, never "better".
"""

from __future__ import annotations

import json
from pathlib import Path

# Name endings whose figure is a time or a size (lower is better); anything else is a rate
# or a count, read as it stands.
_LOWER_IS_BETTER = (
    "_us",
    "_ms",
    "_mb",
    "us_per_update",
    "us_per_frame",
    "_ms_best",
    "seconds",
    "bytes_per_frame",
)


def flatten(results: object, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a bench.json document, keyed by their dotted path."""
    if isinstance(results, dict):
        leaves: dict[str, float] = {}
        for key, value in results.items():
            leaves.update(flatten(value, f"{prefix}{key}."))
        return leaves
    if isinstance(results, bool) or not isinstance(results, int | float):
        return {}
    return {prefix.rstrip("."): float(results)}


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def compare_lines(old: object, new: object) -> list[str]:
    """The side-by-side table of two bench.json documents, one line per figure."""
    before, after = flatten(old), flatten(new)
    names = list(after) + [name for name in before if name not in after]
    width = max((len(name) for name in names), default=10)
    lines = [f"{'figure':<{width}}  {'before':>14}  {'after':>14}  {'after/before':>12}"]
    for name in names:
        was, now = before.get(name), after.get(name)
        ratio = f"{now / was:.2f}x" if was and now is not None else "-"
        hint = " (lower is better)" if name.endswith(_LOWER_IS_BETTER) else ""
        lines.append(f"{name:<{width}}  {_figure(was):>14}  {_figure(now):>14}  {ratio:>12}{hint}")
    return lines


def compare_files(old: Path, new: object) -> list[str]:
    """:func:`compare_lines` of the bench.json at ``old`` and this run's results."""
    return compare_lines(json.loads(old.read_text()), new)
