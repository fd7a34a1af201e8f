"""Audit rows of many requests stored in one group commit, without blocking the event loop.

A KMS operation costs tens of microseconds; handing each request's audit row to the
group-commit writer on its own costs more (a writer wake-up, a thread-safe callback
and a small commit whose fixed cost is paid by few rows). Here an event loop has at
most one submission at the writer: rows arriving meanwhile wait together and go as
the next submission the moment it is done, and every request resumes only once the
commit holding its rows is done. When the writer is idle nothing waits: the rows go
on the loop's next turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from certward.ca.group_commit import GroupCommitWriter, TableRow
from certward.errors import CertwardError

__all__ = ["AuditBatch"]


@dataclass
class _Batch:
    rows: list[TableRow] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass
class _LoopState:
    waiting: _Batch = field(default_factory=_Batch)
    submitting: bool = False  # a submission is scheduled or at the writer


class AuditBatch:
    """Collects audit rows per event loop; :meth:`store` returns once they are committed."""

    def __init__(self, writer: GroupCommitWriter) -> None:
        self._writer = writer
        self._loops: dict[asyncio.AbstractEventLoop, _LoopState] = {}

    async def store(self, rows: Sequence[TableRow]) -> None:
        """Store ``rows`` in a shared commit and wait for it (StorageError if it fails)."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        waiter: asyncio.Future[None] = loop.create_future()
        state.waiting.rows.extend(rows)
        state.waiting.waiters.append(waiter)
        if not state.submitting:
            state.submitting = True
            loop.call_soon(self._submit, loop, state)
        await waiter

    def _submit(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        batch, state.waiting = state.waiting, _Batch()
        if not batch.rows:
            state.submitting = False
            return
        try:
            committed = self._writer.submit(batch.rows)
        except CertwardError as exc:  # the writer is closing
            state.submitting = False
            _settle(batch.waiters, exc)
            return

        def wake(done: Future[None]) -> None:
            if not loop.is_closed():  # a loop shut down meanwhile has no one left to wake
                loop.call_soon_threadsafe(self._committed, loop, state, batch, done)

        committed.add_done_callback(wake)

    def _committed(
        self,
        loop: asyncio.AbstractEventLoop,
        state: _LoopState,
        batch: _Batch,
        done: Future[None],
    ) -> None:
        _settle(batch.waiters, done.exception())
        self._submit(loop, state)  # what arrived meanwhile goes now (or the loop goes idle)


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():  # its request was cancelled meanwhile
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
