"""Change notices between nodes that share one PostgreSQL database (LISTEN/NOTIFY).

A transaction that publishes something other nodes must act on at once (a new
CRL, a revocation) calls :func:`notify_change` inside itself: PostgreSQL
delivers the notice when, and only if, the transaction commits. Each node runs
a :class:`ChangeListener` whose ``wait`` returns as soon as a notice arrives,
so a revocation on node A reaches node C's TLS context in milliseconds.

Notices are a shortcut, never the only path: the listener's ``wait`` also
returns after the poll interval, and callers then compare the database state
themselves. A lost connection is re-established in the background; SQLite (one
machine) has no notices and just polls.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from certward.store.database import Database

__all__ = ["CHANNEL", "ChangeListener", "notify_change"]

CHANNEL = "certward_changes"
_log = structlog.get_logger()
_RECONNECT_SECONDS = 1.0


def notify_change(session: Session, what: str) -> None:
    """Tell the other nodes, when this transaction commits, that ``what`` changed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :what)"), {"channel": CHANNEL, "what": what}
        )


class ChangeListener:
    """Wakes its waiter when another node (or this one) commits a change notice."""

    def __init__(self, database: Database) -> None:
        self._event = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.notices = 0
        self.recent: deque[str] = deque(maxlen=256)  # payloads of the latest notices
        self.listening = False
        if not database.is_sqlite:
            url = make_url(database.url).set(drivername="postgresql")
            self._conninfo = url.render_as_string(hide_password=False)
            self._thread = threading.Thread(
                target=self._listen, name="certward-listen", daemon=True
            )
            self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Block until a notice arrives (True) or ``timeout`` seconds pass (False)."""
        notified = self._event.wait(timeout)
        self._event.clear()
        return notified

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._event.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening = True
                    # A notice may have been missed while (re)connecting: wake the poller.
                    self._event.set()
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=0.5, stop_after=64):
                            self.notices += 1
                            self.recent.append(notice.payload)
                            self._event.set()
            except psycopg.Error as exc:
                self.listening = False
                _log.warning("notify.listen_failed", error=type(exc).__name__)
                time.sleep(_RECONNECT_SECONDS)
        self.listening = False
