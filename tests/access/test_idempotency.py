"""Idempotency keys: stored with the change, answered again, refused for another request."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from certward.access.idempotency import (
    IdempotencyClaim,
    IdempotentReplay,
    claim_row,
    parse_key,
    purge_expired,
    request_fingerprint,
    store_answer,
)
from certward.ca.context import CAContext
from certward.ca.group_commit import insert_rows
from certward.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidInput
from certward.store.models import IdempotencyRow

CLAIM = IdempotencyClaim(
    key="key-00000001", fingerprint=request_fingerprint("POST", "/v1/x", b"", b"{}")
)


def _commit_claim(ctx: CAContext, claim: IdempotencyClaim = CLAIM, *, principal: str = "p") -> None:
    row = claim_row(ctx, claim, principal=principal, request_id="req-1")
    with ctx.database.transaction() as session:
        insert_rows(session, [row])


def test_a_new_key_gives_a_row_to_store_with_the_change(ca_context: CAContext) -> None:
    _commit_claim(ca_context)

    with ca_context.database.read() as session:
        stored = session.scalars(select(IdempotencyRow)).one()
    assert (stored.principal, stored.key, stored.status) == ("p", CLAIM.key, None)


def test_a_key_whose_answer_is_not_stored_yet_is_in_progress(ca_context: CAContext) -> None:
    _commit_claim(ca_context)

    with pytest.raises(IdempotencyInProgress):
        claim_row(ca_context, CLAIM, principal="p", request_id="req-2")


def test_a_stored_answer_is_replayed(ca_context: CAContext) -> None:
    _commit_claim(ca_context)
    assert store_answer(ca_context, principal="p", request_id="req-1", status=201, body=b'{"a":1}')

    with pytest.raises(IdempotentReplay) as replay:
        claim_row(ca_context, CLAIM, principal="p", request_id="req-2")
    assert (replay.value.status, replay.value.body) == (201, b'{"a":1}')


def test_an_answer_is_stored_only_for_the_principal_and_request_that_claimed(
    ca_context: CAContext,
) -> None:
    _commit_claim(ca_context)

    assert not store_answer(ca_context, principal="q", request_id="req-1", status=201, body=b"")
    assert not store_answer(ca_context, principal="p", request_id="req-9", status=201, body=b"")


def test_the_same_key_for_another_request_is_refused(ca_context: CAContext) -> None:
    _commit_claim(ca_context)
    other = dataclasses.replace(CLAIM, fingerprint=request_fingerprint("POST", "/v1/y", b"", b""))

    with pytest.raises(IdempotencyKeyReused):
        claim_row(ca_context, other, principal="p", request_id="req-2")


def test_keys_are_per_principal(ca_context: CAContext) -> None:
    _commit_claim(ca_context)

    row = claim_row(ca_context, CLAIM, principal="someone-else", request_id="req-2")
    assert row[1]["principal"] == "someone-else"


def test_keys_older_than_a_day_are_forgotten(ca_context: CAContext) -> None:
    _commit_claim(ca_context)
    later = dataclasses.replace(ca_context, clock=lambda: ca_context.clock() + timedelta(hours=25))

    assert purge_expired(ca_context) == 0
    assert purge_expired(later) == 1
    with ca_context.database.read() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRow)) == 0


@pytest.mark.parametrize("value", ["short", "x" * 129, "has space 1234", "ünïcode-key"])
def test_malformed_keys_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput):
        parse_key(value)
