"""``replay --verify`` compares the P&L rows of a session with the replay's."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from galfriday.audit.store import AuditStore
from galfriday.audit.tables import PnlRow
from galfriday.replay.verify import compare_databases

SPAN = (100.0, 200.0)


def _database(path: Path, *rows: PnlRow) -> Path:
    store = AuditStore(path)
    store.write(list(rows))
    store.close()
    return path


def _pnl(realised: str, at: float = 150.0, mark: str | None = "110") -> PnlRow:
    return PnlRow(
        symbol="BTC/USD",
        position=Decimal(1),
        average_cost=Decimal(100),
        realised=Decimal(realised),
        fees=Decimal("0.2"),
        mark=None if mark is None else Decimal(mark),
        unrealised=None if mark is None else Decimal(mark) - 100,
        updated_wall=at,
    )


def test_the_same_pnl_rows_do_not_diverge(tmp_path: Path) -> None:
    live = _database(tmp_path / "live.db", _pnl("5"))
    replay = _database(tmp_path / "replay.db", _pnl("5"))
    assert compare_databases(live, replay, SPAN) == []


def test_a_different_realised_figure_is_a_divergence_on_both_sides(tmp_path: Path) -> None:
    live = _database(tmp_path / "live.db", _pnl("5"))
    replay = _database(tmp_path / "replay.db", _pnl("6"))
    found = compare_databases(live, replay, SPAN)
    assert [(d.table, d.where, d.row["realised"]) for d in found] == [
        ("pnl", "session", "5"),
        ("pnl", "replay", "6"),
    ]


def test_a_different_mark_at_the_fill_is_a_divergence(tmp_path: Path) -> None:
    live = _database(tmp_path / "live.db", _pnl("5", mark="110"))
    replay = _database(tmp_path / "replay.db", _pnl("5", mark=None))
    assert {d.where for d in compare_databases(live, replay, SPAN)} == {"session", "replay"}


def test_a_pnl_row_a_later_session_replaced_is_not_compared(tmp_path: Path) -> None:
    live = _database(tmp_path / "live.db", _pnl("9", at=300.0))  # written after the capture
    replay = _database(tmp_path / "replay.db", _pnl("5"))
    assert compare_databases(live, replay, SPAN) == []
