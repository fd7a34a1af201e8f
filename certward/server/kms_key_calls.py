"""The KMS key management operations as a caller makes them: access check, audit, service call.

Shared by the JSON routes (``routes/kms.py``) and the web console, so a key
rotated from a browser is checked and audited exactly like one rotated through
the API. Management needs ``kms.manage`` on the key (its id or one of its
aliases); every change is audited with the key id as target, in the change's own
transaction, and the key cache is refreshed after it. Each function is blocking
(run it with :func:`certward.server.auth.blocking`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from certward.access.audit import AuditPage
from certward.access.grants import Permission, is_allowed
from certward.ca.group_commit import TableRow
from certward.errors import AccessDenied, KmsKeyNotFound
from certward.kms.access_points import AccessPoint, create_access_point
from certward.kms.keys import KeyInfo, create_key, describe_key, new_key_id
from certward.kms.lifecycle import (
    cancel_key_deletion,
    disable_key,
    enable_key,
    schedule_key_deletion,
)
from certward.kms.permissions import authorize_key, may_use_key
from certward.kms.rotation import rotate_key
from certward.kms.specs import KeyOrigin, KeySpec, KeyUsage
from certward.kms.usage import key_events
from certward.server.auth import Caller

__all__ = [
    "KeyChange",
    "cancel_key_deletion_as",
    "create_access_point_as",
    "create_key_as",
    "describe_key_as",
    "disable_key_as",
    "enable_key_as",
    "key_events_as",
    "manage_key_as",
    "managed_key",
    "rotate_key_as",
    "schedule_key_deletion_as",
]

KeyChange = Callable[[str, Sequence[TableRow]], KeyInfo]
"""A change of a key: (key id, audit rows to store with it) -> the key after it."""


def managed_key(who: Caller, ref: str, action: str) -> KeyInfo:
    """The key of ``ref`` if ``who`` may manage it; refusals are audited."""
    who.require_for(action, ref, Permission.KMS_MANAGE)  # no grant at all: 403 before lookup
    try:
        info = describe_key(who.runtime.ctx, ref)
    except KmsKeyNotFound:
        if not may_use_key(who.principal.grants, Permission.KMS_MANAGE, (ref,)):
            who.require_for(action, ref, Permission.KMS_MANAGE, resource=ref)
        raise
    if not may_use_key(who.principal.grants, Permission.KMS_MANAGE, (info.key_id, *info.aliases)):
        who.require_for(action, info.key_id, Permission.KMS_MANAGE, resource=info.key_id)
    return info


def manage_key_as(
    who: Caller,
    ref: str,
    action: str,
    change: KeyChange,
    *,
    details: Mapping[str, Any] | None = None,
) -> KeyInfo:
    """Authorise, apply ``change`` audited as ``action``, refresh the key cache; the key after."""
    info = managed_key(who, ref, action)
    changed = who.audited(
        action,
        info.key_id,
        lambda audit: change(info.key_id, audit),
        details={"key_id": info.key_id, **(details or {})},
    )
    who.runtime.kms_keys.forget()
    return changed


def create_key_as(
    who: Caller,
    *,
    spec: KeySpec,
    usage: KeyUsage,
    origin: KeyOrigin = KeyOrigin.CERTWARD,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    alias: str | None = None,
    rotation_period_days: int | None = None,
) -> KeyInfo:
    """Create a key (``kms.manage`` on its alias, or on ``*``; audited)."""
    key_id = new_key_id()
    resource = alias or "*"
    who.require_for("kms.key.create", key_id, Permission.KMS_MANAGE, resource=resource)
    info = who.audited(
        "kms.key.create",
        key_id,
        lambda audit: create_key(
            who.runtime.ctx,
            spec=spec,
            usage=usage,
            origin=origin,
            description=description,
            tags=tags,
            alias=alias,
            rotation_period_days=rotation_period_days,
            key_id=key_id,
            created_by=who.name,
            extra_rows=audit,
        ),
        details={"key_id": key_id, "spec": spec.value, "usage": usage.value},
    )
    who.runtime.kms_keys.forget()
    return info


def describe_key_as(who: Caller, ref: str) -> KeyInfo:
    """One key (``kms.manage`` on it, or ``kms.use`` for ``describe``)."""
    grants = who.principal.grants
    if not (
        is_allowed(grants, Permission.KMS_MANAGE)
        or is_allowed(grants, Permission.KMS_USE, operation="describe")
    ):
        raise AccessDenied(f"principal {who.name!r} has no grant to describe KMS keys")
    try:
        info = describe_key(who.runtime.ctx, ref)
    except KmsKeyNotFound:
        if not (
            may_use_key(grants, Permission.KMS_MANAGE, (ref,))
            or may_use_key(grants, Permission.KMS_USE, (ref,), operation="describe")
        ):
            raise AccessDenied(f"principal {who.name!r} has no grant to describe {ref!r}") from None
        raise
    names = (info.key_id, *info.aliases)
    if not may_use_key(grants, Permission.KMS_MANAGE, names):
        authorize_key(who.name, grants, Permission.KMS_USE, names, operation="describe")
    return info


def key_events_as(
    who: Caller, ref: str, *, limit: int = 100, cursor: str | None = None
) -> AuditPage:
    """The audit events of a key: every use and change (``kms.manage`` on it, or ``audit.read``)."""
    grants = who.principal.grants
    reader = is_allowed(grants, Permission.AUDIT_READ)
    if not reader:
        who.require(Permission.KMS_MANAGE)
    info = describe_key(who.runtime.ctx, ref)
    if not reader:
        authorize_key(who.name, grants, Permission.KMS_MANAGE, (info.key_id, *info.aliases))
    return key_events(who.runtime.ctx, info.key_id, limit=limit, cursor=cursor)


def rotate_key_as(who: Caller, ref: str) -> KeyInfo:
    """Make a new primary version; older ones keep verifying and decrypting."""
    return manage_key_as(
        who,
        ref,
        "kms.key.rotate",
        lambda key_id, audit: rotate_key(who.runtime.ctx, key_id, extra_rows=audit),
    )


def enable_key_as(who: Caller, ref: str) -> KeyInfo:
    """Enable a disabled key."""
    return manage_key_as(
        who,
        ref,
        "kms.key.enable",
        lambda key_id, audit: enable_key(who.runtime.ctx, key_id, extra_rows=audit),
    )


def disable_key_as(who: Caller, ref: str) -> KeyInfo:
    """Disable a key: every operation with it is refused until it is enabled."""
    return manage_key_as(
        who,
        ref,
        "kms.key.disable",
        lambda key_id, audit: disable_key(who.runtime.ctx, key_id, extra_rows=audit),
    )


def schedule_key_deletion_as(
    who: Caller, ref: str, *, pending_window_days: int | None = None
) -> KeyInfo:
    """Delete the key after 7-30 days; until then it is unusable and the deletion cancellable."""
    return manage_key_as(
        who,
        ref,
        "kms.key.schedule_deletion",
        lambda key_id, audit: schedule_key_deletion(
            who.runtime.ctx, key_id, pending_window_days=pending_window_days, extra_rows=audit
        ),
        details={"pending_window_days": pending_window_days},
    )


def cancel_key_deletion_as(who: Caller, ref: str) -> KeyInfo:
    """Cancel a scheduled deletion; the key comes back disabled."""
    return manage_key_as(
        who,
        ref,
        "kms.key.cancel_deletion",
        lambda key_id, audit: cancel_key_deletion(who.runtime.ctx, key_id, extra_rows=audit),
    )


def create_access_point_as(
    who: Caller,
    *,
    name: str,
    keys: Sequence[str],
    operations: Sequence[str],
    description: str = "",
    days: int | None = None,
) -> AccessPoint:
    """A principal that may use only ``keys`` for ``operations``, with its bundle (admin; audited).

    The returned value holds the only copy of the bundle's PKCS#12 and password.
    """
    who.require_for("kms.access_point.create", name, Permission.ADMIN)
    return who.audited(
        "kms.access_point.create",
        name,
        lambda audit: create_access_point(
            who.runtime.ctx,
            name=name,
            key_refs=keys,
            operations=operations,
            ca_name=who.runtime.settings.issuing_ca,
            description=description,
            days=days,
            created_by=who.name,
            extra_rows=audit,
        ),
        details={"keys": list(keys), "operations": list(operations)},
    )
