"""What a soak found: one ``Check`` per rule, the faults injected, and figures for the record.

The soak passed when there is at least one check and every check passed. ``print_report``
writes the report as the command shows it; its lines are the soak's output format.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from galfriday.soak.config import SoakConfig

__all__ = ["Check", "SoakReport", "print_report"]


@dataclass(frozen=True)
class Check:
    """One rule of the soak: its name, whether it held, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass
class SoakReport:
    """Every check in the order it ran, the faults injected per kind, and figures."""

    seconds: float = 0.0
    injected: Counter[str] = field(default_factory=Counter)
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))


def print_report(report: SoakReport, config: SoakConfig, out: TextIO) -> None:
    """The report as ``galfriday soak`` prints it, ending in "soak passed" or "soak FAILED"."""
    load = f", {config.cpu_load} busy processes beside it" if config.cpu_load else ""
    lines = [
        f"galfriday soak: {config.minutes:g} min, seed {config.seed}{load},"
        f" {report.seconds:.0f} s, faults injected {sum(report.injected.values())}"
        f" ({len(report.injected)} kinds)"
    ]
    lines += [f"  {kind:<20} {count}" for kind, count in sorted(report.injected.items())]
    for check in report.checks:
        mark = "ok  " if check.ok else "FAIL"
        lines.append(f"{mark} {check.name}: {check.detail}")
    lines.append("soak passed" if report.ok else "soak FAILED")
    out.write("\n".join(lines) + "\n")
