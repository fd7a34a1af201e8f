"""The audit trail of key use: who used which key, which version, for what, and how it ended.

Every use is an ``audit_events`` row with action ``kms.<operation>``, target the key
id and details ``{"key_id", "key_version", "operation"}``; the items of one batch
request that share key, version, operation and result are one row with ``"count"``
added. Management calls on a key use the same target, so :func:`key_events` shows
a key's whole history.
"""

from __future__ import annotations

from certward.access.audit import AuditPage, audit_row, query_events
from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow
from certward.errors import CertwardError, InvalidInput
from certward.kms.keys import parse_key_ref

__all__ = ["key_events", "key_use_row"]


def key_use_row(
    ctx: CAContext,
    *,
    principal: str | None,
    key_id: str,
    key_version: int | None,
    operation: str,
    result: str | CertwardError,
    request_id: str | None,
    count: int | None = None,
) -> TableRow:
    """The audit row of a use of a key (``result``: "ok" or the error it ended with).

    count: for a batch, how many of its items this row stands for (same key, version,
    operation and result); it is then recorded in the details.
    """
    details: dict[str, object] = {
        "key_id": key_id,
        "key_version": key_version,
        "operation": operation,
    }
    if count is not None:
        details["count"] = count
    return audit_row(
        ctx,
        principal=principal,
        action=f"kms.{operation}",
        target=key_id,
        result=result.code if isinstance(result, CertwardError) else result,
        request_id=request_id,
        details=details,
    )


def key_events(
    ctx: CAContext, key_id: str, *, limit: int = 100, cursor: str | None = None
) -> AuditPage:
    """The audit events of one key (uses and management), newest first."""
    kind, _ = parse_key_ref(key_id)
    if kind != "id":
        raise InvalidInput("the events of a key are found by its id; resolve the alias first")
    return query_events(ctx, target=key_id, limit=limit, cursor=cursor)
