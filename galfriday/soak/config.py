"""What a soak is asked to do: how long, which seed, where, beside how much CPU load.

The fault stretch, the quiet stretch and the mean gap between faults all follow from
``minutes``; ``check`` refuses a configuration with one ``ConfigError`` (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from galfriday.errors import ConfigError
from galfriday.sim.faults import Fault

__all__ = ["SoakConfig"]


@dataclass(frozen=True)
class SoakConfig:
    """A soak of ``minutes`` (faults, then a quiet stretch) with faults seeded by ``seed``."""

    minutes: float = 5.0
    seed: int = 1
    folder: Path | None = None
    cpu_load: int = 0  # busy processes beside the soak

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def quiet(self) -> float:
        """The fault-free stretch at the end (recovery, then the checks)."""
        return min(30.0, max(20.0, self.seconds * 0.1))

    @property
    def fault_every(self) -> float:
        """Mean seconds between faults: one round of every kind over the fault stretch,
        but never more than 10 s (several a minute) nor less than 2.5 s."""
        return min(10.0, max(2.5, (self.seconds - self.quiet) / len(Fault)))

    def check(self) -> None:
        if not 0.5 <= self.minutes <= 24 * 60:  # also refuses nan
            raise ConfigError("MINUTES", "must be between 0.5 and 1440")
        if not 0 <= self.cpu_load <= 64:
            raise ConfigError("--cpu-load", "must be 0 to 64 busy processes")
        if self.folder is not None and self.folder.exists() and not self.folder.is_dir():
            raise ConfigError("--dir", f"{self.folder} is a file; give a folder")
