"""The composition root's small decisions: the demo switch and what the watchdog goes by."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from loguru import logger

from galfriday.app import _announce, _Lifecycle, _settings, wants_demo
from galfriday.config import Config, DemoSection
from galfriday.core.health import Health


def test_no_demo_wins_over_demo_enabled_in_the_config() -> None:
    config = Config(demo=DemoSection(enabled=True))
    assert wants_demo(config, argparse.Namespace(no_demo=False), trading=True)
    assert not wants_demo(config, argparse.Namespace(no_demo=True), trading=True)


def test_the_demo_never_runs_without_trading() -> None:
    config = Config(demo=DemoSection(enabled=True))
    assert not wants_demo(config, argparse.Namespace(no_demo=False), trading=False)


def _engine(halted: bool, *states: Health) -> Any:
    health = {f"conn{i}": SimpleNamespace(state=state) for i, state in enumerate(states)}
    return SimpleNamespace(storage=SimpleNamespace(halted=halted), health=health)


def test_an_engine_still_starting_counts_as_healthy_for_the_watchdog() -> None:
    assert _Lifecycle().healthy()


def test_the_watchdog_goes_by_connection_health_and_the_audit_trail() -> None:
    assert _Lifecycle(engine=_engine(False, Health.HEALTHY, Health.DEGRADED)).healthy()
    assert not _Lifecycle(engine=_engine(False, Health.HEALTHY, Health.UNHEALTHY)).healthy()
    assert not _Lifecycle(engine=_engine(True, Health.HEALTHY)).healthy()


def test_the_embedded_run_says_how_to_reach_the_other_commands(tmp_path: Path) -> None:
    lines: list[str] = []
    handle = logger.add(lines.append, level="INFO", format="{message}")
    logger.enable("galfriday")
    args = argparse.Namespace(
        config=None,
        seed=1,
        market_data_only=True,
        read_only=False,
        db=tmp_path / "s.db",
        no_capture=True,
        capture_dir=None,
    )
    try:
        _announce(_settings(args))
    finally:
        logger.remove(handle)
        logger.disable("galfriday")
    hint = next(line for line in lines if "just galfriday status" in line)
    assert f"just galfriday status --db {tmp_path / 's.db'}" in hint
    assert f"just galfriday stop --db {tmp_path / 's.db'}" in hint
    assert any("--seed 1 repeats" in line for line in lines)
