"""SQLite writers take turns on a lock file: across threads and processes, nested, after fork."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import text

from certward.store.database import Database, WriterTurns, sqlite_url

_CHILD_WRITES = """
import sys
from sqlalchemy import text
from certward.store.database import Database
database = Database(sys.argv[1])
print("started", flush=True)
with database.transaction() as session:
    session.execute(text("INSERT INTO log (who) VALUES ('child')"))
database.dispose()
"""


def _database(tmp_path: Path) -> Database:
    database = Database(sqlite_url(tmp_path / "db.sqlite"))
    with database.transaction() as session:
        session.execute(text("CREATE TABLE log (id INTEGER PRIMARY KEY, who TEXT)"))
    return database


def _log(database: Database) -> list[str]:
    with database.read() as session:
        return list(session.scalars(text("SELECT who FROM log ORDER BY id")))


def test_the_lock_file_sits_next_to_the_database_and_is_private(tmp_path: Path) -> None:
    database = _database(tmp_path)

    lock = tmp_path / "db.sqlite-writers.lock"
    assert lock.is_file()
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    database.dispose()


def test_a_writer_in_another_process_waits_for_the_turn_to_end(tmp_path: Path) -> None:
    database = _database(tmp_path)
    with database.transaction() as session:
        session.execute(text("INSERT INTO log (who) VALUES ('first')"))
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD_WRITES, database.url],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "started"
        # The child is now waiting for its turn; this transaction is not over yet.
        session.execute(text("INSERT INTO log (who) VALUES ('second')"))
    assert child.wait(timeout=60) == 0

    assert _log(database) == ["first", "second", "child"]
    database.dispose()


def test_threads_of_one_process_take_turns_too(tmp_path: Path) -> None:
    database = _database(tmp_path)
    inside = threading.Event()
    order: list[str] = []

    def other_thread() -> None:
        inside.wait(30)
        with database.transaction() as session:
            order.append("other")
            session.execute(text("INSERT INTO log (who) VALUES ('other')"))

    thread = threading.Thread(target=other_thread)
    thread.start()
    with database.transaction() as session:
        inside.set()
        session.execute(text("INSERT INTO log (who) VALUES ('holder')"))
        order.append("holder")
    thread.join(timeout=60)

    assert order == ["holder", "other"]
    assert _log(database) == ["holder", "other"]
    database.dispose()


def test_a_thread_holding_its_turn_may_take_it_again(tmp_path: Path) -> None:
    turns = WriterTurns(tmp_path / "db.sqlite")

    with turns.turn(), turns.turn():
        pass
    with turns.turn():  # released by both levels: free again
        pass
    turns.close()


def test_a_forked_child_does_not_share_its_parents_turn(tmp_path: Path) -> None:
    turns = WriterTurns(tmp_path / "db.sqlite")
    with turns.turn():
        pid = os.fork()
        if pid == 0:  # the child: its own descriptor, so the parent's lock excludes it
            try:
                fcntl.flock(turns._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    turns.close()
