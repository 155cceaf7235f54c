"""``galfriday soak``: the engine against the simulator under a seeded fault schedule, checked.

For ``minutes`` the embedded simulator trades with the demo strategy while a seeded schedule
injects faults of every kind the simulator has, several a minute (a shuffled round of all
kinds, then another). The last stretch has no faults, so everything can recover; then the demo
stops, a final reconciliation runs, and the soak checks and prints:

- no unhandled exception (no ERROR log record, no task that died) and both connections
  subscribed again, each time within ``RESUBSCRIBE_LIMIT`` seconds of losing its subscription;
- every book verified;
- the engine's own orders, fills and balances equal the simulator's ground truth (orders a
  "foreign device" placed are not the engine's to adopt: each must be reported instead);
- every injected gap, stall, checksum corruption and drift detected (injected vs detected);
- no fill lost or applied twice (per order, the audited fills add up to the exchange's);
- RSS growth bounded; connection attempts never above Kraken's 150 in 10 minutes.

The exit code is 1 on any failed check. Everything runs on loopback; the database and
captures go to ``--dir`` (a temporary folder by default, kept when a check fails). With
``--cpu-load N``, N busy processes (``python3 -c "while True: pass"``) run beside it, so the
soak sees a small VPS that is busy with other work.
"""

from __future__ import annotations

from galfriday.soak.command import soak_command
from galfriday.soak.config import SoakConfig
from galfriday.soak.report import SoakReport, print_report
from galfriday.soak.run import run_soak

__all__ = ["SoakConfig", "SoakReport", "print_report", "run_soak", "soak_command"]
