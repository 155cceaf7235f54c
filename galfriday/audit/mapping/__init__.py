"""Which audit rows each engine event is recorded as: the one place that decides it.

Rules:
- Pure functions: an event (and, where the event does not carry it, the little more a row
  needs, passed explicitly) in, typed rows (:mod:`galfriday.audit.tables`) out. No I/O, no
  clock: a row's time is its event's ``received_at`` (or the ``wall`` passed in).
- Every producer hands what these return to the audit writer
  (:meth:`~galfriday.audit.writer.AuditWriter.write_row`); none builds rows of its own.
- :func:`event_rows` maps the events whose rows need nothing beyond the event (and the
  followed pairs, for balances); the other functions say in their signature what they need.
- The functions live in :mod:`.streams` (connections, integrity, orders, fills, balances,
  alerts) and :mod:`.reconciliation` (runs and the review queue); use them from here.

By event:

==========================  ==========================================================
``ConnectionStateChanged``  :func:`connection_row`
``GapDetected``             :func:`gap_row`
``ResyncStarted``           :func:`resync_row` (with the attempt number)
``OrderUpdate``             :func:`order_rows`: the order event and the order now
``FillEvent``               :func:`fill_row`
``OrderAnomaly``            :func:`anomaly_row`
``BalanceChange``           :func:`balance_rows` (with the followed pairs): the ledger
                            entry, an unexplained move, the balance, the positions
``Alert``                   :func:`alert_row`
``Discrepancy``             :func:`discrepancy_row`, :func:`review_row` (with the run id)
``ReconciliationReport``    :func:`reconciliation_row` (with calls, duration, details)
==========================  ==========================================================

Rows that come from no event: :func:`holding_rows` (a balance set outside the stream),
:func:`ledger_row` (a REST ledger entry), :func:`correction_row`, :func:`explained_row` and
the review decision's :func:`decision_rows`, :func:`outcome_unknown_rows` (an order sent
without an answer), :func:`rest_call_row`, and the ``decode_errors`` rows
(:func:`malformed_row`, :func:`failed_frame_row`, :func:`skipped_entry_row`). Health
snapshots and book checks are counters, built as their structs directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from galfriday.audit.mapping.reconciliation import (
    BALANCE_DECISIONS,
    applied_review_row,
    correction_row,
    decision_rows,
    discrepancy_row,
    explained_row,
    outcome_unknown_rows,
    reconciliation_row,
    review_id,
    review_row,
    run_details,
)
from galfriday.audit.mapping.streams import (
    RAW_CHARS,
    REASON_CHARS,
    alert_row,
    anomaly_row,
    balance_rows,
    connection_row,
    failed_frame_row,
    fill_row,
    gap_row,
    holding_rows,
    ledger_row,
    malformed_row,
    order_rows,
    rest_call_row,
    resync_row,
    skipped_entry_row,
)
from galfriday.audit.tables import Row
from galfriday.events import (
    Alert,
    BalanceChange,
    ConnectionStateChanged,
    Event,
    FillEvent,
    GapDetected,
    OrderAnomaly,
    OrderUpdate,
)

__all__ = [
    "BALANCE_DECISIONS",
    "RAW_CHARS",
    "REASON_CHARS",
    "alert_row",
    "anomaly_row",
    "applied_review_row",
    "balance_rows",
    "connection_row",
    "correction_row",
    "decision_rows",
    "discrepancy_row",
    "event_rows",
    "explained_row",
    "failed_frame_row",
    "fill_row",
    "gap_row",
    "holding_rows",
    "ledger_row",
    "malformed_row",
    "order_rows",
    "outcome_unknown_rows",
    "reconciliation_row",
    "rest_call_row",
    "resync_row",
    "review_id",
    "review_row",
    "run_details",
    "skipped_entry_row",
]


def event_rows(event: Event, pairs: Iterable[str] = ()) -> Sequence[Row]:
    """The rows of an event whose rows need nothing more (``pairs``: the followed pairs, for
    a :class:`~galfriday.events.BalanceChange`); empty for any other event (market data,
    health, and those needing more: see the module docstring)."""
    if isinstance(event, BalanceChange):
        return balance_rows(event, pairs)
    if isinstance(event, OrderUpdate):
        return order_rows(event)
    single = _SINGLE.get(type(event))
    return () if single is None else (single(event),)


_SINGLE: Final[dict[type[Event], Callable[[Any], Row]]] = {
    ConnectionStateChanged: connection_row,
    GapDetected: gap_row,
    FillEvent: fill_row,
    OrderAnomaly: anomaly_row,
    Alert: alert_row,
}
