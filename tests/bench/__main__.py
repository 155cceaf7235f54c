"""``just bench``: print the benchmark table and write bench.json.

Figures only; nothing here passes or fails. Each row names its workload.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from galfriday.kraken.book import BookCheck, OrderBook
from galfriday.kraken.wire import BookMessage, FrameDecoder
from tests.bench.engine_bench import (
    loopback_latency,
    order_latency,
    reconcile_cpu,
    reconcile_rest_calls,
    sustained_in_fresh_process,
)
from tests.bench.frames import BookTraffic, make_traffic
from tests.bench.replay_bench import capture_cost, capture_size_per_hour, replay_rate
from tests.bench.sim_rate import highest_rate


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


def main() -> None:
    parser = argparse.ArgumentParser(prog="just bench", description=__doc__)
    parser.add_argument("--updates", type=int, default=50_000, help="update frames per workload")
    parser.add_argument("--out", type=Path, default=Path("bench.json"))
    parser.add_argument("--skip-sim", action="store_true", help="skip the simulator rate steps")
    parser.add_argument("--skip-engine", action="store_true", help="skip the engine figures")
    parser.add_argument(
        "--rss-minutes",
        type=float,
        default=2.0,
        help="length of the sustained 20-pair run (default 2)",
    )
    args = parser.parse_args()

    results: dict[str, object] = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
    }
    rows: list[tuple[str, str, str]] = []

    deep = make_traffic(pairs=20, depth=100, updates=args.updates)
    rate = bench_decode(deep)
    results["decode_book_updates_per_s"] = rate
    rows.append(
        (
            f"decode book updates (20 pairs, depth 100, {args.updates} frames)",
            f"{rate:,.0f} frames/s",
            "best of 5",
        )
    )

    replay = replay_rate(deep)
    results["replay"] = {**replay, "decode_ratio": replay["frames_per_s"] / rate}
    rows.append(
        (
            f"galfriday replay of the same frames as a capture ({replay['frames']} frames)",
            f"{replay['frames_per_s']:,.0f} frames/s",
            f"{replay['frames_per_s'] / rate:.3f} of decode-only; every checksum verified",
        )
    )
    cost = capture_cost(deep)
    results["capture_cost"] = cost
    rows.append(
        (
            "capture cost per book frame (trio thread | worker thread)",
            f"{cost['trio_thread_us']:.2f} µs | {cost['worker_thread_us']:.2f} µs",
            f"{cost['bytes_per_frame']:.0f} bytes on disk (raw {cost['raw_bytes_per_frame']:.0f})",
        )
    )

    for depth in (10, 100):
        traffic = deep if depth == 100 else make_traffic(pairs=20, depth=10, updates=args.updates)
        figures = bench_apply(traffic, depth)
        results[f"book_apply_depth{depth}"] = figures
        rows.append(
            (
                f"book apply + checksum (20 pairs, depth {depth}, {args.updates} updates)",
                f"median {figures['median_us']:.2f} µs",
                f"p99 {figures['p99_us']:.2f} µs",
            )
        )

    if not args.skip_sim:
        steps = highest_rate()
        asked, received, cpu = max(steps, key=lambda row: row[1])
        results["sim_public_frames_per_s"] = received
        results["sim_rate_steps"] = [
            {"market_events_per_s": a, "frames_per_s": r, "sim_cpu": c} for a, r, c in steps
        ]
        rows.append(
            (
                "simulator, public frames to one client (sim on one core, 4 pairs)",
                f"{received:,.0f} frames/s",
                f"at --rate {asked:,.0f}, sim CPU {cpu:.0%}",
            )
        )

    if not args.skip_engine:
        for rate in (1500, 9000):
            figures = loopback_latency(rate)
            results[f"loopback_latency_rate{rate}"] = figures
            rows.append(
                (
                    f"sim frame -> bus subscriber (4 pairs, book+ticker+trade, --rate {rate})",
                    f"p50 {figures['p50_ms']:.2f} ms",
                    f"p99 {figures['p99_ms']:.2f} ms at {figures['frames_per_s']:,.0f} frames/s",
                )
            )
        figures = order_latency()
        results["order_update_latency"] = figures
        rows.append(
            (
                "sim fill -> order updated + audit committed (200 market orders)",
                f"p50 {figures['p50_ms']:.2f} ms",
                f"p99 {figures['p99_ms']:.2f} ms",
            )
        )
        figures = reconcile_cpu()
        results["reconcile_cpu"] = figures
        rows.append(
            (
                "reconcile 10,000 orders and 200 assets (pure comparison, CPU)",
                f"{figures['cpu_ms']:.1f} ms",
                f"{figures['discrepancies']:.0f} discrepancies",
            )
        )
        calls = reconcile_rest_calls()
        results["reconcile_rest_calls"] = calls
        rows.append(
            (
                "REST calls per reconciliation run (no stale open orders)",
                f"{calls['run_calls']:.0f} calls",
                "Balance, OpenOrders, ClosedOrders, TradesHistory, Ledgers",
            )
        )
        size = capture_size_per_hour()
        results["capture_size"] = size
        rows.append(
            (
                "capture size, default embedded session (sim rate 50, 4 pairs, demo trading)",
                f"{size['mb_per_hour']:.1f} MB/hour",
                f"{size['records_per_s']:.0f} records/s over {size['seconds']:.0f} s",
            )
        )
        figures = sustained_in_fresh_process(args.rss_minutes)
        results["sustained"] = figures
        rows.append(
            (
                f"engine RSS after {args.rss_minutes:g} min, {figures['pairs']:.0f} pairs at "
                "depth 100",
                f"{figures['rss_mb']:.0f} MB",
                f"{figures['rest_calls_per_hour']:.0f} REST calls/hour steady",
            )
        )

    width = max(len(r[0]) for r in rows)
    print(f"galfriday bench — Python {results['python']} on {results['machine']}")
    for name, figure, extra in rows:
        print(f"{name:<{width}}  {figure:>22}  {extra}")
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
