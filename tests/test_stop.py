"""``galfriday stop``: the kill switch's file, set and cleared from the command line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import trio

import galfriday
from galfriday import cli


def test_stop_creates_the_file_beside_the_database_and_clear_removes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "g.db"
    assert cli.main(["stop", "--db", str(db)]) == 0
    assert (tmp_path / "g.db.stop").exists()
    assert "kill switch set" in capsys.readouterr().out
    assert cli.main(["--db", str(db), "stop", "--clear"]) == 0
    assert not (tmp_path / "g.db.stop").exists()
    assert "cleared" in capsys.readouterr().out


def test_stop_reads_the_kill_file_and_database_of_a_config(tmp_path: Path) -> None:
    config = tmp_path / "g.toml"
    config.write_text(f'[engine]\ndatabase = "{tmp_path / "x.db"}"\n')
    assert cli.main(["stop", "--config", str(config)]) == 0
    assert (tmp_path / "x.db.stop").exists()
    chosen = tmp_path / "halt-now"
    config.write_text(f'[rails]\nkill_file = "{chosen}"\n')
    assert cli.main(["stop", "--config", str(config)]) == 0
    assert chosen.exists()


def test_a_set_kill_switch_refuses_orders_from_the_start(tmp_path: Path) -> None:
    settings = galfriday.load_config(database=tmp_path / "g.db", capture=False, seed=2)
    (tmp_path / "g.db.stop").touch()

    async def main() -> None:
        async with galfriday.open_engine(settings) as engine:
            with pytest.raises(galfriday.TradingHalted, match="kill switch"):
                await engine.place("BTC/USD", "buy", Decimal("0.001"), order_type="market")
            assert engine.orders() == []

    trio.run(main)
