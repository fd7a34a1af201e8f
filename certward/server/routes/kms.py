"""``/v1/kms``: keys, aliases, lifecycle, bring-your-own-key, public keys, usage, access points.

Management needs ``kms.manage`` on the key (its id or one of its aliases); every
change is audited with the key id as target, in the change's own transaction.
The crypto operations are in :mod:`certward.server.routes.kms_operations`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from certward.access.grants import Permission
from certward.kms import operations
from certward.kms.aliases import create_alias, delete_alias
from certward.kms.byok import get_import_parameters, import_key_material, import_public_key
from certward.kms.keys import KeyInfo, list_keys, new_key_id
from certward.kms.lifecycle import UNSET, update_key_settings
from certward.kms.specs import KeyOrigin
from certward.server.auth import Caller, blocking, caller
from certward.server.key_use import from_b64, use_key
from certward.server.kms_key_calls import (
    KeyChange,
    cancel_key_deletion_as,
    create_access_point_as,
    create_key_as,
    describe_key_as,
    disable_key_as,
    enable_key_as,
    key_events_as,
    manage_key_as,
    managed_key,
    rotate_key_as,
    schedule_key_deletion_as,
)
from certward.server.kms_schemas import (
    AccessPointIn,
    AccessPointOut,
    AliasIn,
    AliasOut,
    ClientKeyOut,
    ImportIn,
    ImportParametersIn,
    ImportParametersOut,
    ImportPublicIn,
    KeyCreateIn,
    KeyEventsOut,
    KeyInfoOut,
    KeyOut,
    KeyPageOut,
    KeySettingsIn,
    KeyVersionOut,
    PublicKeyOut,
    ScheduleDeletionIn,
)
from certward.server.routes.principals import _principal_out
from certward.server.schemas import AuditEventOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/kms", tags=["kms"])
Who = Annotated[Caller, Depends(caller)]


def _info_fields(info: KeyInfo) -> dict[str, Any]:
    return {
        "key_id": info.key_id,
        "aliases": list(info.aliases),
        "spec": info.spec.value,
        "usage": info.usage.value,
        "origin": info.origin.value,
        "state": info.state.value,
        "description": info.description,
        "tags": dict(info.tags),
        "primary_version": info.primary_version,
        "versions": [
            KeyVersionOut(version=v.version, created_at=v.created_at) for v in info.versions
        ],
        "min_decryption_version": info.min_decryption_version,
        "rotation_period_days": info.rotation_period_days,
        "next_rotation_at": info.next_rotation_at,
        "deletion_date": info.deletion_date,
        "created_at": info.created_at,
    }


def _key_out(info: KeyInfo, who: Caller) -> KeyOut:
    return KeyOut(**_info_fields(info), request_id=who.request_id)


async def _manage(
    who: Caller, ref: str, action: str, change: KeyChange, *, details: dict[str, Any] | None = None
) -> KeyOut:
    """Authorise, apply ``change`` (key id, audit rows) audited, refresh the key cache."""
    return await blocking(
        lambda: _key_out(manage_key_as(who, ref, action, change, details=details), who)
    )


# -- keys ----------------------------------------------------------------------------------


@router.post("/keys", response_model=KeyOut, status_code=201)
async def create(body: KeyCreateIn, who: Who) -> KeyOut:
    """Create a key (``kms.manage`` on its alias, or on ``*``); RSA material takes a moment."""

    def work() -> KeyOut:
        info = create_key_as(
            who,
            spec=body.spec,
            usage=body.usage,
            origin=KeyOrigin(body.origin),
            description=body.description,
            tags=body.tags,
            alias=body.alias,
            rotation_period_days=body.rotation_period_days,
        )
        return _key_out(info, who)

    return await blocking(work)


@router.post("/keys/import-public", response_model=KeyOut, status_code=201)
async def create_public_only(body: ImportPublicIn, who: Who) -> KeyOut:
    """A verify/encrypt-only key holding an outside public key (PEM)."""
    key_id = new_key_id()

    def work() -> KeyOut:
        resource = body.alias or "*"
        who.require_for("kms.key.import_public", key_id, Permission.KMS_MANAGE, resource=resource)
        info = who.audited(
            "kms.key.import_public",
            key_id,
            lambda audit: import_public_key(
                who.runtime.ctx,
                public_key_pem=body.public_key_pem.encode(),
                usage=body.usage,
                alias=body.alias,
                description=body.description,
                key_id=key_id,
                created_by=who.name,
                extra_rows=audit,
            ),
            details={"key_id": key_id},
        )
        who.runtime.kms_keys.forget()
        return _key_out(info, who)

    return await blocking(work)


@router.get("/keys", response_model=KeyPageOut)
async def list_(
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> KeyPageOut:
    """Every key, newest first (``kms.manage`` on ``*``)."""
    who.require(Permission.KMS_MANAGE, resource="*")

    def work() -> KeyPageOut:
        page = list_keys(who.runtime.ctx, limit=limit, cursor=cursor)
        return KeyPageOut(
            items=[KeyInfoOut(**_info_fields(info)) for info in page.items],
            next_cursor=page.next_cursor,
            request_id=who.request_id,
        )

    return await blocking(work)


@router.get("/keys/{key_ref:path}/usage", response_model=KeyEventsOut)
async def usage(
    key_ref: str,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> KeyEventsOut:
    """The audit events of a key: every use and change (``kms.manage`` on it, or ``audit.read``)."""

    def work() -> KeyEventsOut:
        page = key_events_as(who, key_ref, limit=limit, cursor=cursor)
        return KeyEventsOut(
            items=[
                AuditEventOut(
                    id=e.id,
                    time=e.time,
                    principal=e.principal,
                    action=e.action,
                    target=e.target,
                    result=e.result,
                    request_id=e.request_id,
                    details=e.details,
                )
                for e in page.items
            ],
            next_cursor=page.next_cursor,
            request_id=who.request_id,
        )

    return await blocking(work)


@router.get("/keys/{key_ref:path}/public-key", response_model=PublicKeyOut)
async def public_key(
    key_ref: str, who: Who, version: Annotated[int | None, Query(ge=1)] = None
) -> PublicKeyOut:
    """The public key (PEM) of a version (default: primary) of an asymmetric key."""
    result = await use_key(
        who,
        key_ref,
        "get_public_key",
        lambda key: operations.get_public_key(key, key_version=version),
    )
    return PublicKeyOut(
        key_id=result.key_id,
        key_version=result.key_version,
        spec=result.spec.value,
        public_key_pem=result.public_key_pem.decode(),
        request_id=who.request_id,
    )


@router.post("/keys/{key_ref:path}/rotate", response_model=KeyOut)
async def rotate(key_ref: str, who: Who) -> KeyOut:
    """Make a new primary version; older ones keep verifying and decrypting."""
    return await blocking(lambda: _key_out(rotate_key_as(who, key_ref), who))


@router.post("/keys/{key_ref:path}/enable", response_model=KeyOut)
async def enable(key_ref: str, who: Who) -> KeyOut:
    """Enable a disabled key."""
    return await blocking(lambda: _key_out(enable_key_as(who, key_ref), who))


@router.post("/keys/{key_ref:path}/disable", response_model=KeyOut)
async def disable(key_ref: str, who: Who) -> KeyOut:
    """Disable a key: every operation with it is refused until it is enabled."""
    return await blocking(lambda: _key_out(disable_key_as(who, key_ref), who))


@router.post("/keys/{key_ref:path}/schedule-deletion", response_model=KeyOut)
async def schedule_deletion(
    key_ref: str, who: Who, body: ScheduleDeletionIn | None = None
) -> KeyOut:
    """Delete the key after 7-30 days; until then it is unusable and the deletion cancellable."""
    days = body.pending_window_days if body is not None else None
    return await blocking(
        lambda: _key_out(schedule_key_deletion_as(who, key_ref, pending_window_days=days), who)
    )


@router.post("/keys/{key_ref:path}/cancel-deletion", response_model=KeyOut)
async def cancel_deletion(key_ref: str, who: Who) -> KeyOut:
    """Cancel a scheduled deletion; the key comes back disabled."""
    return await blocking(lambda: _key_out(cancel_key_deletion_as(who, key_ref), who))


@router.post("/keys/{key_ref:path}/settings", response_model=KeyOut)
async def settings(key_ref: str, body: KeySettingsIn, who: Who) -> KeyOut:
    """Change the description, tags, rotation period or min_decryption_version (those given)."""
    given = body.model_fields_set
    return await _manage(
        who,
        key_ref,
        "kms.key.settings",
        lambda key_id, audit: update_key_settings(
            who.runtime.ctx,
            key_id,
            description=body.description
            if "description" in given and body.description is not None
            else UNSET,
            tags=body.tags if "tags" in given and body.tags is not None else UNSET,
            rotation_period_days=body.rotation_period_days
            if "rotation_period_days" in given
            else UNSET,
            min_decryption_version=body.min_decryption_version
            if "min_decryption_version" in given and body.min_decryption_version is not None
            else UNSET,
            extra_rows=audit,
        ),
        details={"changed": sorted(given)},
    )


# -- bring your own key ----------------------------------------------------------------


@router.post("/keys/{key_ref:path}/import-parameters", response_model=ImportParametersOut)
async def import_parameters(
    key_ref: str, body: ImportParametersIn, who: Who
) -> ImportParametersOut:
    """A wrapping public key and a one-time token to import material into an EXTERNAL key."""

    def work() -> ImportParametersOut:
        info = managed_key(who, key_ref, "kms.key.import_parameters")
        parameters = who.audited(
            "kms.key.import_parameters",
            info.key_id,
            lambda audit: get_import_parameters(
                who.runtime.ctx,
                info.key_id,
                wrapping_algorithm=body.wrapping_algorithm,
                wrapping_spec=body.wrapping_spec,
                extra_rows=audit,
            ),
            details={"key_id": info.key_id, "wrapping_algorithm": body.wrapping_algorithm},
        )
        return ImportParametersOut(
            key_id=parameters.key_id,
            import_token=parameters.import_token,
            public_key_pem=parameters.public_key_pem.decode(),
            wrapping_algorithm=parameters.wrapping_algorithm.value,
            wrapping_spec=parameters.wrapping_spec.value,
            expires_at=parameters.expires_at,
            request_id=who.request_id,
        )

    return await blocking(work)


@router.post("/keys/{key_ref:path}/import", response_model=KeyOut)
async def import_material(key_ref: str, body: ImportIn, who: Who) -> KeyOut:
    """Import wrapped key material: a new primary version; the key becomes Enabled."""
    material = from_b64(body.encrypted_key_material, "encrypted_key_material")
    return await _manage(
        who,
        key_ref,
        "kms.key.import",
        lambda key_id, audit: import_key_material(
            who.runtime.ctx,
            key_id,
            import_token=body.import_token,
            encrypted_key_material=material,
            extra_rows=audit,
        ),
    )


# -- describe (after the /keys/{key}/... routes: the key path may hold a slash) ----------


@router.get("/keys/{key_ref:path}", response_model=KeyOut)
async def describe(key_ref: str, who: Who) -> KeyOut:
    """One key (``kms.manage`` on it, or ``kms.use`` for ``describe``)."""
    return await blocking(lambda: _key_out(describe_key_as(who, key_ref), who))


# -- aliases -----------------------------------------------------------------------------


@router.post("/aliases", response_model=AliasOut, status_code=201)
async def add_alias(body: AliasIn, who: Who) -> AliasOut:
    """Point a new alias at a key (``kms.manage`` on the key and on the alias)."""

    def work() -> AliasOut:
        info = managed_key(who, body.key, "kms.alias.create")
        who.require_for("kms.alias.create", info.key_id, Permission.KMS_MANAGE, resource=body.alias)
        alias = who.audited(
            "kms.alias.create",
            info.key_id,
            lambda audit: create_alias(who.runtime.ctx, body.alias, info.key_id, extra_rows=audit),
            details={"key_id": info.key_id, "alias": body.alias},
        )
        who.runtime.kms_keys.forget()
        return AliasOut(alias=alias.alias, key_id=alias.key_id, request_id=who.request_id)

    return await blocking(work)


@router.delete("/aliases/{name:path}", response_model=AliasOut)
async def remove_alias(name: str, who: Who) -> AliasOut:
    """Delete an alias (``name`` without ``alias/``); the key stays."""
    alias = name if name.startswith("alias/") else f"alias/{name}"

    def work() -> AliasOut:
        info = managed_key(who, alias, "kms.alias.delete")
        removed = who.audited(
            "kms.alias.delete",
            info.key_id,
            lambda audit: delete_alias(who.runtime.ctx, alias, extra_rows=audit),
            details={"key_id": info.key_id, "alias": alias},
        )
        who.runtime.kms_keys.forget()
        return AliasOut(alias=removed.alias, key_id=removed.key_id, request_id=who.request_id)

    return await blocking(work)


# -- access points ---------------------------------------------------------------------


@router.post("/access-points", response_model=AccessPointOut, status_code=201)
async def access_point(body: AccessPointIn, who: Who) -> AccessPointOut:
    """A principal that may use only these keys for these operations, with its bundle (admin)."""

    def work() -> AccessPointOut:
        created = create_access_point_as(
            who,
            name=body.name,
            keys=body.keys,
            operations=body.operations,
            description=body.description,
            days=body.days,
        )
        return AccessPointOut(
            principal=_principal_out(created.principal),
            client_key=ClientKeyOut.model_validate(created.client_key),
            password=created.password,
            ca_pem=created.ca_pem.decode(),
            request_id=who.request_id,
        )

    return await blocking(work)
