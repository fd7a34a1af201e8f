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
