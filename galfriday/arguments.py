"""The arguments of each command, kept apart so ``galfriday --help`` imports nothing heavy.

Each command's module imports its own machinery (trio, the engine, SQLite) only when the
command runs; parsing and help need only this module. A value argparse can check alone (a
number of seconds, a log level) is checked by its ``type`` function: one line, exit 2.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Final

__all__ = [
    "LOG_LEVELS",
    "add_replay_arguments",
    "add_report_arguments",
    "add_review_arguments",
    "add_run_arguments",
    "count",
    "log_level",
    "seconds",
]

LOG_LEVELS: Final = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


def seconds(text: str) -> float:
    """A positive, finite number of seconds (``nan``, ``inf`` and ``-1`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


def count(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 or more")
    return value


def log_level(text: str) -> str:
    """One of loguru's level names, in any case; returned in upper case."""
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return text.upper()


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML configuration; without it, the embedded simulator and a paper account",
    )
    parser.add_argument("--db", type=Path, help="audit database (default ./galfriday.db)")
    parser.add_argument("--read-only", action="store_true", help="never place orders")
    parser.add_argument(
        "--market-data-only",
        action="store_true",
        help="public market data only; no API keys needed",
    )
    parser.add_argument(
        "--no-demo",
        action="store_true",
        help="no demo strategy (embedded mode, or despite [demo] enabled = true)",
    )
    parser.add_argument(
        "--strategy",
        metavar="PKG.MODULE:NAME",
        help="the strategy to run (a class or an async function; default [strategy] entry, "
        "else the demo in embedded mode); see docs/strategies.md",
    )
    parser.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="a strategy parameter, over [strategy.params] (repeatable)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="embedded mode: the simulator's market seed (default: a fresh one, logged at "
        "start; order and trade ids differ between runs either way)",
    )
    parser.add_argument(
        "--duration", type=seconds, metavar="SECONDS", help="stop by itself after this long"
    )
    parser.add_argument(
        "--capture-dir",
        type=Path,
        help="where session captures go (default ./captures, or capture.folder)",
    )
    parser.add_argument("--no-capture", action="store_true", help="do not capture the session")
    parser.add_argument(
        "--log-json",
        action="store_true",
        help="logs as flat JSON lines: time, level, message and the bound fields",
    )
    parser.add_argument(
        "--log-level", type=log_level, default="INFO", help="log level (default INFO)"
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        help="also log to this file, rotated at 20 MB, the 10 newest kept (gzip)",
    )


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", nargs="?", metavar="ID", help="one run (default: the last)")
    parser.add_argument("--last", type=count, default=1, metavar="N", help="the last N runs")
    parser.add_argument(
        "--discrepancies",
        action="store_true",
        help="the last N runs that found discrepancies, however old",
    )
    parser.add_argument("--json", action="store_true", help="JSON instead of tables")
    parser.add_argument("--db", type=Path, default=Path("galfriday.db"), help="audit database")


def add_review_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=Path("galfriday.db"), help="audit database")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    listing = actions.add_parser("list", help="open review items (--all: every item)")
    listing.add_argument("--all", action="store_true")
    show = actions.add_parser("show", help="one review item in full")
    show.add_argument("item_id", metavar="ID")
    resolve = actions.add_parser("resolve", help="decide on a review item")
    resolve.add_argument("item_id", metavar="ID")
    for action in (listing, show, resolve):  # --db before or after the action
        action.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="audit database")
    decision = resolve.add_mutually_exclusive_group(required=True)
    decision.add_argument(
        "--accept-exchange",
        action="store_const",
        const="accept-exchange",
        dest="decision",
        help="take the exchange's value",
    )
    decision.add_argument(
        "--keep-internal",
        action="store_const",
        const="keep-internal",
        dest="decision",
        help="keep galfriday's value",
    )
    resolve.add_argument("--note", required=True, help="why (kept in the audit trail)")


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="capture files, in order (.gfcap)"
    )
    parser.add_argument(
        "--db", type=Path, help="audit database to create (default: beside the first capture)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the --db file if it exists"
    )
    parser.add_argument(
        "--speed",
        type=float,
        metavar="N",
        help="pace the records: 1 as recorded, 10 ten times faster (default: as fast as possible)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        help="write rows from this time on (UTC ISO 8601, or HH:MM[:SS] on the capture's day);"
        " earlier records still build state",
    )
    parser.add_argument("--to", dest="end", metavar="TIME", help="stop after this time")
    parser.add_argument(
        "--symbols", help="comma-separated pairs: market data of these only (e.g. BTC/USD)"
    )
    parser.add_argument(
        "--salvage", action="store_true", help="skip damaged stretches and report them"
    )
    parser.add_argument(
        "--verify",
        type=Path,
        metavar="SESSION_DB",
        help="compare the rows with the live session's database; exit 1 on any divergence",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
