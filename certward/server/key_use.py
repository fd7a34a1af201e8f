"""Using a KMS key within a request: the grant check, the cached key, the audit row.

The hot path takes no database read and no worker thread when the key is cached
(see :class:`certward.kms.cache.KeyCache`): the grant check and the cryptography
run on the event loop, except RSA private-key work, which goes to a worker thread.
The audit row of each use goes to the group-commit writer; the answer leaves only
once that row is committed, without blocking the loop meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol, TypeVar

from certward.access.audit import log_event
from certward.access.grants import Permission, is_allowed
from certward.ca.group_commit import TableRow
from certward.errors import AccessDenied, CertwardError, InvalidInput, KmsKeyNotFound
from certward.kms.keys import LoadedKey
from certward.kms.operations import runs_long
from certward.kms.permissions import authorize_key, may_use_key
from certward.kms.usage import key_use_row
from certward.server.auth import Caller, blocking

__all__ = [
    "audit_uses",
    "b64",
    "from_b64",
    "key_for_use",
    "optional_b64",
    "require_use",
    "use_key",
    "use_row",
]


class _Versioned(Protocol):
    @property
    def key_version(self) -> int: ...


R = TypeVar("R", bound=_Versioned)


def from_b64(value: str, field: str) -> bytes:
    """The bytes of a base64 field; InvalidInput naming the field otherwise."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field}: not valid base64") from None


def optional_b64(value: str | None, field: str) -> bytes | None:
    """:func:`from_b64` for an optional field."""
    return None if value is None else from_b64(value, field)


def b64(data: bytes) -> str:
    """Standard base64 text of ``data``."""
    return base64.b64encode(data).decode("ascii")


def require_use(who: Caller, operation: str | None = None) -> None:
    """AccessDenied unless ``who`` holds some ``kms.use`` grant (for ``operation``, if given).

    Checked before a request is parsed further: without any grant, nothing is looked at.
    """
    if not is_allowed(who.principal.grants, Permission.KMS_USE, operation=operation):
        what = f" for {operation!r}" if operation is not None else ""
        raise AccessDenied(f"principal {who.name!r} has no grant for kms.use{what}")


async def key_for_use(
    who: Caller, ref: str, operation: str, *, not_found: CertwardError | None = None
) -> LoadedKey:
    """The key of ``ref`` if ``who`` may use it for ``operation``.

    Without any ``kms.use`` grant for the operation: AccessDenied before anything is
    looked up. A key that does not exist is AccessDenied too unless the grants name
    ``ref`` itself (no probing for key ids); ``not_found`` replaces KmsKeyNotFound.
    """
    grants = who.principal.grants
    require_use(who, operation)
    cache = who.runtime.kms_keys
    key = cache.cached(ref)
    if key is None:
        try:
            key = await blocking(partial(cache.load, ref))
        except KmsKeyNotFound:
            if not may_use_key(grants, Permission.KMS_USE, (ref,), operation=operation):
                raise AccessDenied(
                    f"principal {who.name!r} has no grant for kms.use on {ref!r} for {operation!r}"
                ) from None
            if not_found is not None:
                raise not_found from None
            raise
    authorize_key(who.name, grants, Permission.KMS_USE, key.resources, operation=operation)
    return key


def use_row(
    who: Caller,
    key_id: str,
    operation: str,
    *,
    version: int | None = None,
    error: CertwardError | str | None = None,
    count: int | None = None,
) -> TableRow:
    """The audit row of a use of ``key_id`` by ``who`` (``count`` uses, in a batch)."""
    return key_use_row(
        who.runtime.ctx,
        principal=who.name,
        key_id=key_id,
        key_version=version,
        operation=operation,
        result=error or "ok",
        request_id=who.request_id,
        count=count,
    )


async def audit_uses(who: Caller, rows: Sequence[TableRow]) -> None:
    """Store ``rows`` (in a shared commit) and wait for it without blocking the loop."""
    if not rows:
        return
    for row in rows:
        log_event(row)
    await who.runtime.kms_audit.store(rows)


async def use_key(
    who: Caller,
    ref: str,
    operation: str,
    work: Callable[[LoadedKey], R],
    *,
    not_found: CertwardError | None = None,
) -> R:
    """Run ``work`` with the key of ``ref`` for ``operation``, audited whatever the outcome."""
    key_id = ref
    try:
        key = await key_for_use(who, ref, operation, not_found=not_found)
        key_id = key.key_id
        result = await blocking(partial(work, key)) if runs_long(key, operation) else work(key)
    except CertwardError as exc:
        await audit_uses(who, [use_row(who, key_id, operation, error=exc)])
        raise
    await audit_uses(who, [use_row(who, key_id, operation, version=result.key_version)])
    return result
