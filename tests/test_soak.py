"""The short soak (`just soak 0.5`: 30 s, about 45 s with the final checks): every check
must pass in CI too."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import trio

from galfriday.soak import SoakConfig, print_report, run_soak

pytestmark = pytest.mark.slow  # half a minute of faults on real time


def test_a_short_soak_detects_every_fault_and_ends_equal_to_the_exchange(tmp_path: Path) -> None:
    config = SoakConfig(minutes=0.5, seed=1)
    report = trio.run(run_soak, config, tmp_path)
    out = io.StringIO()
    print_report(report, config, out)
    assert report.ok, out.getvalue()
    # The faults whose detection is checked come first in the schedule, so even 10 s of
    # faults covers them all.
    for kind in ("drop_frames", "stall", "corrupt_checksum", "drift_deposit"):
        assert report.injected[kind] >= 1, out.getvalue()
    detection = report.figures["detection"]
    for name in ("private sequence gap", "checksum corruption", "stall"):
        assert detection[name]["injected"] >= 1, out.getvalue()
    assert len(report.checks) >= 14
