"""``galfriday report`` and ``galfriday review``: reading runs and deciding on review items.

Only this module and the CLI print; the SQL is :mod:`galfriday.audit.queries`. Times are
shown in UTC (``2027-01-15 08:00:00 UTC``), never as the epoch seconds the database keeps.
``report --discrepancies`` shows the last N runs that found discrepancies, however many clean
runs came after them.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from galfriday.audit import queries
from galfriday.errors import ConfigError

__all__ = ["print_run", "report", "review"]

SEVERITIES = ("critical", "high", "medium", "low")


def _say(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")


def _when(wall: float | None) -> str:
    if wall is None:
        return "-"
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    if not rows:
        _say(out, "  (none)")
        return
    cells = [[str(row.get(c) if row.get(c) is not None else "") for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    for line in [columns, *cells]:
        _say(out, "  " + "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))


def print_run(conn: Any, run: dict[str, Any], out: TextIO) -> None:
    """One run as a readable report."""
    _say(out, f"reconciliation {run['id']}  {_when(run['at_wall'])} UTC  ({run['type']})")
    _say(
        out,
        f"  status {run['status']}: {run['discrepancies']} discrepancies, "
        f"{run['auto_corrected']} corrected, {run['manual_review']} to review, "
        f"{run['explained']} explained; {run['rest_calls']} REST calls, "
        f"{run['duration_ms']:.0f} ms",
    )
    if run.get("error"):
        _say(out, f"  error: {run['error']}")
    details = json.loads(run.get("report") or "{}")
    if details.get("deferred"):
        _say(out, f"  deferred to the next run: {', '.join(details['deferred'])}")
    if details.get("not_covered"):
        _say(
            out,
            "  not read to the end of the window (page budget): "
            + ", ".join(details["not_covered"]),
        )
    found = queries.discrepancies(conn, run["id"])
    counts = {s: sum(1 for d in found if d["severity"] == s) for s in SEVERITIES}
    _say(out, "discrepancies by severity: " + ", ".join(f"{s} {n}" for s, n in counts.items()))
    _table(found, ["severity", "kind", "subject", "internal", "exchange"], out)
    _say(out, "corrections and explanations:")
    _table(
        queries.adjustments(conn, run_id=run["id"]),
        ["adjustment_type", "subject", "old_value", "new_value", "reason"],
        out,
    )
    items = [i for i in queries.review_items(conn, None) if i["reconciliation_id"] == run["id"]]
    _say(out, "review items:")
    _table(items, ["id", "severity", "kind", "subject", "status", "decision"], out)


def report(args: argparse.Namespace, out: TextIO) -> int:
    conn = queries.open_database(args.db)
    with conn:
        if args.run_id:
            selected = [r for r in [queries.run(conn, args.run_id)] if r is not None]
            if not selected:
                raise ConfigError(args.run_id, "no such reconciliation run")
        else:
            selected = queries.runs(conn, args.last, with_discrepancies=args.discrepancies)
        if args.json:
            documents = [
                {
                    **run,
                    "report": json.loads(run["report"] or "{}"),
                    "adjustments": queries.adjustments(conn, run_id=run["id"]),
                }
                for run in selected
            ]
            _say(out, json.dumps(documents, indent=2))
            return 0
        if not selected:
            _say(out, _nothing_to_report(conn))
        for run in selected:
            print_run(conn, run, out)
            _say(out)
    return 0


def _nothing_to_report(conn: Any) -> str:
    """Why ``report`` found nothing: no run at all, or (``--discrepancies``) only clean ones."""
    latest = queries.runs(conn, 1)
    if not latest:
        return "no reconciliation runs yet"
    last = latest[0]
    return (
        "no reconciliation run found discrepancies; the last, "
        f"{last['id']} at {_when(last['at_wall'])} UTC, was {last['status']}"
    )


def review(args: argparse.Namespace, out: TextIO) -> int:
    conn = queries.open_database(args.db)
    with conn:
        if args.action == "list":
            items = queries.review_items(conn, None if args.all else "open")
            rows = [{**i, "created": _when(i["created_wall"])} for i in items]
            columns = ["id", "created", "severity", "kind", "subject", "internal", "exchange"]
            _table(rows, [*columns, "status"], out)
            return 0
        if args.action == "show":
            item = queries.review_item(conn, args.item_id)
            if item is None:
                raise ConfigError(args.item_id, "no such review item; see galfriday review list")
            for key, value in item.items():
                shown = f"{_when(value)} UTC" if key.endswith("_wall") and value else value
                _say(out, f"{key:>18}: {shown}")
            return 0
        item = queries.resolve(conn, args.item_id, args.decision, args.note, time.time())
        _say(
            out,
            f"review item {item['id']} resolved: {item['decision']} ({item['note']}); "
            "a running engine applies it within seconds",
        )
    return 0
