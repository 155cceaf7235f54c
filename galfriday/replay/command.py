"""``galfriday replay FILE...``: arguments, reading the files, progress, summary, ``--verify``.

The files are grouped by the session that wrote them (a capture folder holds one session per
run) and each session is replayed on its own, its parts in order, into its own database
(beside its first file, unless ``--db`` names one for a single session); ``--verify`` compares
each session with the rows of its own time span.

Exit codes: 0 done (and no divergence with ``--verify``), 1 divergences found, 2 bad input
(arguments, or a capture that is not one, of another version, truncated or corrupted; with
``--salvage`` damaged stretches are skipped and listed instead).
"""

from __future__ import annotations

import argparse
import mmap
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import trio
from loguru import logger

from galfriday.capture.format import Header, Reader, Record
from galfriday.errors import CaptureError, ConfigError
from galfriday.replay.driver import Replayer, ReplayOptions, ReplaySummary
from galfriday.replay.verify import compare_databases

__all__ = ["parse_when", "replay_command"]


def parse_when(text: str, day: datetime, field: str) -> float:
    """``--from``/``--to``: ISO 8601 (UTC unless it says otherwise) or a time on ``day``."""
    try:
        if len(text) <= 8 and ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) == 2:
                parts.append(0)
            hours, minutes, seconds = parts
            moment = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
                hours=hours, minutes=minutes, seconds=seconds
            )
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except ValueError:
        raise ConfigError(
            field, f"{text!r} is not a time: use 2026-11-24T03:12:00 or 03:12 (UTC)"
        ) from None


def _open(stack: ExitStack, path: Path, salvage: bool) -> Reader:
    try:
        file = stack.enter_context(path.open("rb"))
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read it ({exc.strerror})") from None
    if path.stat().st_size == 0:
        raise CaptureError(str(path), 0, "empty file: not a galfriday capture")
    data = stack.enter_context(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))
    reader = Reader(str(path), data, salvage=salvage)
    reader.check()  # damage is reported before anything is written
    return reader


def _records(readers: list[Reader]) -> Iterator[list[Record]]:
    for reader in readers:
        yield from reader.blocks()


def _header(reader: Reader) -> Header:
    if reader.header is None:
        raise CaptureError(reader.name, 0, "no header: not a galfriday capture")
    return reader.header


def _sessions(readers: list[Reader]) -> dict[str, list[Reader]]:
    """The readers grouped by session, in the order sessions first appear, parts in order."""
    sessions: dict[str, list[Reader]] = {}
    for reader in readers:
        sessions.setdefault(_header(reader).session, []).append(reader)
    for group in sessions.values():
        group.sort(key=lambda r: _header(r).part)
        parts = [_header(r).part for r in group]
        if len(set(parts)) != len(parts):
            raise CaptureError(
                group[0].name, 0, f"the files repeat a part of session {_header(group[0]).session}"
            )
    return sessions


class _Progress:
    """A one-line progress bar on a terminal (records read, share of the bytes, rate)."""

    def __init__(self, readers: list[Reader], out: TextIO, enabled: bool) -> None:
        self.readers = readers
        self.total = sum(len(r.data) for r in readers) or 1
        self.out = out
        self.enabled = enabled
        self.began = self.shown = time.monotonic()

    def __call__(self, records: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.shown < 0.25:
            return
        self.shown = now
        done = sum(min(r.offset, len(r.data)) for r in self.readers)
        share = done / self.total
        bar = "#" * int(share * 30)
        rate = records / max(now - self.began, 1e-9)
        self.out.write(f"\rreplay [{bar:<30}] {share:4.0%} {records:,} records {rate:,.0f}/s")
        self.out.flush()

    def close(self) -> None:
        if self.enabled:
            self.out.write("\r" + " " * 79 + "\r")
            self.out.flush()


def replay_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``galfriday replay``; returns the exit code."""
    if args.speed is not None and not args.speed > 0:
        raise ConfigError("--speed", "must be a positive number (1 = as recorded)")
    symbols = None
    if args.symbols is not None:
        symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
        if not symbols or any("/" not in s for s in symbols):
            raise ConfigError(
                "--symbols", "a comma-separated list of pairs such as BTC/USD,ETH/USD"
            )
    if args.verify is not None and not args.verify.is_file():
        raise ConfigError("--verify", f"{args.verify} does not exist")
    logger.remove()
    logger.add(sys.stderr, level="WARNING", format="{level}: {message}")
    logger.enable("galfriday")
    with ExitStack() as stack:
        readers = [_open(stack, path, args.salvage) for path in args.files]
        sessions = _sessions(readers)
        if args.db is not None and len(sessions) > 1:
            names = ", ".join(sessions)
            raise ConfigError(
                "--db",
                f"names one database but the files hold {len(sessions)} sessions ({names});"
                " leave --db out (each gets its own, beside its first file) or replay one",
            )
        targets = {
            session: Path(args.db or Path(group[0].name).with_suffix(".replay.db"))
            for session, group in sessions.items()
        }
        _clear(list(targets.values()), args.overwrite)
        code = 0
        for session, group in sessions.items():
            code = max(code, _replay_session(args, group, targets[session], symbols, out))
    return code


def _clear(databases: list[Path], overwrite: bool) -> None:
    """Refuse (before anything is written) a database that exists, unless ``overwrite``."""
    existing = [d for d in databases if d.exists()]
    if existing and not overwrite:
        raise ConfigError(
            "--db",
            f"{existing[0]} exists; remove it, choose another --db, or pass --overwrite",
        )
    for database in existing:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)


def _replay_session(
    args: argparse.Namespace,
    readers: list[Reader],
    database: Path,
    symbols: tuple[str, ...] | None,
    out: TextIO,
) -> int:
    """Replay one session's files into ``database``; the exit code of that session."""
    header = _header(readers[0])
    day = datetime.fromtimestamp(header.wall, UTC)
    start = parse_when(args.start, day, "--from") if args.start else None
    end = parse_when(args.end, day, "--to") if args.end else None
    if start is not None and end is not None and end < start:
        raise ConfigError("--to", "is before --from")
    options = ReplayOptions(database, args.speed, start, end, symbols)
    try:
        replayer = Replayer(header, options)
    except ValueError as exc:
        raise CaptureError(readers[0].name, 0, str(exc)) from None
    progress = _Progress(readers, sys.stderr, sys.stderr.isatty() and not args.quiet)
    replayer.progress = progress
    try:
        summary = trio.run(replayer.run, _records(readers))
    finally:
        progress.close()
    print_summary(summary, header, readers, database, out)
    if args.verify is None:
        return 0
    if summary.first_wall is None or summary.last_wall is None:
        out.write(f"verify: session {header.session} holds no records to compare\n")
        return 1
    span = (summary.first_wall, summary.last_wall)
    divergences = compare_databases(args.verify, database, span)
    for divergence in divergences:
        out.write(f"divergence: {divergence}\n")
    out.write(
        f"verify: {len(divergences)} divergences between {args.verify} and {database}"
        f" (session {header.session})\n"
    )
    return 1 if divergences else 0


def print_summary(
    summary: ReplaySummary, header: Header, readers: list[Reader], database: Path | str, out: TextIO
) -> None:
    def line(label: str, value: object) -> None:
        out.write(f"  {label:<22} {value}\n")

    started = datetime.fromtimestamp(header.wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    out.write(f"replayed session {header.session} (galfriday {header.galfriday}, {started})\n")
    line("files", ", ".join(r.name for r in readers))
    line("database", database)
    for reader in readers:
        for skipped in reader.skipped:
            line(
                "skipped",
                f"{reader.name}: {skipped.length:,} bytes at byte {skipped.offset:,}"
                f" ({skipped.reason})",
            )
        if not reader.complete:
            line("note", f"{reader.name} has no end record (the engine was stopped abruptly)")
    if summary.dropped:
        line("warning", f"the capture dropped {summary.dropped:,} records: not an exact replay")
    rate = summary.frame_count / summary.elapsed if summary.elapsed else 0.0
    line("records", f"{summary.records:,}")
    line("frames", f"{summary.frame_count:,} in {summary.elapsed:.2f} s ({rate:,.0f} frames/s)")
    for channel, count in sorted(summary.frames.items()):
        line(f"  {channel}", f"{count:,}")
    verified = sum(v for v, _, _, _ in summary.books.values())
    mismatched = sum(m for _, m, _, _ in summary.books.values())
    line(
        "books",
        f"{len(summary.books)} symbols, {verified:,} checksums verified, {mismatched} mismatched",
    )
    for symbol, (ok, bad, unchecked, resyncs) in summary.books.items():
        line(
            f"  {symbol}",
            f"{ok:,} verified, {bad} mismatched, {unchecked} unverified, {resyncs} resyncs",
        )
    line("resyncs", summary.resyncs)
    line(
        "gaps",
        f"{summary.gaps} private sequence, {summary.trade_gaps} trade id,"
        f" {summary.duplicates} duplicates dropped",
    )
    line("orders", f"{summary.orders} ({summary.open_orders} open), {summary.fills} fills")
    if summary.balances:
        line("balances", ", ".join(f"{a} {v}" for a, v in summary.balances.items()))
    if summary.positions:
        line("positions", ", ".join(f"{s} {v}" for s, v in summary.positions.items()))
    if summary.reconciliations or summary.reconciliation_failures:
        last = f"; last: {summary.last_reconciliation}" if summary.last_reconciliation else ""
        line("reconciliations", f"{summary.reconciliations} runs{last}")
    line("connection changes", summary.connection_changes)
    line("steps", f"{summary.steps:,} applied (subscriptions, resyncs, REST answers, runs)")
