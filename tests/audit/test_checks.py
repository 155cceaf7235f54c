"""Foreign, odd and missing databases are refused in one line, before anything changes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from galfriday.audit.checks import check_database
from galfriday.audit.queries import open_database
from galfriday.audit.store import AuditStore
from galfriday.errors import ConfigError


def _foreign(path: Path, *, wal: bool = False) -> Path:
    """Another program's SQLite database."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        if wal:
            conn.execute("PRAGMA journal_mode = wal")
        conn.execute("CREATE TABLE recipes (name TEXT, minutes INTEGER)")
        conn.execute("INSERT INTO recipes VALUES ('soup', 40)")
        conn.commit()
    return path


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of ``folder``: its bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _refused(path: Path, says: str, *, create: bool = True) -> None:
    with pytest.raises(ConfigError) as info:
        check_database(path, create=create)
    assert says in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_another_programs_database_is_refused_and_left_exactly_as_it_was(
    tmp_path: Path, wal: bool
) -> None:
    path = _foreign(tmp_path / "recipes.db", wal=wal)
    before = _snapshot(tmp_path)
    with pytest.raises(ConfigError, match="another program's SQLite database"):
        AuditStore(path)
    with pytest.raises(ConfigError, match="another program's SQLite database"):
        open_database(path)
    assert _snapshot(tmp_path) == before  # same bytes, same mtime, no -wal/-shm/.lock


def test_a_table_named_migrations_of_another_shape_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE migrations (id INTEGER, migration TEXT, batch INTEGER)")
        conn.commit()
    _refused(path, "another program's SQLite database")


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("shopping: eggs, flour\n")
    before = _snapshot(tmp_path)
    _refused(path, "is not a SQLite database")
    _refused(path, "is not a SQLite database", create=False)
    with pytest.raises(ConfigError):
        AuditStore(path)
    assert _snapshot(tmp_path) == before


def test_a_folder_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, "is a folder, not a database file")
    _refused(tmp_path, "is a folder, not a database file", create=False)


def test_a_missing_database_is_refused_for_reading_and_never_created(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    _refused(path, "no audit database here", create=False)
    with pytest.raises(ConfigError, match="no audit database here"):
        open_database(path)
    assert list(tmp_path.iterdir()) == []


def test_a_new_database_needs_an_existing_folder(tmp_path: Path) -> None:
    _refused(tmp_path / "missing" / "g.db", "folder")
    check_database(tmp_path / "g.db", create=True)  # fine, and it created nothing
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_written_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests may run as root, for whom every mode bit is writable: ask os.access to say no.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    _refused(tmp_path / "g.db", "is not writable")


def test_an_existing_database_that_cannot_be_written_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "g.db"
    AuditStore(path).close()
    folder = str(tmp_path)
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) == folder)
    _refused(path, "cannot be written")


def test_galfridays_own_database_passes_for_writing_and_reading(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    AuditStore(path).close()
    check_database(path, create=True)
    check_database(path, create=False)
    open_database(path).close()


def test_an_empty_file_or_empty_database_may_become_ours_but_is_not_one_yet(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    blank = tmp_path / "blank.db"
    sqlite3.connect(blank).close()  # a SQLite file with no table at all
    for path in (empty, blank):
        check_database(path, create=True)
        with pytest.raises(ConfigError, match="not a galfriday audit database"):
            check_database(path, create=False)
    AuditStore(empty).close()
    check_database(empty, create=False)
