"""What a stopped engine leaves on disk, and a second engine on the same database."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

import galfriday


def _settings(tmp_path: Path) -> galfriday.Settings:
    return galfriday.load_config(database=tmp_path / "g.db", capture=False, seed=4)


async def test_a_clean_stop_leaves_every_row_in_the_database_file(tmp_path: Path) -> None:
    # A backup that copies galfriday.db alone (not its -wal) must hold the session.
    async with galfriday.open_engine(_settings(tmp_path)) as engine:
        assert engine.book("BTC/USD").verified
    wal = tmp_path / "g.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "backup.db"
    shutil.copyfile(tmp_path / "g.db", copy)
    with sqlite3.connect(copy) as conn:
        states = conn.execute("select count(*) from connection_events").fetchone()[0]
        balances = conn.execute("select count(*) from balances").fetchone()[0]
    assert states > 0 and balances > 0


async def test_a_second_engine_on_the_same_database_is_refused_before_it_starts(
    tmp_path: Path,
) -> None:
    async with galfriday.open_engine(_settings(tmp_path)):
        with pytest.raises(galfriday.ConfigError, match="is in use by another galfriday"):
            async with galfriday.open_engine(_settings(tmp_path)):
                pass  # pragma: no cover - refused before it yields
