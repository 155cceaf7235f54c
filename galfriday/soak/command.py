"""``galfriday soak``: the command line around ``run_soak``.

The command owns the log sinks and the folder: a temporary one is removed after a soak that
passed and kept (and named) after one that failed; a ``--dir`` is always kept. Exit 0 when
every check passed, 1 otherwise; a bad argument is a ``ConfigError`` (exit 2).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import trio
from loguru import logger

from galfriday.soak.config import SoakConfig
from galfriday.soak.report import print_report
from galfriday.soak.run import run_soak

__all__ = ["soak_command"]


def soak_command(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """``galfriday soak``; exit 0 when every check passed, 1 otherwise."""
    config = SoakConfig(
        minutes=args.minutes, seed=args.seed, folder=args.dir, cpu_load=args.cpu_load
    )
    config.check()
    logger.remove()
    logger.add(
        sys.stderr, level=args.log_level.upper(), format="{time:HH:mm:ss} {level: <7} {message}"
    )
    logger.enable("galfriday")
    keep = config.folder is not None
    folder = config.folder or Path(tempfile.mkdtemp(prefix="galfriday-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    report = trio.run(run_soak, config, folder)
    print_report(report, config, out)
    if report.ok and not keep:
        shutil.rmtree(folder, ignore_errors=True)
    elif not report.ok:
        out.write(f"database and captures kept in {folder}\n")
    return 0 if report.ok else 1
