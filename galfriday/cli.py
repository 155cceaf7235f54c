"""The ``galfriday`` command line. The only module that prints or configures logging.

Rules:
- Bad arguments, configs and files get one line naming the argument and the fix, exit 2, and
  nothing changed on disk.
- The long-running commands (``run``, ``reconcile``, ``sim``) stop cleanly, exit 0, on a Ctrl-C
  or SIGTERM at any moment: from the parsed arguments on, a stop signal is remembered (never a
  KeyboardInterrupt in the middle of start-up) and handed to the command's receiver
  (:func:`galfriday.signals.stop_signals`) as soon as it opens.
- Output cut short by its reader (``galfriday report | head -1``) ends the command quietly with
  exit 141, what a shell reports for any program stopped by SIGPIPE.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NoReturn, TextIO

from galfriday.arguments import (
    add_backtest_arguments,
    add_replay_arguments,
    add_report_arguments,
    add_review_arguments,
    add_run_arguments,
    add_stop_arguments,
    log_level,
)
from galfriday.errors import ConfigError, StorageFailure, StrategyFailed
from galfriday.signals import foreground_group_of_our_own, held_stop_signals

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "EXIT_USAGE", "main"]

EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT: a command other than run/sim stopped by Ctrl-C
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE: the reader of our output went away
LONG_RUNNING: Final = frozenset({"run", "reconcile", "sim"})

EXIT_CODES = """\
exit codes:
  0    done; run and sim also when stopped by Ctrl-C or SIGTERM
  1    a check failed (decode, replay --verify, soak), the engine stopped because its
       audit database could not be written, or a strategy failed with on_error = "exit"
       (or in a backtest); one line on stderr says why
  3    status: no engine is running on the database
  2    bad input: one line on stderr naming the argument or file, nothing changed
  130  interrupted by Ctrl-C (reconcile before its report, report, replay, ...)
  141  output closed early by its reader (galfriday report | head -1), quietly
"""


class _Version(argparse.Action):
    """``--version``, reading the installed version only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help=str(kwargs.get("help", "")))

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        import galfriday

        parser.exit(0, f"galfriday {galfriday.__version__}\n")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="galfriday",
        description="Keeps a trading bot's view of its Kraken spot account true in real time.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    parser.add_argument(
        "--db",
        type=Path,
        dest="db_first",
        metavar="DB",
        help="audit database of the command (also accepted after it, e.g. review list --db X)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser(
        "run",
        help="run the engine (default: against the embedded simulator, a paper account)",
        description=(
            "Run the engine. Without --config: galfriday's simulator on loopback, a paper "
            "account and a small demo strategy, writing ./galfriday.db. With --config FILE: "
            "the URLs of the file (real Kraken included), with KRAKEN_API_KEY and "
            "KRAKEN_API_SECRET from the environment. Stops cleanly, exit 0, on Ctrl-C or "
            "SIGTERM at any moment (also during start-up)."
        ),
    )
    add_run_arguments(run)

    reconcile = commands.add_parser(
        "reconcile",
        help="reconcile once now and print the report",
        description=(
            "Start the engine (as galfriday run would, without the demo), reconcile once "
            "against the exchange (or the embedded simulator), print the report, and stop. "
            "A Ctrl-C before the report stops it cleanly with exit 130."
        ),
    )
    add_run_arguments(reconcile)

    report = commands.add_parser(
        "report",
        help="show reconciliation reports from the audit database",
        description="Show reconciliation runs: summary, discrepancies by severity, "
        "corrections and review items.",
    )
    add_report_arguments(report)

    review = commands.add_parser(
        "review",
        help="list, show and resolve the manual review queue",
        description="The discrepancies reconciliation left for a person. A decision is "
        "recorded here and applied by the running engine.",
    )
    add_review_arguments(review)

    sim = commands.add_parser(
        "sim",
        help="run galfriday's Kraken simulator on loopback (no account, no network)",
        description=(
            "Serve Kraken's WebSocket v2 (public and private) and REST APIs on loopback with a "
            "seeded market and one account. The first line on stdout is a JSON object with the "
            "URLs (ws_public, ws_private, rest) and the API key. Runs until Ctrl-C or SIGTERM "
            "(exit 0). Order, trade and ledger ids carry a tag of their own in every run, so "
            "a restarted simulator never repeats one; the market follows --seed."
        ),
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sim.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    sim.add_argument("--public-port", type=_port, default=0, help="public WS port (0: free)")
    sim.add_argument("--private-port", type=_port, default=0, help="private WS port (0: free)")
    sim.add_argument("--rest-port", type=_port, default=0, help="REST port (0: free)")
    sim.add_argument("--seed", type=int, default=1, help="market seed (same seed, same market)")
    sim.add_argument(
        "--rate",
        type=float,
        default=50.0,
        help="background market events per second, all pairs (default 50)",
    )
    sim.add_argument(
        "--pair",
        action="append",
        default=[],
        metavar="SYMBOL=MID:PP:QP:MIN",
        help="add a pair, e.g. SOL/USD=150:2:8:0.02 (mid price, price and "
        "quantity decimals, minimum order size); repeatable",
    )
    sim.add_argument(
        "--api-key",
        default=None,
        help="the account's API key (env GALFRIDAY_SIM_API_KEY; default: the documented test key)",
    )
    sim.add_argument(
        "--chaos",
        type=float,
        default=0.0,
        metavar="N",
        help="inject N random faults a minute (default 0: none)",
    )
    sim.add_argument("--chaos-seed", type=int, default=1, help="seed of the fault schedule")
    sim.add_argument(
        "--rest-counter",
        type=_counter,
        default=(20.0, 0.5),
        metavar="MAX:DECAY",
        help="the key's REST call counter: maximum and decay a second (default 20:0.5, "
        "Kraken's intermediate tier)",
    )
    sim.add_argument(
        "--from-capture",
        type=Path,
        action="append",
        metavar="FILE",
        help="serve this capture's public market data instead of a live market (repeatable, "
        "in order); only the public WebSocket is served",
    )
    sim.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="N",
        help="with --from-capture: N times as fast as recorded (default 1)",
    )
    sim.add_argument(
        "--loop", action="store_true", help="with --from-capture: start over at the end"
    )
    sim.add_argument(
        "--restamp",
        action="store_true",
        help="with --from-capture: book timestamps become the send time (latency measurements)",
    )
    sim.add_argument(
        "--log-level", type=log_level, default="INFO", help="stderr log level (default INFO)"
    )

    replay = commands.add_parser(
        "replay",
        help="replay captured sessions through the engine into a new audit database",
        description=(
            "Feed capture files (written by galfriday run into ./captures) through the same "
            "decoders, books, order tracking, reconciliation and audit writer, into a new "
            "database. Prints a summary; --verify compares it with the live session's database."
        ),
    )
    add_replay_arguments(replay)

    backtest = commands.add_parser(
        "backtest",
        help="run a strategy over captures with paper fills, deterministically; a report",
        description="Run a strategy (as galfriday run would) over the market data of "
        "captures, its orders filled by galfriday's paper venue, on the captures' own time: "
        "the same captures, strategy and parameters give identical databases. Prints a "
        "report (orders, fills, fees, P&L, maximum position, drawdown); --json for programs.",
    )
    add_backtest_arguments(backtest)

    stop = commands.add_parser(
        "stop",
        help="the kill switch: the engine's strategy stops trading, its orders cancelled",
        description="Create the kill switch's file (DB.stop, or [rails] kill_file). A running "
        "engine sees it within a second: the strategy stops trading and its open orders are "
        "cancelled; the account view goes on. No order goes out while the file exists.",
    )
    add_stop_arguments(stop)

    status = commands.add_parser(
        "status",
        help="health, books, last reconciliation, review items and disk, from the database",
        description="Read the audit database of a running or stopped engine and show its "
        "connections' state and health, books verified, the last reconciliation, open "
        "review items and the disk used by the database and the captures.",
    )
    status.add_argument("--db", type=Path, default=Path("galfriday.db"), help="audit database")
    status.add_argument(
        "--captures", type=Path, default=Path("captures"), help="capture folder (./captures)"
    )
    status.add_argument("--json", action="store_true", help="JSON instead of text")

    prune = commands.add_parser(
        "prune",
        help="delete captures and operational audit rows older than a date",
        description="Delete capture files and operational audit rows (connection events, "
        "health, book checks, REST calls, resyncs, gaps, alerts, anomalies) older than "
        "--before. Orders, fills, the ledger, adjustments, reconciliation runs and review "
        "items stay unless --include-trades. Safe beside a running engine.",
    )
    prune.add_argument(
        "--before", required=True, metavar="DATE", help="YYYY-MM-DD (UTC) or ISO 8601 time"
    )
    prune.add_argument("--db", type=Path, default=Path("galfriday.db"), help="audit database")
    prune.add_argument(
        "--captures", type=Path, default=Path("captures"), help="capture folder (./captures)"
    )
    prune.add_argument(
        "--include-trades",
        action="store_true",
        help="also closed orders, order events, fills, ledger, adjustments, runs, resolved "
        "reviews (never an open order or an open review item)",
    )
    prune.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")

    soak = commands.add_parser(
        "soak",
        help="run the engine against the simulator under random faults, then check it",
        description=(
            "Run the engine and the demo strategy against the embedded simulator while a "
            "seeded schedule injects every kind of fault, several a minute; then check that "
            "everything recovered, was detected, and equals the simulator's ground truth. "
            "Prints the figures; exit 1 if any check failed. Loopback only."
        ),
    )
    soak.add_argument(
        "minutes", nargs="?", type=float, default=5.0, help="how long (default 5, at least 0.5)"
    )
    soak.add_argument("--seed", type=int, default=1, help="seed of the market and the faults")
    soak.add_argument(
        "--dir",
        type=Path,
        help="keep the database and captures here (default: a temporary "
        "folder, removed when every check passed)",
    )
    soak.add_argument(
        "--cpu-load",
        type=int,
        default=0,
        metavar="N",
        help="run N busy processes beside it (a small VPS busy with other work; default 0)",
    )
    soak.add_argument(
        "--log-level", type=log_level, default="WARNING", help="stderr log level (default WARNING)"
    )

    decode = commands.add_parser(
        "decode",
        help="decode Kraken WebSocket v2 frames (one JSON object per line) and count them",
        description=(
            "Decode Kraken WebSocket v2 frames, one JSON object per line, from files or standard "
            "input. Prints each malformed frame with its line and msgspec path, then a count per "
            "channel or method. Exit 1 if any frame was malformed."
        ),
    )
    decode.add_argument("files", nargs="*", type=Path, metavar="FILE", help="default: stdin")
    decode.add_argument("--quiet", action="store_true", help="print only the summary")
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not in 0..65535")
    return port


def _counter(text: str) -> tuple[float, float]:
    maximum, _, decay = text.partition(":")
    try:
        return float(maximum), float(decay)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MAX:DECAY, e.g. 20:0.5") from None


def _decode(files: Sequence[Path], quiet: bool, out: TextIO) -> int:
    from galfriday.errors import MalformedFrame
    from galfriday.kraken.wire import FrameDecoder, UnknownFrame

    decoder = FrameDecoder()
    sources: list[tuple[str, TextIO]] = []
    for path in files:
        try:
            sources.append((str(path), path.open(encoding="utf-8", errors="replace")))
        except OSError as exc:
            raise ConfigError(str(path), f"cannot be read ({exc.strerror})") from exc
    if not files:
        sources.append(("<stdin>", sys.stdin))
    for name, stream in sources:
        with stream:
            for number, line in enumerate(stream, 1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                try:
                    message = decoder.decode(text)
                except MalformedFrame as exc:
                    print(f"{name}:{number}: {exc}", file=out)
                    continue
                if not quiet and isinstance(message, UnknownFrame):
                    print(f"{name}:{number}: unknown {message.kind} {message.name!r}", file=out)
    stats = decoder.statistics()
    for key in sorted(stats):
        print(f"{stats[key]:>10}  {key}", file=out)
    return 1 if decoder.malformed else 0


def _dispatch(args: argparse.Namespace) -> int:
    # Each command imports its machinery only when it runs (galfriday --help stays fast).
    if args.command == "sim":
        from galfriday.sim.cli import run_sim

        return run_sim(args, sys.stdout)
    if args.command in ("run", "reconcile"):
        from galfriday.app import run as run_app

        return run_app(args, reconcile_once=args.command == "reconcile")
    if args.command == "replay":
        from galfriday.replay.command import replay_command

        return replay_command(args, sys.stdout)
    if args.command in ("status", "prune"):
        from galfriday import ops

        command = ops.status_command if args.command == "status" else ops.prune_command
        return command(args, sys.stdout)
    if args.command == "backtest":
        from galfriday.backtest.command import backtest_command

        return backtest_command(args, sys.stdout)
    if args.command == "stop":
        from galfriday.stop import stop_command

        return stop_command(args, sys.stdout)
    if args.command == "soak":
        from galfriday.soak import soak_command

        return soak_command(args, sys.stdout)
    if args.command in ("report", "review"):
        from galfriday.reconcile import commands

        command = commands.report if args.command == "report" else commands.review
        return command(args, sys.stdout)
    return _decode(args.files, args.quiet, sys.stdout)


def _db_first(args: argparse.Namespace) -> None:
    """``galfriday --db X status``: a ``--db`` before the command counts as one after it."""
    first = vars(args).pop("db_first", None)
    if first is None:
        return
    if not hasattr(args, "db"):
        raise ConfigError("--db", f"galfriday {args.command} takes no audit database")
    if args.db not in (None, Path("galfriday.db"), first):
        raise ConfigError("--db", f"given twice ({first} and {args.db}): give it once")
    args.db = first


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    long_running = args.command in LONG_RUNNING
    try:
        _db_first(args)
        with held_stop_signals(long_running), foreground_group_of_our_own(long_running):
            code = _dispatch(args)
            sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except ConfigError as exc:
        print(f"galfriday: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StorageFailure, StrategyFailed) as exc:
        print(f"galfriday: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        # Python's recipe: whatever is still buffered goes nowhere instead of failing again
        # (and printing a traceback) when the interpreter flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
