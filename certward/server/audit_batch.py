"""Audit rows of many requests stored in one group commit, without blocking the event loop.

A KMS operation costs tens of microseconds; handing each request's audit row to the
group-commit writer on its own costs more (a writer wake-up, a thread-safe callback
and a small commit whose fixed cost, mostly the disk flush, is paid by few rows).
Here an event loop has at most one submission at the writer: rows arriving meanwhile
wait together, and every request resumes only once the commit holding its rows is
done.

The requests a commit answers usually come straight back (a client on a keep-alive
connection sends its next call). Sent the moment a commit ends, the next submission
would hold only the rows that arrived during it, and the answered requests would wait
for the one after: the clients split into two halves that take turns, each commit
carrying half of them. So after a commit the next submission waits until as many
requests are waiting as were in flight (those it answered and those already
waiting), but never longer than half the last commit took (at most ``MAX_HOLD``):
one commit then carries every client. When the writer has been idle that long, or
the requests are all there, nothing waits: the rows go on the loop's next turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from certward.ca.group_commit import GroupCommitWriter, TableRow
from certward.errors import CertwardError

__all__ = ["MAX_HOLD", "AuditBatch"]

# The longest a submission waits for the requests of the last commit to come back (s).
MAX_HOLD = 0.002


@dataclass
class _Batch:
    rows: list[TableRow] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass
class _LoopState:
    waiting: _Batch = field(default_factory=_Batch)
    submitting: bool = False  # a submission is scheduled or at the writer
    # After a commit: the requests in flight, and until when (loop time) to wait for them.
    expected: int = 0
    hold_until: float = 0.0
    timer: asyncio.TimerHandle | None = None


class AuditBatch:
    """Collects audit rows per event loop; :meth:`store` returns once they are committed."""

    def __init__(self, writer: GroupCommitWriter, *, max_hold: float = MAX_HOLD) -> None:
        self._writer = writer
        self._max_hold = max_hold
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
            self._schedule(loop, state)
        await waiter

    def _schedule(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        """Submit on the loop's next turn, or wait (a timer) for the expected requests."""
        if len(state.waiting.waiters) >= state.expected or loop.time() >= state.hold_until:
            if state.timer is not None:
                state.timer.cancel()
                state.timer = None
            state.submitting = True
            loop.call_soon(self._submit, loop, state)
        elif state.timer is None:
            state.timer = loop.call_at(state.hold_until, self._hold_over, loop, state)

    def _hold_over(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        state.timer = None
        if not state.submitting and state.waiting.waiters:
            state.submitting = True
            self._submit(loop, state)

    def _submit(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        batch, state.waiting = state.waiting, _Batch()
        if not batch.rows:
            state.submitting = False
            return
        started = loop.time()
        try:
            committed = self._writer.submit(batch.rows)
        except CertwardError as exc:  # the writer is closing
            state.submitting = False
            _settle(batch.waiters, exc)
            return

        def wake(done: Future[None]) -> None:
            if not loop.is_closed():  # a loop shut down meanwhile has no one left to wake
                loop.call_soon_threadsafe(self._committed, loop, state, batch, done, started)

        committed.add_done_callback(wake)

    def _committed(
        self,
        loop: asyncio.AbstractEventLoop,
        state: _LoopState,
        batch: _Batch,
        done: Future[None],
        started: float,
    ) -> None:
        _settle(batch.waiters, done.exception())
        now = loop.time()
        state.submitting = False
        state.expected = len(batch.waiters) + len(state.waiting.waiters)
        state.hold_until = now + min(self._max_hold, (now - started) / 2)
        if state.waiting.waiters:
            self._schedule(loop, state)  # what arrived meanwhile goes now, or with the rest


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():  # its request was cancelled meanwhile
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
