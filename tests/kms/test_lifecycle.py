"""A key's lifecycle: disable and enable, scheduled deletion, cancel, and the purge after it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from certward.access.audit import query_events
from certward.errors import InvalidInput, KmsInvalidState, KmsKeyNotFound
from certward.kms import operations
from certward.kms.keys import describe_key
from certward.kms.lifecycle import (
    cancel_key_deletion,
    disable_key,
    enable_key,
    purge_deleted_keys,
    schedule_key_deletion,
    update_key_settings,
)
from certward.kms.specs import KeyOrigin, KeySpec, KeyState
from certward.store.models import KmsAliasRow, KmsKeyVersionRow
from tests.kms.conftest import START, Keys

LIMIT = 4096


def sign(kms: Keys, ref: str) -> operations.Signature:
    return operations.sign(
        kms.load(ref), algorithm="ECDSA_SHA_256", message=b"m", max_message_bytes=LIMIT
    )


def test_a_disabled_key_refuses_every_operation_until_enabled(kms: Keys) -> None:
    key = kms.create(KeySpec.EC_P256)
    signature = sign(kms, key.key_id).signature

    disabled = disable_key(kms.ctx, key.key_id)
    loaded = kms.load(key.key_id)

    assert disabled.state is KeyState.DISABLED
    with pytest.raises(KmsInvalidState, match="disabled"):
        operations.sign(loaded, algorithm="ECDSA_SHA_256", message=b"m", max_message_bytes=LIMIT)
    with pytest.raises(KmsInvalidState):
        operations.verify(
            loaded,
            algorithm="ECDSA_SHA_256",
            message=b"m",
            signature=signature,
            max_message_bytes=LIMIT,
        )
    with pytest.raises(KmsInvalidState):
        operations.get_public_key(loaded)
    assert enable_key(kms.ctx, key.key_id).state is KeyState.ENABLED
    assert sign(kms, key.key_id).key_version == 1


def test_enable_and_disable_are_idempotent(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256)

    assert enable_key(kms.ctx, key.key_id).state is KeyState.ENABLED
    disable_key(kms.ctx, key.key_id)
    assert disable_key(kms.ctx, key.key_id).state is KeyState.DISABLED


@pytest.mark.parametrize("days", [7, 30])
def test_deletion_is_scheduled_7_to_30_days_ahead(kms: Keys, days: int) -> None:
    key = kms.create(KeySpec.AES_256)

    scheduled = schedule_key_deletion(kms.ctx, key.key_id, pending_window_days=days)

    assert scheduled.state is KeyState.PENDING_DELETION
    assert scheduled.deletion_date == START + timedelta(days=days)
    with pytest.raises(KmsInvalidState, match="pending deletion"):
        kms.load(key.key_id).require_enabled()


@pytest.mark.parametrize("days", [6, 31, -1])
def test_a_deletion_window_outside_7_to_30_days_is_refused(kms: Keys, days: int) -> None:
    key = kms.create(KeySpec.AES_256)

    with pytest.raises(InvalidInput, match="7-30"):
        schedule_key_deletion(kms.ctx, key.key_id, pending_window_days=days)
    assert describe_key(kms.ctx, key.key_id).state is KeyState.ENABLED


def test_the_default_window_comes_from_the_settings(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256)

    scheduled = schedule_key_deletion(kms.ctx, key.key_id)

    assert scheduled.deletion_date == START + timedelta(days=30)


def test_a_cancelled_deletion_leaves_the_key_disabled(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256)
    schedule_key_deletion(kms.ctx, key.key_id, pending_window_days=7)

    cancelled = cancel_key_deletion(kms.ctx, key.key_id)

    assert (cancelled.state, cancelled.deletion_date) == (KeyState.DISABLED, None)
    kms.clock.advance(days=8)
    assert purge_deleted_keys(kms.ctx) == ()
    assert describe_key(kms.ctx, key.key_id).state is KeyState.DISABLED


def test_a_key_never_imported_returns_to_pending_import(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256, origin=KeyOrigin.EXTERNAL)
    schedule_key_deletion(kms.ctx, key.key_id, pending_window_days=7)

    assert cancel_key_deletion(kms.ctx, key.key_id).state is KeyState.PENDING_IMPORT


def test_a_key_pending_deletion_cannot_be_enabled_disabled_or_scheduled_again(
    kms: Keys,
) -> None:
    key = kms.create(KeySpec.AES_256)
    schedule_key_deletion(kms.ctx, key.key_id, pending_window_days=7)

    for change in (enable_key, disable_key, schedule_key_deletion):
        with pytest.raises(KmsInvalidState, match="pending deletion"):
            change(kms.ctx, key.key_id)
    with pytest.raises(KmsInvalidState, match="not pending deletion"):
        cancel_key_deletion(kms.ctx, kms.create(KeySpec.AES_256).key_id)


def test_keys_are_purged_after_their_deletion_date_and_not_before(kms: Keys) -> None:
    doomed = kms.create(KeySpec.EC_P256, alias="alias/doomed")
    kept = kms.create(KeySpec.EC_P256)
    schedule_key_deletion(kms.ctx, doomed.key_id, pending_window_days=7)

    kms.clock.advance(days=7, seconds=-1)
    assert purge_deleted_keys(kms.ctx) == ()
    kms.clock.advance(seconds=1)
    assert purge_deleted_keys(kms.ctx) == (doomed.key_id,)

    for ref in (doomed.key_id, "alias/doomed"):
        with pytest.raises(KmsKeyNotFound):
            describe_key(kms.ctx, ref)
    with kms.ctx.database.read() as session:
        assert session.scalar(select(func.count()).select_from(KmsAliasRow)) == 0
        assert session.scalar(select(func.count()).select_from(KmsKeyVersionRow)) == 1
    assert describe_key(kms.ctx, kept.key_id).state is KeyState.ENABLED
    (event,) = query_events(kms.ctx, target=doomed.key_id).items
    assert (event.action, event.result, event.principal) == ("kms.key.delete", "ok", None)


def test_description_and_tags_change_alone(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256, description="old", tags={"a": "1"})

    described = update_key_settings(kms.ctx, key.key_id, description="new")
    tagged = update_key_settings(kms.ctx, key.key_id, tags={"b": "2"})

    assert (described.description, dict(described.tags)) == ("new", {"a": "1"})
    assert (tagged.description, dict(tagged.tags)) == ("new", {"b": "2"})
