"""Audit rows of many requests in shared commits: each caller resumes once its row is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from certward.access.audit import audit_row
from certward.ca.context import CAContext
from certward.ca.group_commit import GroupCommitWriter
from certward.datadir import initialise_data_dir
from certward.errors import StorageError
from certward.server.audit_batch import AuditBatch
from certward.store.models import AuditRow


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[CAContext]:
    context = initialise_data_dir(tmp_path / "data")
    yield context
    context.database.dispose()


def stored(ctx: CAContext, request_id: str | None = None) -> int:
    query = select(func.count()).select_from(AuditRow)
    if request_id is not None:
        query = query.where(AuditRow.request_id == request_id)
    with ctx.database.read() as session:
        return session.scalar(query) or 0


def row(ctx: CAContext, number: int) -> tuple[object, dict[str, object]]:
    return audit_row(
        ctx,
        principal="app",
        action="kms.sign",
        target="key-x",
        result="ok",
        request_id=f"r-{number}",
    )


def test_every_caller_resumes_after_its_row_is_committed(ctx: CAContext) -> None:
    writer = GroupCommitWriter(ctx.database)
    batch = AuditBatch(writer)
    found: list[int] = []

    async def request(number: int) -> None:
        await batch.store([row(ctx, number)])  # type: ignore[list-item]
        found.append(stored(ctx, f"r-{number}"))

    async def many() -> None:
        await asyncio.gather(*(request(n) for n in range(200)))

    try:
        asyncio.run(many())
    finally:
        writer.close()

    assert found == [1] * 200  # each caller found its own row stored when it resumed
    assert stored(ctx) == 200


def test_a_closed_writer_fails_the_callers_with_a_storage_error(ctx: CAContext) -> None:
    writer = GroupCommitWriter(ctx.database)
    writer.close()
    batch = AuditBatch(writer)

    with pytest.raises(StorageError):
        asyncio.run(batch.store([row(ctx, 1)]))  # type: ignore[list-item]
    assert stored(ctx) == 0


class CountingWriter(GroupCommitWriter):
    """A writer that remembers how many rows each submission held."""

    def __init__(self, ctx: CAContext) -> None:
        super().__init__(ctx.database)
        self.submissions: list[int] = []

    def submit(self, rows):  # type: ignore[no-untyped-def]
        self.submissions.append(len(rows))
        return super().submit(rows)


def test_the_requests_a_commit_answered_go_together_in_the_next(ctx: CAContext) -> None:
    writer = CountingWriter(ctx)
    batch = AuditBatch(writer, max_hold=60.0)  # as long as it takes: the clients come back

    async def client(number: int) -> None:
        for call in range(3):
            await batch.store([row(ctx, number * 10 + call)])  # type: ignore[list-item]

    async def four_clients() -> None:
        await asyncio.gather(*(client(n) for n in range(4)))

    try:
        asyncio.run(four_clients())
    finally:
        writer.close()

    # Not 4, 1, 3, 1, 3 (the answered clients taking turns): each commit carries all four.
    assert writer.submissions == [4, 4, 4]
    assert stored(ctx) == 12


def test_a_client_that_does_not_come_back_holds_the_others_only_briefly(ctx: CAContext) -> None:
    writer = CountingWriter(ctx)
    batch = AuditBatch(writer, max_hold=0.01)

    async def client(number: int, calls: int) -> None:
        for call in range(calls):
            await batch.store([row(ctx, number * 10 + call)])  # type: ignore[list-item]

    async def one_leaves() -> None:
        await asyncio.gather(client(1, 1), client(2, 3))

    try:
        asyncio.run(one_leaves())
    finally:
        writer.close()

    assert writer.submissions == [2, 1, 1]
    assert stored(ctx) == 4
