"""``--db`` wherever a newcomer puts it: before the command, after it, after the action."""

from __future__ import annotations

from pathlib import Path

import pytest

from galfriday import cli


@pytest.mark.parametrize(
    "argv",
    [
        ["--db", "{db}", "status"],
        ["status", "--db", "{db}"],
        ["--db", "{db}", "review", "list"],
        ["review", "list", "--db", "{db}"],
        ["review", "--db", "{db}", "list"],
        ["--db", "{db}", "report", "--last", "5"],
    ],
)
def test_db_is_read_before_or_after_the_command(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "elsewhere.db"  # not there: each command names the file it looked for
    assert cli.main([a.format(db=db) for a in argv]) == 2
    assert f"{db}: no audit database here" in capsys.readouterr().err


def test_db_given_twice_with_two_values_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--db", str(tmp_path / "a.db"), "status", "--db", str(tmp_path / "b.db")]) == 2
    assert "--db" in capsys.readouterr().err


def test_db_before_a_command_without_a_database_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--db", "x.db", "decode", "--quiet"]) == 2
    assert "galfriday decode takes no audit database" in capsys.readouterr().err
