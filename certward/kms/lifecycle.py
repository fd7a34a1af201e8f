"""A key's lifecycle: enable, disable, settings, scheduled deletion and the purge after it.

    Enabled ⇄ Disabled
    Enabled | Disabled | PendingImport → PendingDeletion (7-30 days) → purged
    PendingDeletion → (cancel) Disabled, or PendingImport if it never had material

Every change is one transaction on the locked key row; a refused change stores nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certward.access.audit import audit_row, log_event
from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow, insert_rows
from certward.errors import InvalidInput, KmsInvalidState
from certward.kms.keys import (
    KeyInfo,
    change_key,
    check_description,
    check_rotation_period,
    check_tags,
)
from certward.kms.specs import KeyOrigin, KeyState
from certward.store.models import KmsAliasRow, KmsImportTokenRow, KmsKeyRow, KmsKeyVersionRow

__all__ = [
    "MAX_DELETION_DAYS",
    "MIN_DELETION_DAYS",
    "UNSET",
    "cancel_key_deletion",
    "disable_key",
    "enable_key",
    "purge_deleted_keys",
    "schedule_key_deletion",
    "update_key_settings",
]

_log = structlog.get_logger()
MIN_DELETION_DAYS = 7
MAX_DELETION_DAYS = 30


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET  # "leave this setting as it is"


def _refuse_if_deleting(row: KmsKeyRow, action: str) -> None:
    if row.state == KeyState.PENDING_DELETION:
        raise KmsInvalidState(
            f"key {row.key_id} is pending deletion; cancel the deletion before you {action} it"
        )


def enable_key(ctx: CAContext, ref: str, *, extra_rows: Sequence[TableRow] = ()) -> KeyInfo:
    """Enable a disabled key (an enabled key stays enabled)."""

    def enable(session: Session, row: KmsKeyRow) -> None:
        _refuse_if_deleting(row, "enable")
        if row.state == KeyState.PENDING_IMPORT:
            raise KmsInvalidState(f"key {row.key_id} has no material yet: import it first")
        row.state = KeyState.ENABLED.value

    return change_key(ctx, ref, enable, extra_rows=extra_rows)


def disable_key(ctx: CAContext, ref: str, *, extra_rows: Sequence[TableRow] = ()) -> KeyInfo:
    """Disable a key: every operation with it is refused until it is enabled again."""

    def disable(session: Session, row: KmsKeyRow) -> None:
        _refuse_if_deleting(row, "disable")
        if row.state == KeyState.PENDING_IMPORT:
            raise KmsInvalidState(f"key {row.key_id} has no material yet: import it first")
        row.state = KeyState.DISABLED.value

    return change_key(ctx, ref, disable, extra_rows=extra_rows)


def schedule_key_deletion(
    ctx: CAContext,
    ref: str,
    *,
    pending_window_days: int | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> KeyInfo:
    """Delete the key after ``pending_window_days`` (7-30; default ``[kms].default_deletion_days``).

    Until then it cannot be used and the deletion can be cancelled.
    """
    days = pending_window_days or ctx.settings.kms.default_deletion_days
    if not MIN_DELETION_DAYS <= days <= MAX_DELETION_DAYS:
        raise InvalidInput(
            f"pending_window_days must be {MIN_DELETION_DAYS}-{MAX_DELETION_DAYS}, not {days}"
        )

    def schedule(session: Session, row: KmsKeyRow) -> None:
        if row.state == KeyState.PENDING_DELETION:
            raise KmsInvalidState(f"key {row.key_id} is already pending deletion")
        row.state = KeyState.PENDING_DELETION.value
        row.deletion_date = ctx.clock() + timedelta(days=days)

    return change_key(ctx, ref, schedule, extra_rows=extra_rows)


def cancel_key_deletion(
    ctx: CAContext, ref: str, *, extra_rows: Sequence[TableRow] = ()
) -> KeyInfo:
    """Cancel a scheduled deletion: the key is Disabled again (PendingImport if never imported)."""

    def cancel(session: Session, row: KmsKeyRow) -> None:
        if row.state != KeyState.PENDING_DELETION:
            raise KmsInvalidState(f"key {row.key_id} is not pending deletion")
        row.state = (KeyState.DISABLED if row.primary_version else KeyState.PENDING_IMPORT).value
        row.deletion_date = None

    return change_key(ctx, ref, cancel, extra_rows=extra_rows)


def update_key_settings(
    ctx: CAContext,
    ref: str,
    *,
    description: str | _Unset = UNSET,
    tags: Mapping[str, str] | _Unset = UNSET,
    rotation_period_days: int | _Unset | None = UNSET,
    min_decryption_version: int | _Unset = UNSET,
    extra_rows: Sequence[TableRow] = (),
) -> KeyInfo:
    """Change what is given; leave the rest (``UNSET``) as it is.

    rotation_period_days: None or 0 turns automatic rotation off; a period starts now.
    min_decryption_version: 1 up to the primary version; versions below it are retired.
    """
    stored_description = None if description is UNSET else check_description(description)
    stored_tags = None if tags is UNSET else check_tags(tags)
    period = None if rotation_period_days is UNSET else check_rotation_period(rotation_period_days)

    def update(session: Session, row: KmsKeyRow) -> None:
        if stored_description is not None:
            row.description = stored_description
        if stored_tags is not None:
            row.tags = stored_tags
        if rotation_period_days is not UNSET:
            if period is not None and row.origin != KeyOrigin.CERTWARD:
                raise InvalidInput(
                    "automatic rotation needs a key whose material certward generates"
                )
            row.rotation_period_seconds = period
            row.next_rotation_at = ctx.clock() + timedelta(seconds=period) if period else None
        if min_decryption_version is not UNSET:
            if not 1 <= min_decryption_version <= row.primary_version:
                raise InvalidInput(
                    f"min_decryption_version of key {row.key_id} must be 1-"
                    f"{row.primary_version} (its primary version), not {min_decryption_version}"
                )
            row.min_decryption_version = min_decryption_version

    return change_key(ctx, ref, update, extra_rows=extra_rows)


def purge_deleted_keys(ctx: CAContext) -> tuple[str, ...]:
    """Delete every key whose deletion date has passed (material, aliases, tokens); their ids.

    Each purge is its own transaction with its audit event; a key whose deletion was
    cancelled meanwhile (seen under the row lock) is left alone.
    """
    now = ctx.clock()
    with ctx.database.read() as session:
        due = session.scalars(
            select(KmsKeyRow.key_id).where(
                KmsKeyRow.state == KeyState.PENDING_DELETION.value, KmsKeyRow.deletion_date <= now
            )
        ).all()
    purged: list[str] = []
    for key_id in due:
        with ctx.database.transaction() as session:
            row = session.scalar(
                select(KmsKeyRow).where(KmsKeyRow.key_id == key_id).with_for_update()
            )
            if (
                row is None
                or row.state != KeyState.PENDING_DELETION
                or row.deletion_date is None
                or row.deletion_date > now
            ):
                continue
            for table in (KmsKeyVersionRow, KmsAliasRow, KmsImportTokenRow):
                session.execute(delete(table).where(table.key_id == row.id))
            session.delete(row)
            event = audit_row(
                ctx,
                principal=None,
                action="kms.key.delete",
                target=key_id,
                result="ok",
                request_id=None,
                details={"key_id": key_id, "reason": "deletion date reached"},
            )
            insert_rows(session, [event])
        log_event(event)
        purged.append(key_id)
        _log.info("kms.key_purged", key_id=key_id)
    return tuple(purged)
