"""One engine per database: the lock beside it, in this process and from another one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from galfriday.audit.lock import DatabaseLock, lock_path, read_holder
from galfriday.errors import ConfigError

HOLDER = """
import sys
from pathlib import Path
from galfriday.audit.lock import DatabaseLock
lock = DatabaseLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # hold it until the test closes our stdin (or kills us)
"""


@pytest.fixture
def other_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of ``tmp_path / "g.db"``."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "g.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline() == "locked\n"
    yield child
    child.kill()
    child.wait(timeout=10)
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


def test_the_lock_file_sits_beside_the_database_private_and_names_its_holder(
    tmp_path: Path,
) -> None:
    db = tmp_path / "g.db"
    before = time.time()
    with DatabaseLock(db):
        path = lock_path(db)
        assert path == tmp_path / "g.db.lock"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        holder = read_holder(db)
        assert holder is not None and holder.pid == os.getpid()
        assert holder.since is not None and before <= holder.since <= time.time()
    assert read_holder(db) is None


def test_a_second_lock_in_the_same_process_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    with DatabaseLock(db), pytest.raises(ConfigError) as info:
        DatabaseLock(db).acquire()
    message = str(info.value)
    assert message.startswith(f"--db: {db} is in use by another galfriday (pid {os.getpid()}")
    assert "stop it first or choose another --db" in message and "\n" not in message


def test_another_process_holding_the_lock_refuses_us_and_shows_in_read_holder(
    tmp_path: Path, other_process: subprocess.Popen[str]
) -> None:
    db = tmp_path / "g.db"
    with pytest.raises(ConfigError, match=f"pid {other_process.pid}, since "):
        DatabaseLock(db).acquire()
    holder = read_holder(db)
    assert holder is not None and holder.pid == other_process.pid


def test_the_lock_of_a_killed_process_is_free_at_once(
    tmp_path: Path, other_process: subprocess.Popen[str]
) -> None:
    db = tmp_path / "g.db"
    other_process.kill()
    other_process.wait(timeout=10)
    assert lock_path(db).read_text()  # the stale file still names it...
    assert read_holder(db) is None  # ...but nobody holds the lock
    with DatabaseLock(db) as lock:
        assert lock.held


def test_read_holder_without_a_lock_file_is_none_and_creates_nothing(tmp_path: Path) -> None:
    assert read_holder(tmp_path / "g.db") is None
    assert list(tmp_path.iterdir()) == []


def test_release_twice_is_harmless(tmp_path: Path) -> None:
    lock = DatabaseLock(tmp_path / "g.db")
    lock.acquire()
    lock.release()
    lock.release()
    assert not lock.held and read_holder(tmp_path / "g.db") is None
