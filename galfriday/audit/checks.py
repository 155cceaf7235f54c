"""Is this path galfriday's audit database? Asked before anything is changed.

:func:`check_database` only looks: it never creates, locks, migrates or switches a file to WAL,
and it leaves no ``-wal``/``-shm`` beside a file it refuses (a file without a ``-wal`` is read
with SQLite's ``immutable`` flag, which opens nothing else). Every refusal is one
:class:`~galfriday.errors.ConfigError` naming the path and the fix.

What counts as galfriday's: a SQLite file with a ``migrations`` table whose rows are all named
like ours (``NNN_words.sql``) and include ``001_audit_core.sql``. A new engine may also take a
path that does not exist yet (its folder must), an empty file, an empty SQLite database, or one
whose only table is an empty ``migrations`` (a first start that stopped half-way).
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Final

from galfriday.errors import ConfigError

__all__ = ["CORE_MIGRATION", "SQLITE_HEADER", "check_database"]

SQLITE_HEADER: Final = b"SQLite format 3\x00"
CORE_MIGRATION: Final = "001_audit_core.sql"
_MIGRATION_NAME: Final = re.compile(r"[0-9]{3}_[A-Za-z0-9_]+\.sql")
_FOREIGN: Final = "galfriday leaves it alone; choose another --db"


def check_database(path: Path, *, create: bool) -> None:
    """Refuse a path that must not be opened as the audit database; changes nothing on disk.

    Args:
        path: the ``--db`` path.
        create: ``True`` for a writer that may create the database (``run``, ``replay``);
            ``False`` for a command that reads an existing one (``report``, ``status``,
            ``prune``, ``review``).

    Raises:
        ConfigError: a folder, a missing file (when reading) or folder (when creating), a file
            that is not SQLite, another program's database, or a path that cannot be written.
    """
    name = str(path)
    if path.is_dir():
        raise ConfigError(name, "is a folder, not a database file; pass --db FOLDER/galfriday.db")
    if not path.exists():
        if not create:
            raise ConfigError(name, "no audit database here; run galfriday first or pass --db")
        _check_folder(path)
        return
    if not path.is_file():
        raise ConfigError(name, f"is not a regular file; {_FOREIGN}")
    if create:
        _check_folder(path)
        if not os.access(path, os.R_OK | os.W_OK):
            raise ConfigError(
                name, "cannot be written (permission denied); fix its mode or choose another --db"
            )
    header = _header(path)
    if not header:
        if create:
            return
        raise ConfigError(name, "is an empty file, not a galfriday audit database; check --db")
    if header != SQLITE_HEADER:
        raise ConfigError(name, f"is not a SQLite database; {_FOREIGN}")
    tables, migrations = _catalogue(path)
    if create and (not tables or (tables == {"migrations"} and migrations == set())):
        return
    if not tables:
        raise ConfigError(name, "is an empty SQLite database, not a galfriday audit database")
    if migrations is None or not _ours(migrations):
        raise ConfigError(
            name, f"is another program's SQLite database, not galfriday's; {_FOREIGN}"
        )


def _check_folder(path: Path) -> None:
    folder = path.parent
    if not folder.exists():
        raise ConfigError(
            str(path), f"folder {folder} does not exist; create it or choose another --db"
        )
    if not folder.is_dir():
        raise ConfigError(str(path), f"{folder} is not a folder; choose another --db")
    if not os.access(folder, os.W_OK | os.X_OK):
        # The database, its -wal and -shm and the lock all live in this folder.
        raise ConfigError(str(path), f"folder {folder} is not writable; choose another --db")


def _header(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read ({exc.strerror}); check --db") from None


def _catalogue(path: Path) -> tuple[set[str], set[str] | None]:
    """The file's tables, and the names in its ``migrations`` table (``None``: no such table
    or not ours in shape)."""
    wal = Path(f"{path}-wal")
    live = wal.exists() and wal.stat().st_size > 0  # rows may be in the -wal: read it too
    uri = path.resolve().as_uri() + ("?mode=ro" if live else "?immutable=1")
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise ConfigError(str(path), f"cannot be opened ({exc}); check --db") from None
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        tables = {str(row[0]) for row in rows}
        if "migrations" not in tables:
            return tables, None
        try:
            names = conn.execute("SELECT name FROM migrations").fetchall()
        except sqlite3.OperationalError:  # a table of that name, but not ours (no "name")
            return tables, None
        return tables, {str(row[0]) for row in names}
    except sqlite3.DatabaseError as exc:
        raise ConfigError(
            str(path), f"is not a readable SQLite database ({exc}); {_FOREIGN}"
        ) from None
    finally:
        conn.close()


def _ours(migrations: set[str]) -> bool:
    return CORE_MIGRATION in migrations and all(_MIGRATION_NAME.fullmatch(m) for m in migrations)
