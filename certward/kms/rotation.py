"""Key rotation: a new primary version, on request or when a key's rotation period is up.

Old versions stay: they verify and decrypt until ``min_decryption_version`` retires
them. Version numbers come from the database under the key row's lock, so two
processes rotating at once make two versions, never one twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from certward.access.audit import audit_row, log_event
from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow, insert_rows
from certward.errors import KmsInvalidState
from certward.kms.keys import KeyInfo, add_version, change_key, describe_key
from certward.kms.material import generate_material
from certward.kms.specs import KeyOrigin, KeySpec, KeyState
from certward.store.models import KmsKeyRow

__all__ = ["rotate_due_keys", "rotate_key"]

_log = structlog.get_logger()


def _check_rotatable(key_id: str, origin: str, state: str) -> None:
    if origin == KeyOrigin.EXTERNAL:
        raise KmsInvalidState(
            f"key {key_id} holds imported material: rotate it by importing new material"
        )
    if origin == KeyOrigin.PUBLIC_ONLY:
        raise KmsInvalidState(f"key {key_id} is a public key only; it cannot be rotated")
    if state != KeyState.ENABLED:
        raise KmsInvalidState(f"key {key_id} is {state}; only an enabled key can be rotated")


def rotate_key(ctx: CAContext, ref: str, *, extra_rows: Sequence[TableRow] = ()) -> KeyInfo:
    """Make a new primary version of a key whose material certward generates."""
    current = describe_key(ctx, ref)
    _check_rotatable(current.key_id, current.origin, current.state)
    material = generate_material(current.spec)  # outside the transaction: RSA is slow

    def rotate(session: Session, row: KmsKeyRow) -> None:
        _check_rotatable(row.key_id, row.origin, row.state)  # again, under the lock
        add_version(ctx, session, row, material)
        if row.rotation_period_seconds:
            row.next_rotation_at = ctx.clock() + timedelta(seconds=row.rotation_period_seconds)

    return change_key(ctx, current.key_id, rotate, extra_rows=extra_rows)


def rotate_due_keys(ctx: CAContext) -> tuple[str, ...]:
    """Rotate every enabled key whose automatic rotation is due; the ids of those rotated.

    A disabled key is not rotated while disabled (it is, once enabled again, if still due).
    """
    now = ctx.clock()
    with ctx.database.read() as session:
        due = session.execute(
            select(KmsKeyRow.key_id, KmsKeyRow.spec).where(
                KmsKeyRow.next_rotation_at <= now,
                KmsKeyRow.state == KeyState.ENABLED.value,
                KmsKeyRow.origin == KeyOrigin.CERTWARD.value,
            )
        ).all()
    rotated: list[str] = []
    for key_id, spec in due:
        material = generate_material(KeySpec(spec))
        with ctx.database.transaction() as session:
            row = session.scalar(
                select(KmsKeyRow).where(KmsKeyRow.key_id == key_id).with_for_update()
            )
            # Another process may have rotated it meanwhile, or someone disabled it.
            if (
                row is None
                or row.state != KeyState.ENABLED
                or row.next_rotation_at is None
                or row.next_rotation_at > now
                or not row.rotation_period_seconds
            ):
                continue
            version = add_version(ctx, session, row, material)
            row.next_rotation_at = now + timedelta(seconds=row.rotation_period_seconds)
            event = audit_row(
                ctx,
                principal=None,
                action="kms.key.rotate",
                target=key_id,
                result="ok",
                request_id=None,
                details={"key_id": key_id, "key_version": version, "automatic": True},
            )
            insert_rows(session, [event])
        log_event(event)
        rotated.append(key_id)
        _log.info("kms.key_rotated", key_id=key_id, version=version, spec=spec, automatic=True)
    return tuple(rotated)
