"""Replay and capture figures: replay throughput of a book-heavy capture, capture cost per
frame, and capture size per hour of the default embedded session."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from galfriday.capture.format import FORMAT_VERSION, Header, Reader, Record, WsIn, encode_block
from galfriday.capture.tape import CaptureTape, Redactor
from galfriday.capture.writer import CaptureFile
from galfriday.live.engine import EngineConfig, config_summary
from galfriday.live.marketdata import MarketDataConfig
from galfriday.replay.driver import Replayer, ReplayOptions
from tests.bench.frames import BookTraffic

FRAME_GAP = 0.0002  # recorded spacing between frames: 5,000 frames/s


def _instrument(traffic: BookTraffic) -> str:
    pairs = [
        {
            "symbol": symbol,
            "base": symbol.split("/")[0],
            "quote": symbol.split("/")[1],
            "price_precision": pp,
            "qty_precision": qp,
        }
        for symbol, (pp, qp) in traffic.books.items()
    ]
    data = {"assets": [], "pairs": pairs}
    return json.dumps({"channel": "instrument", "type": "snapshot", "data": data})


def write_capture(traffic: BookTraffic, path: Path, depth: int) -> Header:
    """The traffic as a capture of a public session: instrument, snapshots, then updates."""
    config = EngineConfig(
        ws_public="ws://bench/public",
        ws_private="ws://bench/private",
        rest="http://bench",
        marketdata=MarketDataConfig(symbols=tuple(traffic.books), depth=depth),
        reconcile=None,
    )
    header = Header(
        FORMAT_VERSION, "bench", "bench0000000", 1, 0.0, 1.7e9, config_summary(config), []
    )
    texts = [_instrument(traffic)]
    texts += [f.decode() for f in traffic.snapshots] + [f.decode() for f in traffic.updates]
    file = CaptureFile(path, header, level=1)
    for start in range(0, len(texts), 500):  # a 0.1 s block at 5,000 frames/s
        chunk: list[Record] = [
            WsIn("public", i * FRAME_GAP, 1.7e9 + i * FRAME_GAP, text)
            for i, text in enumerate(texts[start : start + 500], start)
        ]
        file.write(chunk)
    file.close_without_end()
    return header


def replay_rate(traffic: BookTraffic, depth: int = 100, repeat: int = 3) -> dict[str, float]:
    """Frames per second of ``galfriday replay`` (read, decompress, decode, books with
    checksums, events, audit) over the traffic as a capture file; best of ``repeat``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.gfcap"
        header = write_capture(traffic, path, depth)
        frames = len(traffic.updates) + len(traffic.snapshots) + 1
        best = float("inf")
        verified = 0
        for attempt in range(repeat):
            db = Path(folder) / f"replay{attempt}.db"
            started = time.perf_counter()
            reader = Reader(str(path), path.read_bytes())
            replayer = Replayer(header, ReplayOptions(db))
            summary = trio.run(replayer.run, reader.blocks())
            best = min(best, time.perf_counter() - started)
            verified = sum(v for v, _, _, _ in summary.books.values())
            mismatched = sum(m for _, m, _, _ in summary.books.values())
            if mismatched or verified != frames - 1:
                raise SystemExit(f"bench capture is broken: {verified} verified, {mismatched} bad")
        return {
            "frames_per_s": frames / best,
            "frames": frames,
            "verified": verified,
            "file_bytes": path.stat().st_size,
        }


def capture_cost(traffic: BookTraffic) -> dict[str, float]:
    """What capturing one frame costs: on the trio thread (the tape's append) and in the worker
    thread (encoding and compressing 0.1 s blocks), and its size on disk."""
    kept: list[Record] = []
    tape = CaptureTape(kept.append, Redactor(["a-secret-api-key"]))
    texts = [f.decode() for f in traffic.updates]
    started = time.perf_counter_ns()
    for i, text in enumerate(texts):
        tape.ws_in("public", i * FRAME_GAP, 1.7e9 + i * FRAME_GAP, text)
    on_loop = (time.perf_counter_ns() - started) / len(texts)
    started = time.perf_counter_ns()
    size = 0
    for start in range(0, len(kept), 500):
        size += len(encode_block(kept[start : start + 500]))
    in_thread = (time.perf_counter_ns() - started) / len(kept)
    raw = sum(len(t) for t in texts) / len(texts)
    return {
        "trio_thread_us": on_loop / 1000,
        "worker_thread_us": in_thread / 1000,
        "bytes_per_frame": size / len(kept),
        "raw_bytes_per_frame": raw,
    }


def capture_size_per_hour(seconds: float = 20.0) -> dict[str, float]:
    """``galfriday run`` (embedded simulator, default rate, demo trading) for ``seconds``;
    the capture's size scaled to an hour."""
    with tempfile.TemporaryDirectory() as folder:
        captures = Path(folder) / "captures"
        command = [sys.executable, "-m", "galfriday", "run", "--duration", str(seconds)]
        command += ["--db", str(Path(folder) / "g.db"), "--capture-dir", str(captures)]
        subprocess.run(command, check=True, capture_output=True, timeout=seconds + 60)
        [path] = captures.glob("*.gfcap")
        size = path.stat().st_size
        reader = Reader(str(path), path.read_bytes())
        records = sum(len(block) for block in reader.blocks())
    return {
        "mb_per_hour": size / seconds * 3600 / 1e6,
        "records_per_s": records / seconds,
        "seconds": seconds,
    }
