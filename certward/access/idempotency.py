"""Idempotency keys: a retried mutating call is answered, never carried out twice.

A client sends ``Idempotency-Key: <random>`` with a POST/PUT/DELETE and the same
key on every retry (to this node or another). The first request stores a row
*in the transaction of its change* (with the audit row), so once the change
is committed a retry finds the key; the answer is added to that row, sealed by
the keystore (it may hold a private key), as soon as it has been sent. A retry
then gets that answer again, marked ``Idempotent-Replayed: true``. Keys live
for 24 hours and belong to one principal.

If the node died between its commit and storing the answer, a retry gets 409
``idempotency.in_progress``: the change was made, exactly once, but its answer
is gone (look it up by the request id in the audit log).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, delete, select, update

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow
from certward.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidInput
from certward.store.models import IdempotencyRow

__all__ = [
    "IDEMPOTENCY_TABLE",
    "RETENTION",
    "IdempotencyClaim",
    "IdempotentReplay",
    "answer_record_id",
    "claim_row",
    "parse_key",
    "purge_expired",
    "request_fingerprint",
    "store_answer",
]

IDEMPOTENCY_TABLE = cast(Table, IdempotencyRow.__table__)
RETENTION = timedelta(hours=24)
_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


@dataclass(frozen=True)
class IdempotencyClaim:
    """The key a request came with, and what identifies the request itself."""

    key: str
    fingerprint: str


class IdempotentReplay(Exception):
    """Raised where the change would be made: the answer of the first request with this key."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"replay of a stored answer (HTTP {status})")
        self.status = status
        self.body = body


def parse_key(value: str) -> str:
    """The header value checked: 8-128 characters of ``A-Z a-z 0-9 . _ : -``."""
    if not _KEY.match(value):
        raise InvalidInput(
            "Idempotency-Key must be 8 to 128 characters of letters, digits and . _ : -"
        )
    return value


def request_fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """sha256 over the method, path, query and body: a reused key must name the same request."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def answer_record_id(row_id: int) -> str:
    """The associated data binding a sealed answer to its row."""
    return f"idempotency-answer:{row_id}"


def claim_row(
    ctx: CAContext, claim: IdempotencyClaim, *, principal: str, request_id: str
) -> TableRow:
    """The row to store with the change, after checking the key was not used before.

    Raises :class:`IdempotentReplay` with the stored answer when it was, for the
    same request; IdempotencyKeyReused for another request; IdempotencyInProgress
    when the change was made but its answer is not stored (yet).
    """
    now = ctx.clock()
    with ctx.database.read() as session:
        row = session.scalar(
            select(IdempotencyRow).where(
                IdempotencyRow.principal == principal,
                IdempotencyRow.key == claim.key,
                IdempotencyRow.created_at > now - RETENTION,
            )
        )
    if row is not None:
        if row.fingerprint != claim.fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for another request; use a new key per request"
            )
        if row.status is None or row.answer_sealed is None:
            raise IdempotencyInProgress(
                f"the request with this Idempotency-Key was carried out (request {row.request_id})"
                " but its answer is not stored; retry shortly, or look it up in the audit log"
            )
        body = ctx.keystore.open(row.answer_sealed, record_id=answer_record_id(row.id))
        raise IdempotentReplay(row.status, body)
    return (
        IDEMPOTENCY_TABLE,
        {
            "principal": principal,
            "key": claim.key,
            "fingerprint": claim.fingerprint,
            "request_id": request_id,
            "created_at": now,
            "status": None,
            "answer_sealed": None,
        },
    )


def store_answer(
    ctx: CAContext, *, principal: str, request_id: str, status: int, body: bytes
) -> bool:
    """Seal and keep the answer of the request that stored a claim; False if it stored none."""
    with ctx.database.transaction() as session:
        row_id = session.scalar(
            select(IdempotencyRow.id).where(
                IdempotencyRow.request_id == request_id,
                IdempotencyRow.principal == principal,
                IdempotencyRow.status.is_(None),
            )
        )
        if row_id is None:
            return False
        sealed = ctx.keystore.seal(body, record_id=answer_record_id(row_id))
        session.execute(
            update(IdempotencyRow)
            .where(IdempotencyRow.id == row_id)
            .values(status=status, answer_sealed=sealed)
        )
    return True


def purge_expired(ctx: CAContext) -> int:
    """Forget keys older than :data:`RETENTION`; the number forgotten."""
    with ctx.database.transaction() as session:
        result = session.execute(
            delete(IdempotencyRow).where(IdempotencyRow.created_at <= ctx.clock() - RETENTION)
        )
    return int(getattr(result, "rowcount", 0) or 0)
