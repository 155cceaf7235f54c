"""The ``galfriday`` command line. The only module that prints or configures logging.

Bad arguments get one line naming the argument and the fix, and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from galfriday import __version__
from galfriday.errors import ConfigError, MalformedFrame
from galfriday.kraken.wire import FrameDecoder, UnknownFrame

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="galfriday",
        description="Keeps a trading bot's view of its Kraken spot account true in real time.",
    )
    parser.add_argument("--version", action="version", version=f"galfriday {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

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


def _decode(files: Sequence[Path], quiet: bool, out: TextIO) -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "decode":
            return _decode(args.files, args.quiet, sys.stdout)
    except ConfigError as exc:
        print(f"galfriday: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse only allows known ones
