"""Change notices between nodes: delivered on commit, never for a rolled-back change."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.store.database import Database
from certward.store.notify import ChangeListener, notify_change
from tests.support.postgres import postgres_available, postgres_schema

WAIT = 30.0


@pytest.fixture
def database() -> Iterator[Database]:
    """A fresh schema on the PostgreSQL server (LISTEN/NOTIFY is a PostgreSQL feature)."""
    if not postgres_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 does not answer")
    with postgres_schema(f"cw_{uuid.uuid4().hex[:12]}") as url:
        db = Database(url)
        yield db
        db.dispose()


@pytest.fixture
def listener(database: Database) -> Iterator[ChangeListener]:
    listening = ChangeListener(database)
    deadline = time.monotonic() + WAIT
    while not listening.listening and time.monotonic() < deadline:
        listening.wait(0.1)
    assert listening.listening
    yield listening
    listening.close()


def _seen(listener: ChangeListener, payload: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if payload in listener.recent:
            return True
        listener.wait(0.1)
    return payload in listener.recent


@pytest.mark.pg
def test_a_committed_notice_wakes_the_listener(
    database: Database, listener: ChangeListener
) -> None:
    payload = f"crl:{uuid.uuid4().hex}"
    with database.transaction() as session:
        notify_change(session, payload)
    assert _seen(listener, payload, WAIT)


@pytest.mark.pg
def test_a_rolled_back_change_sends_no_notice(database: Database, listener: ChangeListener) -> None:
    payload = f"crl:{uuid.uuid4().hex}"
    with pytest.raises(RuntimeError), database.transaction() as session:
        notify_change(session, payload)
        raise RuntimeError("the change fails")
    marker = f"crl:{uuid.uuid4().hex}"
    with database.transaction() as session:
        notify_change(session, marker)
    # Notices arrive in commit order: once the later one is here, the first never will be.
    assert _seen(listener, marker, WAIT)
    assert payload not in listener.recent


def test_sqlite_has_no_listener_thread_and_just_times_out(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    listening = ChangeListener(db)
    try:
        assert listening.wait(0.01) is False
        assert not listening.listening
    finally:
        listening.close()
        db.dispose()
