"""The soak's checks after the run: the engine's final state, the audit database and the
simulator's ground truth, each compared and turned into pass/fail ``Check``s on the report.

Rules: the checks only read (the database is opened read-only, after the engine closed it,
except ``check_engine``, which looks at the engine while it is still open); a check that fails
is a ``Check`` with ``ok=False``, not an exception (only a broken set-up raises: an engine
without its private side). Orders a "foreign device" placed (the
simulator's drift orders) are not the engine's: they are left out of the order, fill and
balance comparisons and must show up as detected drift instead. A gap, a checksum corruption
or a stall counts as detected when its trace is in the audit trail within ``DETECT_WITHIN``
seconds of it (a gap or a corruption may instead be covered by a resubscription's snapshot);
a drift, when it shows at all after it.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from galfriday.capture.format import Reader
from galfriday.errors import ConfigError, GalfridayError
from galfriday.events import ConnectionState
from galfriday.live.engine import Engine
from galfriday.live.private import PrivateStream
from galfriday.sim.embedded import SYMBOLS
from galfriday.sim.faults import Fault, FaultRecord
from galfriday.sim.server import DRIFT_ORDER_USERREF, Simulator
from galfriday.sim.venue import GroundTruth
from galfriday.soak.report import SoakReport

__all__ = [
    "check_capture",
    "check_connects",
    "check_database",
    "check_engine",
    "check_rss_growth",
]

CONNECT_LIMIT: Final = 150  # Kraken (Cloudflare): connections per IP per 10 minutes
CONNECT_WINDOW: Final = 600.0
RSS_GROWTH_LIMIT_MB: Final = 64.0
DETECT_WITHIN: Final = 60.0  # seconds after a fault in which its detection must show
DRIFTS: Final = (Fault.DRIFT_DEPOSIT, Fault.DRIFT_WITHDRAWAL, Fault.DRIFT_ORDER)
# A connection that lost its subscription (a drop, a stall, a freeze) has it again within this:
# the longest fault here (a 15 s freeze or a 20 s stall), the 30 s backoff cap, a reconnect.
RESUBSCRIBE_LIMIT: Final = 60.0


def check_engine(
    report: SoakReport, engine: Engine, sim: Simulator, recovered: bool, final_ok: bool
) -> None:
    """The engine's state at the end, while it is still open: its connections and books, the
    final reconciliation, and its orders and balances against the simulator's ground truth."""
    account = engine.account
    if account is None:
        raise GalfridayError("the soak's engine has no private side")
    _check_recovered(report, engine, recovered)
    _check_books(report, engine)
    report.check(
        "final reconciliation ran",
        final_ok,
        f"run {engine.reconciler and engine.reconciler.last_run_id}",
    )
    truth = sim.ground_truth()
    foreign = _foreign_orders(sim)
    _check_orders(report, account, truth, foreign)
    _check_balances(report, account, truth)
    report.figures["foreign_orders"] = sorted(foreign)
    report.figures["fills_exchange"] = len(truth.fills)


def _check_recovered(report: SoakReport, engine: Engine, recovered: bool) -> None:
    states = {
        c.config.name: c.state.value for c in (engine.public, engine.private) if c is not None
    }
    report.check(
        "every connection recovered",
        recovered,
        f"states {states}, subscribed with every book verified"
        f" {report.figures['recovery_s']:.1f} s after the last fault",
    )


def _check_books(report: SoakReport, engine: Engine) -> None:
    books = engine.marketdata.books
    verified = sum(1 for feed in books.values() if feed.verified)
    checked = sum(feed.total_verified for feed in books.values())
    report.figures["book_messages_verified"] = checked
    report.check(
        "every book verified",
        verified == len(SYMBOLS),
        f"{verified}/{len(SYMBOLS)} books verified; {checked:,} book messages verified in all",
    )


def _foreign_orders(sim: Simulator) -> set[str]:
    """The orders a "foreign device" placed on the account (the drift faults' orders)."""
    return {
        o.order_id
        for o in sim.exchange.account.orders.values()
        if o.order_userref == DRIFT_ORDER_USERREF
    }


def _check_orders(
    report: SoakReport, account: PrivateStream, truth: GroundTruth, foreign: set[str]
) -> None:
    """Every order on the exchange but a foreign one is the engine's, with the exchange's
    status and filled quantity."""
    ours = {o.order_id: o for o in account.orders.orders()}
    wrong = [
        f"{order_id}: exchange {status}, engine "
        f"{ours[order_id].status.value if order_id in ours else 'unknown'}"
        for order_id, status in truth.order_status.items()
        if order_id not in foreign
        and (order_id not in ours or ours[order_id].status.value != status)
    ]
    wrong += [
        f"{order_id}: filled {truth.filled_qty[order_id]} on the exchange, "
        f"{ours[order_id].cum_qty} in the engine"
        for order_id in truth.filled_qty
        if order_id in ours
        and order_id not in foreign
        and ours[order_id].cum_qty != truth.filled_qty[order_id]
    ]
    report.figures["orders"] = len(truth.order_status) - len(foreign)
    report.check(
        "orders equal the exchange's",
        not wrong,
        f"{len(truth.order_status) - len(foreign)} orders"
        + "".join(f"\n    {w}" for w in wrong[:20]),
    )


def _check_balances(report: SoakReport, account: PrivateStream, truth: GroundTruth) -> None:
    """Every non-zero balance, the engine's and the exchange's, equal."""
    balances = {a: b for a, b in account.portfolio.balances.items() if b}
    exchange = {a: b for a, b in truth.balances.items() if b}
    diff = {
        a: (balances.get(a), exchange.get(a))
        for a in set(balances) | set(exchange)
        if balances.get(a) != exchange.get(a)
    }
    report.check(
        "balances equal the exchange's",
        not diff,
        f"{len(exchange)} assets"
        + "".join(f"\n    {a}: engine {o}, exchange {e}" for a, (o, e) in diff.items()),
    )


def _rows(db: sqlite3.Connection, sql: str, *args: object) -> list[tuple[Any, ...]]:
    return list(db.execute(sql, args).fetchall())


def check_database(report: SoakReport, path: Path, sim: Simulator) -> None:
    """The audit database after the run (``check_engine`` first: it names the foreign
    orders): intact, every fill once, every injected fault detected, every lost subscription
    back in time."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        report.check("audit database intact", integrity == "ok", f"integrity_check: {integrity}")
        _check_fills(report, db, sim)
        _check_detection(report, db, sim)
        _check_resubscribed(report, db)
    finally:
        db.close()


def _check_fills(report: SoakReport, db: sqlite3.Connection, sim: Simulator) -> None:
    """No fill of the engine's orders lost or audited twice; per order, the audited fills
    add up to the exchange's filled quantity."""
    truth = sim.ground_truth()
    foreign = set(report.figures.get("foreign_orders", ()))
    fills = _rows(db, "SELECT exec_id, order_id, qty FROM fills")
    ids = [row[0] for row in fills]
    twice = [i for i, n in Counter(ids).items() if n > 1]
    foreign_fills = {f.exec_id for f in sim.exchange.account.fills if f.order_id in foreign}
    lost = sorted(set(truth.fills) - set(ids) - foreign_fills)
    per_order: Counter[str] = Counter()
    for _, order_id, qty in fills:
        per_order[order_id] += Decimal(qty)  # type: ignore[assignment]
    short = [
        f"{order_id}: audited {per_order.get(order_id, 0)}, exchange {qty}"
        for order_id, qty in truth.filled_qty.items()
        if order_id not in foreign and qty and per_order.get(order_id, 0) != qty
    ]
    report.figures["fills_audited"] = len(ids)
    report.check(
        "no fill lost or applied twice",
        not twice and not lost and not short,
        f"{len(ids)} fills audited, {len(truth.fills) - len(foreign_fills)} on the exchange"
        f" (the engine's orders); twice {twice[:5]}, lost {lost[:5]}"
        + "".join(f"\n    {s}" for s in short[:10]),
    )


def _check_resubscribed(report: SoakReport, db: sqlite3.Connection) -> None:
    """Each time a connection lost its subscription, it had it back within the limit."""
    rows = _rows(
        db, "SELECT connection, at_wall, old_state, new_state FROM connection_events ORDER BY id"
    )
    for name in ("public", "private"):
        lost_at: float | None = None
        waits: list[float] = []
        for conn, at, old, new in rows:
            if conn != name:
                continue
            if old == ConnectionState.SUBSCRIBED.value and lost_at is None:
                lost_at = float(at)
            elif new == ConnectionState.SUBSCRIBED.value and lost_at is not None:
                waits.append(float(at) - lost_at)
                lost_at = None
        if lost_at is not None:
            waits.append(float("inf"))  # never came back
        worst = max(waits, default=0.0)
        report.figures[f"{name}_resubscribed_max_s"] = worst
        report.check(
            f"{name} subscribed again after every loss",
            worst <= RESUBSCRIBE_LIMIT,
            f"{len(waits)} losses, back within {worst:.1f} s at most"
            f" (limit {RESUBSCRIBE_LIMIT:.0f} s)",
        )


@dataclass(frozen=True)
class _Detection:
    """One kind of fault: how many were injected, detected directly, covered by a reconnect."""

    name: str
    injected: int
    detected: int
    covered: int
    source: str  # where in the audit trail the detection shows


def _check_detection(report: SoakReport, db: sqlite3.Connection, sim: Simulator) -> None:
    """Every gap, checksum corruption, stall, drift and malformed frame the simulator injected
    shows in the audit trail (or was made good by a resubscription's snapshot)."""
    applied = _first_hits(sim.faults.applied)
    reconnects = _entered(db, ConnectionState.SUBSCRIBED)
    detections = [
        _gaps_detected(db, applied, reconnects["private"]),
        _corruptions_detected(db, applied, reconnects["public"]),
        _stalls_detected(sim, _entered(db, ConnectionState.DISCONNECTED)),
        _drifts_detected(db, sim),
        _malformed_frames_detected(db, sim),
    ]
    report.figures["detection"] = {
        d.name: {"injected": d.injected, "detected": d.detected, "covered_by_reconnect": d.covered}
        for d in detections
    }
    for d in detections:
        extra = f", {d.covered} covered by a resubscription snapshot" if d.covered else ""
        report.check(
            f"every {d.name} detected",
            d.detected + d.covered == d.injected,
            f"injected {d.injected}, detected {d.detected} ({d.source}){extra}",
        )


def _times(db: sqlite3.Connection, sql: str, *args: object) -> list[float]:
    return [float(r[0]) for r in _rows(db, sql, *args)]


def _entered(db: sqlite3.Connection, state: ConnectionState) -> dict[str, list[float]]:
    """Per connection, when it entered ``state``."""
    sql = "SELECT at_wall FROM connection_events WHERE connection = ? AND new_state = ?"
    return {conn: _times(db, sql, conn, state.value) for conn in ("public", "private")}


def _first_hits(applied: list[tuple[FaultRecord, float]]) -> list[tuple[FaultRecord, float]]:
    """Each queued frame fault once, at the first frame it hit."""
    first: dict[int, tuple[FaultRecord, float]] = {}
    for record, at in applied:
        first.setdefault(id(record), (record, at))
    return list(first.values())


def _detected(
    name: str,
    injected: list[tuple[FaultRecord, float]],
    seen: list[float],
    also: list[float],
    source: str,
) -> _Detection:
    """Faults applied at times: detected when ``seen`` shows one from a second before to
    ``DETECT_WITHIN`` after, else covered when ``also`` (a resubscription) does."""
    direct = covered = 0
    for _, at in injected:
        if any(at - 1.0 <= t <= at + DETECT_WITHIN for t in seen):
            direct += 1
        elif any(at - 1.0 <= t <= at + DETECT_WITHIN for t in also):
            covered += 1
    return _Detection(name, len(injected), direct, covered, source)


def _gaps_detected(
    db: sqlite3.Connection, applied: list[tuple[FaultRecord, float]], reconnects: list[float]
) -> _Detection:
    """Frames dropped on the private connection: a sequence gap in the gaps table."""
    gaps = [(r, t) for r, t in applied if r.fault is Fault.DROP_FRAMES and r.target == "private"]
    seen = _times(db, "SELECT at_wall FROM gaps")
    return _detected("private sequence gap", gaps, seen, reconnects, "gaps table")


def _corruptions_detected(
    db: sqlite3.Connection, applied: list[tuple[FaultRecord, float]], reconnects: list[float]
) -> _Detection:
    """A corrupted book checksum: a resync for a checksum mismatch."""
    corrupt = [(r, t) for r, t in applied if r.fault is Fault.CORRUPT_CHECKSUM]
    seen = _times(db, "SELECT at_wall FROM resyncs WHERE reason LIKE 'checksum%'")
    return _detected("checksum corruption", corrupt, seen, reconnects, "book_checks/resyncs")


def _stalls_detected(sim: Simulator, drops: dict[str, list[float]]) -> _Detection:
    """A stalled connection: the silence watchdog drops it within ``DETECT_WITHIN``."""
    stalls = sim.faults.injected(Fault.STALL)
    seen = [r for r in stalls if any(r.at <= d <= r.at + DETECT_WITHIN for d in drops[r.target])]
    return _Detection("stall", len(stalls), len(seen), 0, "silence watchdog")


def _drifts_detected(db: sqlite3.Connection, sim: Simulator) -> _Detection:
    """A foreign device's deposit, withdrawal or order: noticed at any time after it."""
    drifts = [r for r in sim.faults.records if r.fault in DRIFTS]
    found = sum(_drift_seen(db, record) for record in drifts)
    return _Detection(
        "drift", len(drifts), found, 0, "balance_anomalies, discrepancies, orders learnt"
    )


def _drift_seen(db: sqlite3.Connection, record: FaultRecord) -> bool:
    """A foreign order reported, or learnt from a snapshot; a balance drift reported as an
    anomaly or a discrepancy, or corrected."""
    since = record.at - 1
    if record.fault is Fault.DRIFT_ORDER:
        hit = _rows(
            db,
            "SELECT 1 FROM discrepancies WHERE subject = ? AND at_wall >= ? "
            "UNION ALL SELECT 1 FROM orders WHERE order_id = ?",
            record.detail,
            since,
            record.detail,
        )
    else:
        asset = record.detail.split()[0]
        hit = _rows(
            db,
            "SELECT 1 FROM balance_anomalies WHERE asset = ? AND at_wall >= ? "
            "UNION ALL SELECT 1 FROM discrepancies WHERE subject = ? AND at_wall >= ? "
            "UNION ALL SELECT 1 FROM position_adjustments WHERE subject = ? AND at_wall >= ?",
            asset,
            since,
            asset,
            since,
            asset,
            since,
        )
    return bool(hit)


def _malformed_frames_detected(db: sqlite3.Connection, sim: Simulator) -> _Detection:
    """Garbage sent to a connected client (one sent between connections reaches nobody):
    each audited as a decode error."""
    garbage = [r for r in sim.faults.injected(Fault.MALFORMED_FRAME) if r.detail != "sessions=0"]
    audited = len(_rows(db, "SELECT 1 FROM decode_errors"))
    return _Detection(
        "malformed frame", len(garbage), min(audited, len(garbage)), 0, "decode_errors"
    )


def check_connects(report: SoakReport, times: list[float]) -> None:
    """At most ``CONNECT_LIMIT`` of the connections the simulator accepted (``times``, trio
    time) in any 10 minutes."""
    worst = 0
    start = 0
    for end, at in enumerate(times):
        while times[start] <= at - CONNECT_WINDOW:
            start += 1
        worst = max(worst, end - start + 1)
    report.figures["connections"] = len(times)
    report.figures["most_connections_in_10_min"] = worst
    report.check(
        "connection attempts within Kraken's limit",
        worst <= CONNECT_LIMIT,
        f"{len(times)} connections, at most {worst} in any 10 minutes (limit {CONNECT_LIMIT})",
    )


def check_capture(report: SoakReport, folder: Path) -> None:
    """At least one capture file, and every file readable to its last record."""
    files = sorted(folder.glob("*.gfcap"))
    records = 0
    problems = []
    for path in files:
        try:
            reader = Reader(str(path), path.read_bytes())
            records += sum(len(block) for block in reader.blocks())
        except ConfigError as exc:
            problems.append(str(exc))
    report.figures["capture_records"] = records
    report.check(
        "capture readable to its end",
        bool(files) and not problems,
        f"{len(files)} file(s), {records:,} records" + "".join(f"\n    {p}" for p in problems),
    )


def check_rss_growth(report: SoakReport) -> None:
    """The process grew by ``RSS_GROWTH_LIMIT_MB`` at most between start and end."""
    growth = report.figures["rss_end_mb"] - report.figures["rss_start_mb"]
    report.check(
        "RSS growth bounded",
        growth <= RSS_GROWTH_LIMIT_MB,
        f"{report.figures['rss_start_mb']:.0f} MB -> {report.figures['rss_end_mb']:.0f} MB"
        f" (+{growth:.1f}, limit {RSS_GROWTH_LIMIT_MB:.0f}; engine and simulator together)",
    )
