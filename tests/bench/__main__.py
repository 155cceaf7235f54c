"""``just bench``: print the benchmark table and write bench.json (about 3 minutes).

Figures only; nothing here passes or fails. Each row names its workload; the letters are
issue 7's. Rows compared with each other come from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.kraken.wire import BookMessage, FrameDecoder
from tests.bench.compare import compare_files
from tests.bench.engine_bench import (
    order_latency,
    reconcile_cpu,
    reconcile_rest_calls,
    send_latency,
    sustained_in_fresh_process,
)
from tests.bench.frames import BookTraffic, make_traffic
from tests.bench.replay_bench import capture_cost, capture_size_per_hour, replay_rate
from tests.bench.sim_rate import highest_rate
from tests.bench.small import (
    audit_throughput,
    galfriday_book_handler,
    help_startup,
    sdk_book_handler,
)
from tests.bench.ws_floor import ws_floor


def _best_rate(run: Callable[[], int], repeat: int = 5) -> float:
    """Items per second of the fastest of ``repeat`` runs."""
    best = float("inf")
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - start)
    return count / best


def bench_decode(traffic: BookTraffic) -> float:
    decoder = FrameDecoder()
    frames = traffic.updates

    def run() -> int:
        decode = decoder.decode
        for frame in frames:
            decode(frame)
        return len(frames)

    return _best_rate(run)


def bench_apply(traffic: BookTraffic, depth: int) -> dict[str, float]:
    """Per-update cost of OrderBook.apply (book update + checksum verification), in µs."""
    decoder = FrameDecoder()
    books = {}
    for frame in traffic.snapshots:
        message = decoder.decode(frame)
        assert isinstance(message, BookMessage)
        data = message.data[0]
        pp, qp = traffic.books[data.symbol]
        books[data.symbol] = book = OrderBook(data.symbol, depth, pp, qp)
        book.apply(data, snapshot=True)
    updates = []
    for frame in traffic.updates:
        message = decoder.decode(frame)
        assert isinstance(message, BookMessage)
        updates.append((books[message.data[0].symbol], message.data[0]))
    samples = []
    mismatches = 0
    clock = time.perf_counter_ns
    for book, data in updates:
        start = clock()
        result = book.apply(data, snapshot=False)
        samples.append(clock() - start)
        mismatches += result is not BookCheck.MATCH
    if mismatches:
        raise SystemExit(f"bench traffic is broken: {mismatches} checksum mismatches")
    samples.sort()
    return {
        "median_us": statistics.median(samples) / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
        "updates": len(samples),
    }


def _worst_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Several runs of one latency figure as one: the median p50, the worst p99."""
    return {
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p99_ms": max(run["p99_ms"] for run in runs),
        "p99_ms_best": min(run["p99_ms"] for run in runs),
        "runs": len(runs),
        "frames_per_s": min(run["frames_per_s"] for run in runs),
    }


def _row(rows: list[tuple[str, str, str]], name: str, figure: str, extra: str = "") -> None:
    rows.append((name, figure, extra))
    print(f"  {name}: {figure} {extra}", file=sys.stderr, flush=True)  # progress


def main() -> None:
    parser = argparse.ArgumentParser(prog="just bench", description=__doc__)
    parser.add_argument("--updates", type=int, default=50_000, help="update frames per workload")
    parser.add_argument("--out", type=Path, default=Path("bench.json"))
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OLD_JSON",
        help="after the table, print every figure of an earlier bench.json beside this run's",
    )
    parser.add_argument(
        "--e-runs",
        type=int,
        default=5,
        metavar="N",
        help="runs of the 5,000 frames/s latency figure (e); its p99 is the worst (default 5)",
    )
    parser.add_argument("--skip-engine", action="store_true", help="skip the engine figures")
    parser.add_argument(
        "--sim-rate", action="store_true", help="also find the simulator's highest frame rate"
    )
    parser.add_argument(
        "--ws-floor",
        action="store_true",
        help="also measure what receiving a frame costs before galfriday (about 40 s)",
    )
    parser.add_argument(
        "--rss-minutes",
        type=float,
        default=1.0,
        help="length of the sustained 20-pair run (default 1)",
    )
    args = parser.parse_args()
    if args.e_runs < 1:
        parser.error(f"--e-runs: at least 1, not {args.e_runs}")
    if args.compare is not None and not args.compare.is_file():
        parser.error(f"--compare: no file {args.compare}")
    began = time.perf_counter()
    results: dict[str, object] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores".strip(),
        "python": platform.python_version(),
    }
    rows: list[tuple[str, str, str]] = []
    n = args.updates

    deep = make_traffic(pairs=20, depth=100, updates=n)
    decode = bench_decode(deep)
    results["a_decode_frames_per_s"] = decode
    _row(
        rows,
        f"(a) decode only: book updates, 20 pairs, depth 100, {n:,} frames",
        f"{decode:,.0f} frames/s",
        "best of 5",
    )

    replay = replay_rate(deep)
    ratio = replay["frames_per_s"] / decode
    results["b_replay"] = {**replay, "ratio_to_decode": ratio}
    _row(
        rows,
        f"(b) replay pipeline, the same frames as a capture ({replay['frames']:,})",
        f"{replay['frames_per_s']:,.0f} frames/s",
        f"b/a = {ratio:.3f}; read, decompress, decode, books, checksums, events, audit",
    )

    shallow = make_traffic(pairs=20, depth=10, updates=n)
    for depth, traffic in ((10, shallow), (100, deep)):
        figures = bench_apply(traffic, depth)
        results[f"c_book_apply_depth{depth}"] = figures
        _row(
            rows,
            f"(c) book apply + checksum, 20 pairs, depth {depth}, {n:,} updates",
            f"median {figures['median_us']:.2f} µs",
            f"p99 {figures['p99_us']:.2f} µs",
        )

    ours = galfriday_book_handler(shallow)
    sdk = sdk_book_handler(shallow)
    results["d_book_handler"] = {"galfriday": ours, "python_kraken_sdk": sdk}
    _row(
        rows,
        f"(d) book handler, decode + apply + checksum, 20 pairs, depth 10, {n:,}",
        f"{ours['us_per_update']:.2f} µs vs {sdk['us_per_update']:.2f} µs",
        f"galfriday vs python-kraken-sdk: "
        f"{sdk['us_per_update'] / ours['us_per_update']:.1f}x faster",
    )

    cost = capture_cost(deep)
    results["capture_cost"] = cost
    _row(
        rows,
        "capture cost per book frame (trio thread | worker thread)",
        f"{cost['trio_thread_us']:.2f} µs | {cost['worker_thread_us']:.2f} µs",
        f"{cost['bytes_per_frame']:.0f} bytes on disk (raw {cost['raw_bytes_per_frame']:.0f})",
    )

    audit = audit_throughput()
    results["g_audit_writer"] = audit
    _row(
        rows,
        f"(g) audit writer, {audit['rows']:,} rows into a WAL file database",
        f"{audit['rows_per_s']:,.0f} rows/s",
        "until committed",
    )

    figures = reconcile_cpu()
    results["h_reconcile_cpu"] = figures
    _row(
        rows,
        "(h) reconcile 10,000 orders and 200 assets (pure comparison)",
        f"{figures['cpu_ms']:.1f} ms CPU",
        f"{figures['discrepancies']:.0f} discrepancies",
    )

    startup = help_startup()
    results["j_help_startup"] = startup
    _row(
        rows,
        "(j) galfriday --help, fresh interpreter (median of 7)",
        f"{startup['median_ms']:.0f} ms",
        f"best {startup['best_ms']:.0f} ms",
    )

    if not args.skip_engine:
        figures = send_latency(1000)
        results["e_latency_1000"] = figures
        _row(
            rows,
            "(e) sim send -> bus subscriber, book frames, 4 pairs, 1,000/s",
            f"p50 {figures['p50_ms']:.2f} ms",
            f"p99 {figures['p99_ms']:.2f} ms at {figures['frames_per_s']:,.0f} frames/s",
        )
        runs = [send_latency(5000) for _ in range(args.e_runs)]
        figures = _worst_of(runs)
        results["e_latency_5000"] = figures
        _row(
            rows,
            f"(e) the same at 5,000/s, {len(runs)} runs (p50 median, p99 worst)",
            f"p50 {figures['p50_ms']:.2f} ms",
            f"p99 {figures['p99_ms']:.2f} ms; p99 of each run: "
            + ", ".join(f"{run['p99_ms']:.2f}" for run in runs),
        )
        figures = send_latency(5000, busy=2)
        results["e_latency_5000_busy"] = figures
        _row(
            rows,
            "(e) the same at 5,000/s, both cores busy (2 spinning processes beside it)",
            f"p50 {figures['p50_ms']:.2f} ms",
            f"p99 {figures['p99_ms']:.2f} ms at {figures['frames_per_s']:,.0f} frames/s",
        )
        figures = order_latency()
        results["f_order_latency"] = figures
        _row(
            rows,
            "(f) sim fill -> order updated + audit committed, 200 market orders",
            f"p50 {figures['p50_ms']:.2f} ms",
            f"p99 {figures['p99_ms']:.2f} ms",
        )
        calls = reconcile_rest_calls()
        results["reconcile_rest_calls"] = calls
        _row(
            rows,
            "REST calls per reconciliation run (no stale open orders)",
            f"{calls['run_calls']:.0f} calls",
            "Balance, OpenOrders, ClosedOrders, TradesHistory, Ledgers",
        )
        with ThreadPoolExecutor(1) as pool:  # a light embedded session beside the RSS run
            size_job = pool.submit(capture_size_per_hour)
            figures = sustained_in_fresh_process(args.rss_minutes)
            size = size_job.result()
        results["i_sustained"] = figures
        _row(
            rows,
            f"(i) engine RSS after {args.rss_minutes:g} min, 20 pairs at depth 100",
            f"{figures['rss_mb']:.0f} MB",
            f"{figures['rest_calls_per_hour']:.0f} REST calls/hour steady",
        )
        results["capture_size"] = size
        _row(
            rows,
            "capture size, default just run session (sim rate 50, 4 pairs, demo)",
            f"{size['mb_per_hour']:.1f} MB/hour",
            f"{size['records_per_s']:.0f} records/s over {size['seconds']:.0f} s",
        )

    if args.ws_floor:
        floor = ws_floor()
        results["ws_floor"] = floor
        _row(
            rows,
            "receive floor, CPU per book frame at 5,000/s: socket | trio | +wsproto | +trio-ws",
            f"{floor['trio_websocket_us_per_frame']:.0f} µs",
            " | ".join(
                f"{floor[f'{name}_us_per_frame']:.0f}"
                for name in ("blocking", "trio", "wsproto", "trio_websocket")
            )
            + " µs",
        )

    if args.sim_rate:
        steps = highest_rate()
        asked, received, cpu = max(steps, key=lambda row: row[1])
        results["sim_public_frames_per_s"] = received
        _row(
            rows,
            "simulator, public frames to one client (sim on one core, 4 pairs)",
            f"{received:,.0f} frames/s",
            f"at --rate {asked:,.0f}, sim CPU {cpu:.0%}",
        )

    results["seconds"] = time.perf_counter() - began
    width = max(len(r[0]) for r in rows)
    print(
        f"galfriday bench — Python {results['python']} on {results['machine']},"
        f" {results['seconds']:.0f} s"
    )
    for name, figure, extra in rows:
        print(f"{name:<{width}}  {figure:>24}  {extra}")
    if args.compare is not None:
        print(f"\nbefore: {args.compare}, after: this run")
        print("\n".join(compare_files(args.compare, results)))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
