"""Group commit: rows from many concurrent requests stored in shared transactions.

A durable commit costs a flush to disk (~0.3-2 ms); signing a certificate costs
~0.2 ms. One commit per certificate caps a server far below its signing rate,
so request threads hand their finished rows (a certificate, an audit event) to
one writer thread and wait; the writer commits everything that arrived
meanwhile in one transaction and wakes them. Each caller still returns only
after the commit holding its rows.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, cast

import structlog
from sqlalchemy import Connection, Table
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from certward.errors import Conflict, StorageError
from certward.store.database import Database
from certward.store.models import CertificateRow

__all__ = ["CERTIFICATES", "GroupCommitWriter", "TableRow", "insert_rows"]

_log = structlog.get_logger()
# Core, not the ORM, on the hot insert path (see ../shared/reference/python-stack.md).
CERTIFICATES = cast(Table, CertificateRow.__table__)


TableRow = tuple[Table, dict[str, Any]]


def insert_rows(session: Session, rows: Sequence[TableRow]) -> None:
    """Insert ``rows`` (an audit event, say) in the caller's transaction."""
    for table, row in rows:
        session.execute(table.insert(), [row])


@dataclass
class _Pending:
    rows: Sequence[TableRow]
    done: Future[None] = field(default_factory=Future)


class GroupCommitWriter:
    """One writer thread that commits queued rows in batches."""

    def __init__(self, database: Database, *, max_batch: int = 256) -> None:
        self._database = database
        self._max_batch = max_batch
        self._queue: deque[_Pending] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._held: Connection | None = None
        self._thread = threading.Thread(target=self._run, name="certward-group-commit", daemon=True)
        self._thread.start()

    def submit(self, rows: Sequence[TableRow]) -> Future[None]:
        """Queue ``rows`` (stored together, in one transaction); the future ends with the commit.

        It never blocks: an event loop awaits ``asyncio.wrap_future(writer.submit(rows))``.
        The future's exception is a StorageError when the rows could not be stored, a
        Conflict when they break a constraint (e.g. an Idempotency-Key stored meanwhile).
        """
        pending = _Pending(rows)
        with self._wake:
            if self._closed:
                raise StorageError("the certificate store is shutting down")
            self._queue.append(pending)
            self._wake.notify()
        return pending.done

    def store_all(self, rows: Sequence[TableRow]) -> None:
        """Queue ``rows`` (stored together, in one transaction) and wait for their commit."""
        self.submit(rows).result()

    def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)

    def _take(self) -> list[_Pending] | None:
        with self._wake:
            while not self._queue and not self._closed:
                self._wake.wait()
            if not self._queue:
                return None
            count = min(len(self._queue), self._max_batch)
            return [self._queue.popleft() for _ in range(count)]

    def _connection(self) -> Connection:
        """The writer's own connection, kept between batches (a pool checkout and its
        reset cost more than a small batch's inserts); made again after a failure."""
        if self._held is None:
            self._held = self._database.engine.connect()
        return self._held

    def _drop_connection(self) -> None:
        if self._held is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._held.invalidate()
            with contextlib.suppress(SQLAlchemyError):
                self._held.close()
            self._held = None

    def _insert(self, batch: list[_Pending]) -> None:
        connection = self._connection()
        with self._database.writer_turn(), connection.begin():
            flat = [table_row for pending in batch for table_row in pending.rows]
            for table in dict.fromkeys(table for table, _ in flat):
                rows = [row for row_table, row in flat if row_table is table]
                connection.execute(table.insert(), rows)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            try:
                self._insert(batch)
            except IntegrityError:
                raise
            except SQLAlchemyError:
                # The kept connection may have died with its server: once more on a new one.
                self._drop_connection()
                self._insert(batch)
        except SQLAlchemyError as exc:
            if not isinstance(exc, IntegrityError):
                self._drop_connection()
            if len(batch) > 1:
                # One bad row must not fail its neighbours: retry them one by one.
                for pending in batch:
                    self._commit([pending])
                return
            _log.warning("certificate.store_failed", error=type(exc).__name__)
            batch[0].done.set_exception(
                Conflict("the change conflicts with data already stored")
                if isinstance(exc, IntegrityError)
                else StorageError(f"the record could not be stored: {type(exc).__name__}")
            )
            return
        for pending in batch:
            pending.done.set_result(None)

    def _run(self) -> None:
        try:
            while (batch := self._take()) is not None:
                self._commit(batch)
        finally:
            if self._held is not None:
                with contextlib.suppress(SQLAlchemyError):
                    self._held.close()
                self._held = None
