"""``galfriday stop``: the kill switch, from another terminal or a script.

It creates the kill switch's file (``[rails] kill_file``; by default the database path plus
``.stop``, e.g. ``galfriday.db.stop``). A running engine looks for it every second: its
strategy stops trading, the strategy's open orders are cancelled, and the account view goes
on. While the file exists no order goes out, also after a restart. ``--clear`` removes it
(an engine that stopped trading resumes only when restarted).

It talks to no engine and no exchange: a file is the one thing that works the same for an
engine under systemd, in a container with a shared volume, or in a terminal.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from galfriday.config import load_config
from galfriday.settings import kill_file

__all__ = ["add_stop_arguments", "kill_switch_file", "stop_command"]


def add_stop_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=Path("galfriday.db"), help="audit database")
    parser.add_argument(
        "--config", type=Path, help="read [rails] kill_file and [engine] database from it"
    )
    parser.add_argument(
        "--clear", action="store_true", help="remove the file (a restarted engine trades again)"
    )


def kill_switch_file(args: argparse.Namespace) -> Path:
    """The file the engine of these arguments watches."""
    if args.config is None:
        return kill_file(args.db)
    config = load_config(args.config)
    if config.rails.kill_file is not None:
        return Path(config.rails.kill_file)
    database = args.db if args.db != Path("galfriday.db") else Path(config.engine.database)
    return kill_file(database)


def stop_command(args: argparse.Namespace, out: TextIO) -> int:
    """Create (or with ``--clear`` remove) the kill switch's file; exit 0."""
    path = kill_switch_file(args)
    if args.clear:
        if path.exists():
            path.unlink()
            out.write(f"kill switch cleared: {path} removed; restart the engine to trade again\n")
        else:
            out.write(f"kill switch not set: {path} does not exist\n")
        return 0
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    with open(path, "a", encoding="utf-8") as file:
        file.write(f"galfriday stop at {when} by pid {os.getpid()}\n")
    out.write(
        f"kill switch set: {path}. The engine stops trading within a second and cancels its "
        f"strategy's orders; 'galfriday stop --clear' removes it.\n"
    )
    return 0
